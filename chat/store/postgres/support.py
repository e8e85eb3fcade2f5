"""The PostgreSQL store's `Support`: support threads."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chat.core.records import Room, WaitingThread
from chat.store.postgres.base import PostgresBase, as_is, room_of
from chat.store.shared.rooms import ROOM_SELECT
from chat.store.shared.support import (
    LATEST_SUPPORT_USER_SQL,
    WAITING_SUPPORT_THREADS_SQL,
    waiting_thread_from_row,
)

if TYPE_CHECKING:
    import asyncpg


async def _aio_support_room(pool: asyncpg.Pool, user_id: int, create: bool) -> Room | None:
    find = f"{ROOM_SELECT} WHERE r.kind = 'support' AND r.creator_id = $1"
    async with pool.acquire() as conn:
        room = room_of(await conn.fetchrow(find, user_id))
        if room is not None or not create:
            return room
        async with conn.transaction():
            # DO NOTHING: if another instance created it first, use that one.
            room_id = await conn.fetchval(
                "INSERT INTO rooms (name, kind, is_private, creator_id)"
                " VALUES (NULL, 'support', true, $1) ON CONFLICT DO NOTHING RETURNING id",
                user_id,
            )
            if room_id is not None:
                await conn.execute(
                    "INSERT INTO room_members (room_id, user_id) VALUES ($1, $2)", room_id, user_id
                )
        return room_of(await conn.fetchrow(find, user_id))


class PostgresSupport(PostgresBase):
    """`Support` on PostgreSQL."""

    async def support_room(self, user_id: int, *, create: bool) -> Room | None:
        return await self._call(_aio_support_room, self._pool, user_id, create)

    async def waiting_support_threads(self, limit: int) -> list[WaitingThread]:
        rows = await self._call(
            self._pool.fetch, WAITING_SUPPORT_THREADS_SQL.format(limit="$1"), limit
        )
        return [waiting_thread_from_row(row, as_is) for row in rows]

    async def latest_support_user(self, operator_id: int) -> int | None:
        sql = LATEST_SUPPORT_USER_SQL.format(operator="$1")
        return await self._call(self._pool.fetchval, sql, operator_id)
