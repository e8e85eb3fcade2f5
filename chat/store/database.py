"""The small interface every storage operation is written against, once for both engines.

An operation is an ``async def`` taking a `Connection` (and its own arguments). On
PostgreSQL it runs on the asyncio loop, each call awaiting asyncpg; on SQLite the whole
function runs in the database's worker thread, driven by a runner that never suspends
(sqlite3 calls return at once), so either way one operation is one crossing: one bridge
call into asyncio, or one thread hop. `Database.run` and `Database.transaction` run an
operation; `Database.fetch` and its siblings run one statement without a function.

SQL is written with PostgreSQL's numbered placeholders (``$1``, ``$2``); the SQLite
connection turns them into SQLite's numbered ones (``?1``, ``?2``). Everything else that
differs between the engines is a member of `chat.store.dialect.Dialect`.

Errors: a unique constraint that refuses a write raises `UniqueViolation` on both
engines; a statement stopped by `Connection.time_limit` raises `StatementTimeout`; a
foreign key that no longer holds raises `chat.core.errors.Gone`; a database
that cannot serve now raises `chat.core.errors.Unavailable` (each engine decides which of
its errors mean that).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar

from chat.core.records import PoolUsage

if TYPE_CHECKING:
    from chat.store.dialect import Dialect

T = TypeVar("T")
P = ParamSpec("P")

#: Larger than any id: the upper bound of a range that has none.
NO_UPPER_BOUND = 2**63 - 1


class Row(Protocol):
    """A result row: sqlite3.Row and asyncpg.Record both index by column name and number."""

    def __getitem__(self, key: str | int, /) -> Any: ...

    def keys(self) -> Any: ...


class UniqueViolation(Exception):
    """A write refused by a unique constraint or index, on either engine.

    `columns` names what was taken as ``table.column`` (``("users.name",)``): SQLite
    says so in its message; PostgreSQL's error is read for its table and key."""

    def __init__(self, columns: Sequence[str], detail: str) -> None:
        super().__init__(detail)
        self.columns = tuple(columns)

    def on(self, column: str) -> bool:
        """Whether `column` (``table.column``) is among what was taken."""
        return column in self.columns


class StatementTimeout(Exception):
    """A statement the database stopped because its block's `Connection.time_limit`
    had passed; the connection is usable after it (its transaction is rolled back)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"stopped after {seconds:g} s")
        self.seconds = seconds


class Connection(Protocol):
    """One database connection, as an operation sees it. Every method is a coroutine so
    that one operation serves both engines; on SQLite none of them suspends."""

    @property
    def dialect(self) -> Dialect: ...

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; the number of rows it changed."""

    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None:
        """Run a statement once per sequence of arguments."""

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """The first column of the first row, or None when there is no row."""

    def transaction(self, *, readonly: bool = False) -> AbstractAsyncContextManager[None]:
        """A transaction for the block: committed when it ends, rolled back if it raises.

        A writing transaction takes SQLite's write lock at once (BEGIN IMMEDIATE), so
        what it reads stays true until it commits. ``readonly`` is a snapshot: every
        statement of the block sees the database at the same moment. Not nested."""

    def time_limit(self, seconds: float) -> AbstractAsyncContextManager[None]:
        """Stop the block's statements past `seconds`, raising `StatementTimeout`: on
        SQLite the block's statements together (a progress handler, checked every few
        thousand steps of SQLite's machine), on PostgreSQL each statement
        (``SET LOCAL statement_timeout``). Only inside `transaction`, and the
        transaction ends with the block's error: the connection is usable after."""


#: An operation: a coroutine function taking a connection first.
Operation = Callable[Concatenate[Connection, P], Coroutine[Any, Any, T]]


class Database(Protocol):
    """An engine's pool of connections, and running operations on them."""

    @property
    def dialect(self) -> Dialect: ...

    async def run(self, operation: Operation[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`operation` on a connection of the pool, outside any transaction (it may open
        its own: `Connection.transaction`)."""

    async def transaction(self, operation: Operation[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`operation` on a connection of the pool, in one writing transaction."""

    async def execute(self, sql: str, *args: Any) -> int: ...

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...

    async def fetchval(self, sql: str, *args: Any) -> Any: ...

    def pool_usage(self) -> PoolUsage:
        """How many of its connections are in use now. Never waits."""
