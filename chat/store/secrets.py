"""The secrets a PostgreSQL cluster shares (`server_secrets`, sql/postgres/0020): the JWT
signing key (`chat.app.accounts.signing_key`). PostgreSQL only: `StoredSecrets` is a
mixin of `PostgresStore` alone; a SQLite store keeps its secret in the data directory."""

from __future__ import annotations

from chat.store.base import StoreBase
from chat.store.database import Connection

_STORE = "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING"
_READ = "SELECT value FROM server_secrets WHERE name = $1"


async def _shared(conn: Connection, name: str, generated: str) -> str:
    # Insert-if-none then read back: of instances racing at first start, the first
    # insert wins and every one of them reads that same value.
    await conn.execute(_STORE, name, generated)
    return str(await conn.fetchval(_READ, name))


class StoredSecrets(StoreBase):
    """Secrets kept once per database, so that every instance on it agrees."""

    async def stored_secret(self, name: str) -> str | None:
        value = await self.db.fetchval(_READ, name)
        return None if value is None else str(value)

    async def shared_secret(self, name: str, generated: str) -> str:
        """The secret stored under `name`: `generated` if none was stored yet (it is then
        stored), else the one stored first. Safe when instances race."""
        return await self.db.run(_shared, name, generated)
