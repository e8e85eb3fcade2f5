"""The PostgreSQL store's `Retention`: rooms whose messages may have expired, deleting them
a small batch per short transaction, and task leases (one instance at a time deletes)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING

from chat.core.records import ExpiredBatch, RetentionRoom
from chat.store.postgres.base import PostgresBase, as_is
from chat.store.shared import retention as shared

if TYPE_CHECKING:
    import asyncpg

_OLDEST = shared.OLDEST_SQL.format(room="$1", limit="$2")
_CLAIM = shared.CLAIM_LEASE_SQL.format(name="$1", holder="$2", until="$3", now="$4")
_RELEASE = shared.RELEASE_LEASE_SQL.format(name="$1", holder="$2")
_DELETE = "DELETE FROM messages WHERE id = ANY($1::bigint[])"


async def _aio_delete(
    pool: asyncpg.Pool, room_id: int, before: datetime, limit: int
) -> ExpiredBatch:
    # A short transaction: `limit` rows read by index, the expired ones deleted (what
    # refers to them by cascade; the search index is on the rows themselves).
    async with pool.acquire() as conn:
        began = time.perf_counter()
        async with conn.transaction():
            rows = await conn.fetch(_OLDEST, room_id, limit)
            ids, files = shared.expired_prefix(rows, before)
            if ids:
                await conn.execute(_DELETE, ids)
        held = time.perf_counter() - began
    return ExpiredBatch(len(ids), files, len(ids) < limit, ids[-1] if ids else 0, held)


class PostgresRetention(PostgresBase):
    """`Retention` on PostgreSQL."""

    async def retention_rooms(
        self, *, after: int, limit: int, own_only: bool
    ) -> list[RetentionRoom]:
        sql = shared.ROOMS_SQL.format(
            after="$1", limit="$2", and_own=shared.AND_OWN_RETENTION if own_only else ""
        )
        rows = await self._call(self._pool.fetch, sql, after, limit)
        return [shared.retention_room(row, as_is) for row in rows]

    async def delete_expired(self, room_id: int, before: datetime, *, limit: int) -> ExpiredBatch:
        return await self._call(_aio_delete, self._pool, room_id, before, limit)

    async def claim_lease(self, name: str, holder: str, *, now: datetime, until: datetime) -> bool:
        row = await self._call(self._pool.fetchrow, _CLAIM, name, holder, until, now)
        return row is not None

    async def release_lease(self, name: str, holder: str) -> None:
        await self._call(self._pool.execute, _RELEASE, name, holder)
