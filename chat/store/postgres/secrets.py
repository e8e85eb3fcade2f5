"""The secrets a PostgreSQL cluster shares (`server_secrets`): the JWT signing key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chat.store.postgres.base import PostgresBase

if TYPE_CHECKING:
    import asyncpg

_STORE_SQL = "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING"
_READ_SQL = "SELECT value FROM server_secrets WHERE name = $1"


async def _aio_shared(pool: asyncpg.Pool, name: str, generated: str) -> str:
    async with pool.acquire() as conn:
        # Insert-if-none then read back: of instances racing at first start, the first
        # insert wins and every one of them reads that same value.
        await conn.execute(_STORE_SQL, name, generated)
        return str(await conn.fetchval(_READ_SQL, name))


class PostgresSecrets(PostgresBase):
    """Secrets kept once per database, so that every instance on it agrees."""

    async def stored_secret(self, name: str) -> str | None:
        """The secret stored under `name`, or None."""
        value = await self._call(self._pool.fetchval, _READ_SQL, name)
        return None if value is None else str(value)

    async def shared_secret(self, name: str, generated: str) -> str:
        """The secret stored under `name`: `generated` if none was stored yet (it is then
        stored), else the one stored first. Safe when instances race."""
        return await self._call(_aio_shared, self._pool, name, generated)
