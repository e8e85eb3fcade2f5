"""The SQLite engine: its connections, a `Connection` over sqlite3 for the operations
written once (`chat.store.database`), and `SQLiteDatabase`, which runs an operation in a
worker thread on an idle connection with SQLite's errors turned into the domain's.

An operation is a coroutine function; here it runs to completion in the worker thread
(`run_to_completion`): every sqlite3 call returns at once, so the coroutine never
suspends, and a transaction of many statements is one thread hop.

Error handling: a database that cannot serve now (locked by another connection for
longer than `BUSY_TIMEOUT_S`, a disk I/O error, a full disk, a file that cannot be
opened) raises `Unavailable`, with the cause in its `detail` and in a WARNING; any other
SQLite error (a wrong statement) is a bug and propagates as it is.

Cancellation: a thread cannot be interrupted, so a cancelled call waits for its
operation to finish (as `trio.to_thread.run_sync` does by default) and the cancellation
is raised at the caller's next checkpoint; the connection goes back to the pool with no
transaction open either way.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import trio

from chat.core.errors import Gone, Unavailable
from chat.core.records import PoolUsage
from chat.store.connection_slots import ConnectionSlots
from chat.store.database import Operation, Row, StatementTimeout, UniqueViolation
from chat.store.dialect import SQLITE, Dialect

log = logging.getLogger("chat.store.sqlite")

T = TypeVar("T")

#: How long a connection waits for another connection's write lock before failing
#: (read when a connection is opened; tests make it short).
BUSY_TIMEOUT_S = 30.0

#: SQLite's primary result codes (https://www.sqlite.org/rescode.html) that mean "the
#: database cannot serve now", not "this statement is wrong", and what each means.
_UNAVAILABLE_CODES = {
    sqlite3.SQLITE_BUSY: "the database is locked by another connection",
    sqlite3.SQLITE_LOCKED: "a table is locked by another statement",
    sqlite3.SQLITE_NOMEM: "SQLite ran out of memory",
    sqlite3.SQLITE_READONLY: "the database file cannot be written",
    sqlite3.SQLITE_IOERR: "the database file cannot be read or written (disk I/O error)",
    sqlite3.SQLITE_CORRUPT: "the database file is corrupt",
    sqlite3.SQLITE_FULL: "the disk holding the database is full",
    sqlite3.SQLITE_CANTOPEN: "the database file cannot be opened",
    sqlite3.SQLITE_NOTADB: "the database file is not a SQLite database",
}


def unavailable_detail(error: sqlite3.Error) -> str | None:
    """What an error says about the database, if it means the database cannot serve now
    (None for a statement that is wrong, which is a bug)."""
    code: int | None = getattr(error, "sqlite_errorcode", None)
    primary = None if code is None else code & 0xFF
    meaning = None if primary is None else _UNAVAILABLE_CODES.get(primary)
    if meaning is None:
        return None
    if primary == sqlite3.SQLITE_BUSY:
        meaning += f" (waited {BUSY_TIMEOUT_S:g} s)"
    return f"{meaning}: {error} ({error.sqlite_errorname})"


#: How many steps of SQLite's virtual machine run between two looks at the clock of a
#: `SQLiteConnection.time_limit` (each step is well under a microsecond; a look at the
#: clock is a call into Python, about one).
PROGRESS_STEPS = 10_000


#: A function every connection has: whether a text contains a word already case-folded,
#: compared as Python folds case (the search's words of one or two characters, which
#: the trigram index cannot find: chat/store/search.py).
CONTAINS_FOLDED = "chat_contains_folded"


def _contains_folded(text: str | None, folded_word: str) -> bool:
    return text is not None and folded_word in text.casefold()


def open_connection(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode = WAL")
    # WAL + NORMAL: a commit survives a crash of this process; only a power loss can
    # roll back the very last transactions. The file is never corrupted either way.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.create_function(CONTAINS_FOLDED, 2, _contains_folded, deterministic=True)
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection, begin: str = "BEGIN IMMEDIATE") -> Iterator[None]:
    """`begin` ... COMMIT, or ROLLBACK on any error, a failed COMMIT included: the
    connection is never left inside a transaction."""
    conn.execute(begin)
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        # After some errors (a full disk, an I/O error) SQLite has rolled back already,
        # and a ROLLBACK would fail and hide the error that matters.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


_PLACEHOLDER = re.compile(r"\$(\d+)")
#: SQL as written (``$1``) -> SQL as SQLite takes it (``?1``). The statements are the
#: program's own, a bounded set (a few hundred strings).
_TRANSLATED: dict[str, str] = {}


def sqlite_sql(sql: str) -> str:
    """`sql` with PostgreSQL's placeholders (``$1``) turned into SQLite's (``?1``)."""
    translated = _TRANSLATED.get(sql)
    if translated is None:
        translated = _TRANSLATED[sql] = _PLACEHOLDER.sub(r"?\1", sql)
    return translated


_UNIQUE_FAILED = "UNIQUE constraint failed: "


def _unique_violation(error: sqlite3.IntegrityError) -> UniqueViolation | None:
    text = str(error)
    if not text.startswith(_UNIQUE_FAILED):
        return None
    columns = [part.strip() for part in text.removeprefix(_UNIQUE_FAILED).split(",")]
    return UniqueViolation(columns, text)


class SQLiteConnection:
    """`chat.store.database.Connection` over one sqlite3 connection, for the worker
    thread that holds it. Its coroutines never suspend."""

    __slots__ = ("raw",)

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    @property
    def dialect(self) -> Dialect:
        return SQLITE

    def _cursor(self, sql: str, args: Sequence[Any], *, many: bool = False) -> sqlite3.Cursor:
        try:
            if many:
                return self.raw.executemany(sqlite_sql(sql), args)
            return self.raw.execute(sqlite_sql(sql), args)
        except sqlite3.IntegrityError as error:
            unique = _unique_violation(error)
            if unique is None:
                raise
            raise unique from error

    async def execute(self, sql: str, *args: Any) -> int:
        return self._cursor(sql, args).rowcount

    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None:
        self._cursor(sql, list(args), many=True)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return self._cursor(sql, args).fetchall()

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row: Row | None = self._cursor(sql, args).fetchone()
        return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = self._cursor(sql, args).fetchone()
        return None if row is None else row[0]

    @asynccontextmanager
    async def transaction(self, *, readonly: bool = False) -> AsyncIterator[None]:
        # A deferred BEGIN reads one snapshot (WAL); IMMEDIATE takes the write lock now.
        with transaction(self.raw, "BEGIN" if readonly else "BEGIN IMMEDIATE"):
            yield

    @asynccontextmanager
    async def time_limit(self, seconds: float) -> AsyncIterator[None]:
        # SQLite calls the handler every PROGRESS_STEPS steps; a true answer interrupts
        # the statement (SQLITE_INTERRUPT). The handler is removed before the
        # transaction's ROLLBACK runs (this block is inside it), or the ROLLBACK
        # would be interrupted too and leave the transaction open.
        deadline = time.monotonic() + seconds
        self.raw.set_progress_handler(lambda: time.monotonic() > deadline, PROGRESS_STEPS)
        try:
            yield
        except sqlite3.OperationalError as error:
            if getattr(error, "sqlite_errorcode", None) != sqlite3.SQLITE_INTERRUPT:
                raise
            raise StatementTimeout(seconds) from None
        finally:
            self.raw.set_progress_handler(None, 0)


def run_to_completion(coroutine: Coroutine[Any, Any, T]) -> T:
    """The result of `coroutine`, which must finish without suspending (every await in
    it is a `SQLiteConnection` call, which returns at once)."""
    try:
        coroutine.send(None)
    except StopIteration as finished:
        result: T = finished.value
        return result
    coroutine.close()
    raise RuntimeError("an operation on SQLite awaited something that suspends")


def _wait_for_the_thread(_raise_cancel: object) -> trio.lowlevel.Abort:
    """A cancelled caller goes on waiting: its operation runs on in the thread."""
    return trio.lowlevel.Abort.FAILED


async def in_worker_thread(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in one of Trio's cached worker threads, and its result (or error) once
    it has finished: `trio.to_thread.run_sync` without what the store does not use (the
    caller's context variables, `trio.from_thread`, a limiter of its own: the connection
    slots bound the threads, and an OS thread name set for every call). Every commit
    crosses here, so at low rates that is a measurable share of a message's CPU."""
    await trio.lowlevel.checkpoint_if_cancelled()
    task = trio.lowlevel.current_task()
    token = trio.lowlevel.current_trio_token()

    def deliver(result: Any) -> None:
        # In the worker thread. The task is still waiting (it cannot give up the wait),
        # so the run is still on: its token takes the hand-back.
        token.run_sync_soon(trio.lowlevel.reschedule, task, result)

    trio.lowlevel.start_thread_soon(partial(fn, *args), deliver)
    result: T = await trio.lowlevel.wait_task_rescheduled(_wait_for_the_thread)
    return result


class SQLiteDatabase:
    """`chat.store.database.Database` on a pool of connections to one SQLite file; the
    file is opened, migrated and closed by `chat.store.sqlite.opening`."""

    def __init__(self, connections: list[sqlite3.Connection]) -> None:
        self._idle = [SQLiteConnection(conn) for conn in connections]
        # One token per connection: holding a token means one idle connection is ours
        # (one is held back for the message lane: `ConnectionSlots`).
        self._slots = ConnectionSlots(len(connections))

    @property
    def dialect(self) -> Dialect:
        return SQLITE

    async def _in_thread(self, fn: Any, *args: Any) -> Any:
        """`fn(connection, *args)` on an idle connection, in a worker thread; raises
        `Gone` for a foreign key that no longer holds and `Unavailable` for a database
        that cannot serve now."""
        limiter = await self._slots.take()
        try:
            conn = self._idle.pop()
            try:
                return await in_worker_thread(fn, conn, *args)
            except sqlite3.IntegrityError as error:
                # A user or room deleted while a request referring to it was under way.
                if "FOREIGN KEY" in str(error):
                    raise Gone() from None
                raise
            except sqlite3.Error as error:
                # Locked for too long, disk full, file gone: not a bug in the request.
                detail = unavailable_detail(error)
                if detail is None:
                    raise
                log.warning("database unavailable: %s", detail)
                raise Unavailable(detail=detail) from error
            finally:
                # Reached after the thread has finished, even when cancelled: the
                # connection is idle again and its last transaction is closed.
                self._idle.append(conn)
        finally:
            limiter.release()

    async def run(self, operation: Operation[..., T], *args: Any, **kwargs: Any) -> T:
        def call(conn: SQLiteConnection) -> T:
            return run_to_completion(operation(conn, *args, **kwargs))

        result: T = await self._in_thread(call)
        return result

    async def transaction(self, operation: Operation[..., T], *args: Any, **kwargs: Any) -> T:
        def call(conn: SQLiteConnection) -> T:
            with transaction(conn.raw):
                return run_to_completion(operation(conn, *args, **kwargs))

        result: T = await self._in_thread(call)
        return result

    async def execute(self, sql: str, *args: Any) -> int:
        result: int = await self._in_thread(lambda conn: conn._cursor(sql, args).rowcount)
        return result

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        result: list[Row] = await self._in_thread(lambda conn: conn._cursor(sql, args).fetchall())
        return result

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        result: Row | None = await self._in_thread(lambda conn: conn._cursor(sql, args).fetchone())
        return result

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]

    def pool_usage(self) -> PoolUsage:
        # In use: a worker thread is running a statement on that connection.
        return self._slots.usage()
