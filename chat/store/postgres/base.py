"""The PostgreSQL store's base: its pool, and running an asyncio coroutine function with
a connection's worth of capacity (`PostgresBase._call`), with the database's errors
turned into the domain's. Each concern's module (accounts, rooms, support, messages)
adds its methods to it; `chat.store.postgres.store.PostgresStore` is all of them.

Functions named ``_aio_*`` in these modules run on the asyncio loop, called through
`aio_as_trio`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from chat.core.errors import EmailTaken, NameTaken
from chat.core.records import Message
from chat.store.base import StoreBase
from chat.store.postgres import engine
from chat.store.postgres.engine import (  # noqa: F401 (the names concerns import from here)
    PostgresDatabase,
    connect_errors,
    database_away,
    describe,
    unavailable,
    unavailable_on,
)
from chat.store.shared.messages import message_from_row

if TYPE_CHECKING:
    import asyncpg


log = logging.getLogger(__name__)


T = TypeVar("T")

# Unique constraints, by the name PostgreSQL gives them, and the domain error for each.
# (users_name_key is the UNIQUE on users.name.)
_UNIQUE_ERRORS: dict[str, Callable[[str], Exception]] = {
    "users_name_key": NameTaken,
    "users_email_key": lambda _name: EmailTaken(),
}


def as_is(moment: datetime) -> datetime:
    return moment  # asyncpg already returns aware datetimes for timestamptz


def message_of(row: Any) -> Message:
    return message_from_row(row, as_is)


def unique_violation(error: Exception, name: str) -> Exception:
    make = _UNIQUE_ERRORS.get(getattr(error, "constraint_name", None) or "")
    return error if make is None else make(name)


class PostgresBase(StoreBase):
    """The pool of a PostgreSQL store, what the bus needs of it (its own connections,
    NOTIFY), and `_call` for the concerns not yet written once. Create the whole store
    with `open_postgres_store`."""

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
        super().__init__(
            PostgresDatabase(pool, pool_size, aio_as_trio), lobby_id=lobby_id, applied=applied
        )
        self._pool = pool
        self._aio_as_trio = aio_as_trio
        self._url = url
        #: Which chat this database is (sql/postgres/0004_cluster.sql): the same for
        #: every instance on it, different for every other chat.
        self.cluster_id = cluster_id

    async def _call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run an asyncio coroutine function with a pool connection's worth of capacity
        (`PostgresDatabase.call`)."""
        db = cast(PostgresDatabase, self.db)
        result: T = await db.call(fn, *args)
        return result

    async def _fetchval(self, sql: str, *args: Any) -> Any:
        """One value from an arbitrary query. For diagnostics and tests only."""
        return await self.db.fetchval(sql, *args)

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
                timeout=engine.CONNECT_TIMEOUT_S,
                server_settings={"application_name": application_name},
            )

    async def notify(self, channel: str, payload: str) -> None:
        """NOTIFY `channel` with `payload` (at most 8000 bytes), through the pool."""
        await self.db.execute("SELECT pg_notify($1, $2)", channel, payload)
