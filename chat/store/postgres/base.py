"""The PostgreSQL store's base: its pool, and running an asyncio coroutine function with
a connection's worth of capacity (`PostgresBase._call`), with the database's errors
turned into the domain's. Each concern's module (accounts, rooms, support, messages)
adds its methods to it; `chat.store.postgres.store.PostgresStore` is all of them.

Functions named ``_aio_*`` in these modules run on the asyncio loop, called through
`aio_as_trio`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from chat.core.errors import EmailTaken, Gone, NameTaken, RoomNameTaken, Unavailable
from chat.core.records import Message, PoolUsage, Room, User
from chat.store.shared.accounts import user_from_row
from chat.store.shared.measuring import pool_usage
from chat.store.shared.messages import message_from_row
from chat.store.shared.rooms import room_from_row

if TYPE_CHECKING:
    import asyncpg

    from chat.core.observer import Observer

log = logging.getLogger(__name__)


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

# Unique constraints, by the name PostgreSQL gives them, and the domain error for each.
# (users_name_key is the UNIQUE on users.name; the indexes on the name keys are
# `_aio_write_user`'s.)
_UNIQUE_ERRORS: dict[str, Callable[[str], Exception]] = {
    "users_name_key": NameTaken,
    "users_email_key": lambda _name: EmailTaken(),
    "rooms_public_name": RoomNameTaken,
}


def as_is(moment: datetime) -> datetime:
    return moment  # asyncpg already returns aware datetimes for timestamptz


def user_of(row: Any) -> User | None:
    return user_from_row(row, as_is)


def room_of(row: Any) -> Room | None:
    return room_from_row(row, as_is)


def message_of(row: Any) -> Message:
    return message_from_row(row, as_is)


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


def unique_violation(error: Exception, name: str) -> Exception:
    make = _UNIQUE_ERRORS.get(getattr(error, "constraint_name", None) or "")
    return error if make is None else make(name)


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


class PostgresBase:
    """The pool of a PostgreSQL store, what the bus needs of it (its own connections,
    NOTIFY), and the `Operations` role. Create the whole store with
    `open_postgres_store`."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        pool_size: int,
        aio_as_trio: Callable[..., Any],
        lobby_id: int,
        applied: list[str],
        *,
        url: str,
        cluster_id: str,
    ) -> None:
        self._pool = pool
        self._limiter = trio.CapacityLimiter(pool_size)
        self.history_seconds: Observer | None = None
        self._aio_as_trio = aio_as_trio
        self._url = url
        self.lobby_id = lobby_id
        #: Which chat this database is (sql/postgres/0004_cluster.sql): the same for
        #: every instance on it, different for every other chat.
        self.cluster_id = cluster_id
        #: Migrations this process applied when it opened the database.
        self.applied_migrations = applied

    async def _call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run an asyncio coroutine function with a pool connection's worth of capacity.

        Raises `Unavailable` if no connection is free within `ACQUIRE_TIMEOUT_S`, or if
        the database is away (see `_database_away`); any other error is the caller's.
        """
        import asyncpg

        # A free connection and nobody queued before us (acquire_nowait refuses when
        # someone waits, so the queue stays first come first served): take it without a
        # checkpoint, which would cost a pass of Trio's scheduler. The crossing below
        # is the checkpoint: a cancellation already pending cancels the asyncio task
        # before it starts, and `finally` gives the token back.
        try:
            self._limiter.acquire_nowait()
        except trio.WouldBlock:
            await self._wait_for_capacity()
        try:
            result: T = await self._aio_as_trio(fn)(*args)
            return result
        except database_away() as error:
            raise unavailable(describe(error)) from error
        except asyncpg.ForeignKeyViolationError:
            # A user or room deleted while a request referring to it was under way.
            raise Gone() from None
        finally:
            self._limiter.release()

    async def _wait_for_capacity(self) -> None:
        """Queue for a connection's worth of capacity, or raise `Unavailable`."""
        # Waiting for a connection is bounded: if every one is stuck in a statement the
        # server does not answer, later callers are told so instead of queueing forever.
        # A cancelled `acquire` holds no token, so there is nothing to give back here.
        with trio.move_on_after(ACQUIRE_TIMEOUT_S) as waiting:
            await self._limiter.acquire()
        if waiting.cancelled_caught:
            raise unavailable(f"no connection free within {ACQUIRE_TIMEOUT_S} s")

    def pool_usage(self) -> PoolUsage:
        # The limiter, not asyncpg's pool: it is what callers queue on (see `_call`).
        return pool_usage(self._limiter)

    async def _fetchval(self, sql: str, *args: Any) -> Any:
        """One value from an arbitrary query. For diagnostics and tests only."""
        return await self._call(self._pool.fetchval, sql, *args)

    @property
    def aio_as_trio(self) -> Callable[..., Any]:
        """trio-asyncio's bridge into the store's asyncio loop (for the bus's listener)."""
        return self._aio_as_trio

    async def connect(self, *, application_name: str) -> asyncpg.Connection:
        """A connection of its own, outside the pool, for a long-lived job (the bus's
        LISTEN); `application_name` names it in pg_stat_activity. The caller closes it."""
        import asyncpg

        with unavailable_on(connect_errors(), "cannot connect to PostgreSQL"):
            return await self._aio_as_trio(asyncpg.connect)(
                self._url,
                timeout=CONNECT_TIMEOUT_S,
                server_settings={"application_name": application_name},
            )

    async def notify(self, channel: str, payload: str) -> None:
        """NOTIFY `channel` with `payload` (at most 8000 bytes), through the pool."""
        await self._call(self._pool.execute, "SELECT pg_notify($1, $2)", channel, payload)

    async def ping(self) -> None:
        # A real table, so the check fails when the schema is unreadable or locked.
        await self._call(self._pool.fetchval, "SELECT id FROM rooms WHERE kind = 'lobby'")
