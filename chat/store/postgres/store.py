"""`PostgresStore`: every role on PostgreSQL (`DatabaseStore`), the secrets a cluster
shares (`StoredSecrets`), and what the bus on PostgreSQL needs of the store: connections
of its own for LISTEN, NOTIFY through the pool, the bridge into asyncio, and which chat
the database is."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chat.store.database_store import DatabaseStore
from chat.store.postgres import engine
from chat.store.postgres.engine import PostgresDatabase, connect_errors, unavailable_on
from chat.store.secrets import StoredSecrets

if TYPE_CHECKING:
    import asyncpg


class PostgresStore(DatabaseStore, StoredSecrets):
    """`Store` on PostgreSQL. Create it with `open_postgres_store`."""

    def __init__(
        self,
        db: PostgresDatabase,
        *,
        lobby_id: int,
        applied: list[str],
        url: str,
        cluster_id: str,
    ) -> None:
        super().__init__(db, lobby_id=lobby_id, applied=applied)
        self._url = url
        #: Which chat this database is (sql/postgres/0004_cluster.sql): the same for
        #: every instance on it, different for every other chat.
        self.cluster_id = cluster_id
        #: trio-asyncio's bridge into the store's asyncio loop (for the bus's listener).
        self.aio_as_trio: Callable[..., Any] = db.aio_as_trio

    async def connect(self, *, application_name: str) -> asyncpg.Connection:
        """A connection of its own, outside the pool, for a long-lived job (the bus's
        LISTEN); `application_name` names it in pg_stat_activity. The caller closes it."""
        import asyncpg

        with unavailable_on(connect_errors(), "cannot connect to PostgreSQL"):
            return await self.aio_as_trio(asyncpg.connect)(
                self._url,
                timeout=engine.CONNECT_TIMEOUT_S,
                server_settings={"application_name": application_name},
            )

    async def notify(self, channel: str, payload: str) -> None:
        """NOTIFY `channel` with `payload` (at most 8000 bytes), through the pool."""
        await self.db.execute("SELECT pg_notify($1, $2)", channel, payload)
