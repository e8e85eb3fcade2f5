"""The PostgreSQL engine: a `Connection` over asyncpg for the operations written once
(`chat.store.database`), and `PostgresDatabase`, which runs an operation on the asyncio
loop, in one bridge crossing however many statements it runs, with a pool connection's
worth of capacity and the database's errors turned into the domain's (the package's
docstring says which, and how every wait is bounded)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from chat.core.errors import Gone, Unavailable
from chat.core.records import PoolUsage
from chat.store.connection_slots import ConnectionSlots
from chat.store.database import Connection, Operation, Row, StatementTimeout, UniqueViolation
from chat.store.dialect import POSTGRES, Dialect
from chat.store.postgres.pool import ConnectionPool

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger("chat.store.postgres")

T = TypeVar("T")

#: The longest a caller waits for a free connection of the pool before it is told the
#: database is unavailable (every connection is busy with statements that do not finish).
ACQUIRE_TIMEOUT_S = 10.0
#: The longest opening a connection may take.
CONNECT_TIMEOUT_S = 10.0
#: The longest one statement may run, and a connection take to be cancelled or reset
#: (asyncpg's ``command_timeout``). Migrations have no limit: they run on a connection of
#: their own, and one on a big table may take minutes.
QUERY_TIMEOUT_S = 15.0
#: How long a statement given up on may take to be cancelled and its connection cleaned
#: up before the connection is dropped instead (`PostgresConnection`).
CANCEL_GRACE_S = 1.0


def database_away() -> tuple[type[BaseException], ...]:
    """The errors that mean "the database cannot serve now", not "this request is wrong"."""
    import asyncpg

    return (
        # Refused, reset or unreachable; TimeoutError (a connection or a statement that
        # took too long: CONNECT_TIMEOUT_S, QUERY_TIMEOUT_S) is an OSError too.
        OSError,
        # Class 08: the connection failed or is gone (ConnectionDoesNotExistError).
        asyncpg.PostgresConnectionError,
        # Class 57: the server is shutting down (57P01 AdminShutdownError, 57P02
        # CrashShutdownError), starting up or recovering (57P03 CannotConnectNowError),
        # or an operator cancelled the statement (57014).
        asyncpg.OperatorInterventionError,
        # Class 53: too many connections (53300), disk full, out of memory.
        asyncpg.InsufficientResourcesError,
        # Class 58: an I/O error on the server.
        asyncpg.PostgresSystemError,
        # The client's side of a lost connection ("connection is closed").
        asyncpg.InterfaceError,
        # A connection the server ended between two calls: asyncpg may read the server's
        # last word (57P01, "terminating connection") before it sees the socket close,
        # and then refuses the next statement with "cannot switch to state ...".
        asyncpg.InternalClientError,
    )


def describe(error: BaseException) -> str:
    """What went wrong, for the log: the server's message and its SQLSTATE if any."""
    text = str(error) or ("no answer in time" if isinstance(error, TimeoutError) else "")
    sqlstate = getattr(error, "sqlstate", None)
    kind = type(error).__name__
    return f"{text} ({kind}, SQLSTATE {sqlstate})" if sqlstate else f"{text} ({kind})"


def unavailable(detail: str) -> Unavailable:
    """The error a client gets, the cause logged once (WARNING: an outage, not a bug)."""
    log.warning("database unavailable: %s", detail)
    return Unavailable(detail=detail)


def connect_errors() -> tuple[type[BaseException], ...]:
    """What connecting can fail with: the database being away, and also a wrong password,
    a database that does not exist, and so on (none of them a bug in this program)."""
    import asyncpg

    return (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


@contextmanager
def unavailable_on(errors: tuple[type[BaseException], ...], doing: str) -> Iterator[None]:
    """Turn `errors` into `Unavailable`, saying what failed: for opening connections,
    where the message is for the operator (`chat serve` prints it and exits)."""
    try:
        yield
    except errors as error:
        raise Unavailable(f"{doing}: {describe(error)}") from None


_KEY = re.compile(r"Key \((.+?)\)=")


def _unique_violation(error: Any) -> UniqueViolation:
    """asyncpg's UniqueViolationError as the store's: ``table.column`` for each column of
    the key its detail names (an index on an expression names the index instead)."""
    table = getattr(error, "table_name", None) or ""
    match = _KEY.match(getattr(error, "detail", None) or "")
    if match is None:
        columns = [str(getattr(error, "constraint_name", None) or "")]
    else:
        columns = [f"{table}.{column.strip()}" for column in match.group(1).split(",")]
    return UniqueViolation(columns, str(error))


async def _unique_mapped(statement: Awaitable[T]) -> T:
    """`statement`'s result, a unique violation raised as the store's `UniqueViolation`
    (so that an operation can catch it, on either engine, inside its transaction)."""
    import asyncpg

    try:
        return await statement
    except asyncpg.UniqueViolationError as error:
        raise _unique_violation(error) from error


def _rowcount(status: str) -> int:
    """The row count of a command status ("UPDATE 3", "INSERT 0 1"); 0 for none."""
    last = status.rpartition(" ")[2]
    return int(last) if last.isdigit() else 0


class PostgresConnection:
    """`chat.store.database.Connection` over one asyncpg connection, on the asyncio loop.

    A statement given up on (it timed out, ``command_timeout``, or Trio cancelled it: a
    commit's own bound, a client gone, shutdown) is cancelled on the server by asyncpg,
    which then rolls its transaction back, and the pool resets the connection before
    lending it again, waiting on the server each time. A server that answers nothing (a
    partition, a frozen machine) made that take up to three statement timeouts. So that
    clean-up gets `CANCEL_GRACE_S`; past it the connection is dropped (`dropped`), which
    ends every wait on it at once, and the pool opens a new one in its place."""

    __slots__ = ("_dropping", "dropped", "raw")

    def __init__(self, raw: asyncpg.Connection) -> None:
        self.raw = raw
        #: Why the connection was dropped, if it was: what the caller is told.
        self.dropped: BaseException | None = None
        self._dropping: asyncio.TimerHandle | None = None

    @property
    def dialect(self) -> Dialect:
        return POSTGRES

    async def _statement(self, statement: Awaitable[T]) -> T:
        try:
            return await _unique_mapped(statement)
        except (asyncio.CancelledError, TimeoutError) as error:
            if self._dropping is None:
                loop = asyncio.get_running_loop()
                self._dropping = loop.call_later(CANCEL_GRACE_S, self._drop, error)
            raise

    def _drop(self, error: BaseException) -> None:
        """The clean-up after `error` is still waiting for the server: give up on it."""
        self.dropped = error
        self.raw.terminate()
        log.warning("dropping a connection the database does not answer: %s", describe(error))

    def released(self) -> None:
        """Done with, before the pool lends the connection again: nothing of ours to
        drop any more (so a drop never reaches the connection's next user)."""
        if self._dropping is not None:
            self._dropping.cancel()

    async def execute(self, sql: str, *args: Any) -> int:
        return _rowcount(await self._statement(self.raw.execute(sql, *args)))

    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None:
        await self._statement(self.raw.executemany(sql, args))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        rows: list[Row] = await self._statement(self.raw.fetch(sql, *args))
        return rows

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row: Row | None = await self._statement(self.raw.fetchrow(sql, *args))
        return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._statement(self.raw.fetchval(sql, *args))

    @asynccontextmanager
    async def transaction(self, *, readonly: bool = False) -> AsyncIterator[None]:
        import asyncpg

        # A snapshot: repeatable read, so every statement sees the same moment.
        isolation = "repeatable_read" if readonly else None
        try:
            async with self.raw.transaction(isolation=isolation, readonly=readonly):
                yield
        except asyncpg.InterfaceError:
            # The transaction's end found the connection dropped: the reason it was
            # dropped (a cancellation, a timeout) is what happened.
            if self.dropped is None:
                raise
            raise self.dropped from None

    @asynccontextmanager
    async def time_limit(self, seconds: float) -> AsyncIterator[None]:
        import asyncpg

        # SET LOCAL: the limit ends with the transaction, so the pool's next user of
        # this connection has none. The server stops the statement itself (57014),
        # whatever the client does; the transaction is rolled back as the error leaves it.
        await self.raw.execute(f"SET LOCAL statement_timeout = {max(1, round(seconds * 1000))}")
        try:
            yield
        except asyncpg.QueryCanceledError:
            raise StatementTimeout(seconds) from None


async def _aio_run(pool: ConnectionPool, operation: Operation[..., T], args: Any, kwargs: Any) -> T:
    connection = PostgresConnection(await pool.acquire())
    clean = False
    try:
        result = await operation(connection, *args, **kwargs)
        clean = True
        return result
    except (asyncio.CancelledError, TimeoutError):
        raise  # a statement given up on: its cancellation may still be under way
    except BaseException:
        clean = True  # the server answered (an error): the connection is as it was
        raise
    finally:
        # The reset of an unclean connection waits for the server (the drop bounds it);
        # trio-asyncio waits for this task to end before the cancelled caller resumes.
        await pool.release(connection.raw, clean=clean, before_reuse=connection.released)


async def _in_transaction(
    connection: Connection, operation: Operation[..., T], /, *args: Any, **kwargs: Any
) -> T:
    async with connection.transaction():
        return await operation(connection, *args, **kwargs)


async def _aio_transaction(
    pool: ConnectionPool, operation: Operation[..., T], args: Any, kwargs: Any
) -> T:
    return await _aio_run(pool, _in_transaction, (operation, *args), kwargs)


async def _execute(connection: Connection, sql: str, /, *args: Any) -> int:
    return await connection.execute(sql, *args)


async def _fetch(connection: Connection, sql: str, /, *args: Any) -> list[Row]:
    return await connection.fetch(sql, *args)


async def _fetchrow(connection: Connection, sql: str, /, *args: Any) -> Row | None:
    return await connection.fetchrow(sql, *args)


async def _fetchval(connection: Connection, sql: str, /, *args: Any) -> Any:
    return await connection.fetchval(sql, *args)


class PostgresDatabase:
    """`chat.store.database.Database` on a pool of asyncpg connections, driven from Trio.

    Fairness: tokens for the pool's connections sit in front of it (`ConnectionSlots`,
    one held back for the message lane), so callers queue in Trio, first come first
    served, and the pool (`chat.store.postgres.pool`) never has more callers than
    connections."""

    def __init__(self, pool: ConnectionPool, aio_as_trio: Callable[..., Any]):
        self.pool = pool
        self._slots = ConnectionSlots(pool.size)
        self.aio_as_trio = aio_as_trio

    @property
    def dialect(self) -> Dialect:
        return POSTGRES

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run an asyncio coroutine function with a pool connection's worth of capacity.

        Raises `Unavailable` if no connection is free within `ACQUIRE_TIMEOUT_S`, or if
        the database is away (`database_away`); a foreign key that no longer holds raises
        `Gone`; any other error is the caller's.
        """
        import asyncpg

        # A free connection and nobody queued before us (take_nowait refuses when
        # someone waits, so the queue stays first come first served): take it without a
        # checkpoint, which would cost a pass of Trio's scheduler. The crossing below
        # is the checkpoint: a cancellation already pending cancels the asyncio task
        # before it starts, and `finally` gives the token back.
        try:
            limiter = self._slots.take_nowait()
        except trio.WouldBlock:
            limiter = await self._wait_for_capacity()
        try:
            return await self.aio_as_trio(fn)(*args)
        except database_away() as error:
            raise unavailable(describe(error)) from error
        except asyncpg.ForeignKeyViolationError:
            # A user or room deleted while a request referring to it was under way.
            raise Gone() from None
        except asyncpg.UniqueViolationError as error:
            raise _unique_violation(error) from error
        finally:
            limiter.release()

    async def _wait_for_capacity(self) -> trio.CapacityLimiter:
        """Queue for a connection's worth of capacity, or raise `Unavailable`."""
        # Waiting for a connection is bounded: if every one is stuck in a statement the
        # server does not answer, later callers are told so instead of queueing forever.
        # A cancelled `acquire` holds no token, so there is nothing to give back here.
        with trio.move_on_after(ACQUIRE_TIMEOUT_S):
            return await self._slots.take()
        raise unavailable(f"no connection free within {ACQUIRE_TIMEOUT_S} s")

    async def run(self, operation: Operation[..., T], *args: Any, **kwargs: Any) -> T:
        result: T = await self.call(_aio_run, self.pool, operation, args, kwargs)
        return result

    async def transaction(self, operation: Operation[..., T], *args: Any, **kwargs: Any) -> T:
        result: T = await self.call(_aio_transaction, self.pool, operation, args, kwargs)
        return result

    # One statement, through a `PostgresConnection` like every operation, so that giving
    # up on it drops its connection too.
    async def execute(self, sql: str, *args: Any) -> int:
        return await self.run(_execute, sql, *args)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self.run(_fetch, sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        return await self.run(_fetchrow, sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self.run(_fetchval, sql, *args)

    def pool_usage(self) -> PoolUsage:
        # The tokens, not the pool: they are what callers queue on (see `call`).
        return self._slots.usage()
