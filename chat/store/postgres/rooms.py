"""The PostgreSQL store's `Rooms`: group rooms, membership, direct conversations, the
directory, room lists, read markers and unread counts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from chat.core.records import PublicRoom, Room, RoomDetails
from chat.store.postgres.base import PostgresBase, as_is, room_of, unique_violation
from chat.store.shared.mentions import MEMBER_COUNT_SQL, MENTION_CANDIDATES_SQL, candidate_from_row
from chat.store.shared.rooms import (
    MARK_READ_SQL,
    NOTIFICATION_LEVEL_SQL,
    PUBLIC_ROOMS_SQL,
    ROOM_DETAILS_SQL,
    ROOM_FOR_MEMBER_SQL,
    ROOM_MEMBERS_SQL,
    ROOM_SELECT,
    ROOMS_FOR_MEMBERS_SQL,
    SET_NOTIFICATION_LEVEL_SQL,
    UNREAD_CAP,
    UNREAD_COUNTS_SQL,
    room_details_from_row,
    rooms_by_user,
    rooms_for_members_from_rows,
)

#: `ROOMS_FOR_MEMBERS_SQL`'s pairs: two arrays of the same length, rooms ($1) and users ($2).
_PAIRS = "unnest($1::bigint[], $2::bigint[]) AS q (room_id, user_id)"
#: Its membership, a probe of the primary key per pair. LATERAL, so that the planner
#: cannot hash the whole of room_members for a handful of pairs: it did, for an EXISTS,
#: on a table not yet analyzed (1-2 ms a batch, in bench/reconnect_storm.py).
_MEMBER = (
    "LEFT JOIN LATERAL (SELECT 1 AS member FROM room_members"
    " WHERE room_id = q.room_id AND user_id = q.user_id) AS m ON true"
)
#: Each user's rooms, for many users at once (`Rooms.rooms_of_users`).
ROOMS_OF_USERS_SQL = (
    "SELECT user_id, room_id FROM room_members WHERE user_id = ANY($1::bigint[])"
    " ORDER BY user_id, room_id"
)

if TYPE_CHECKING:
    import asyncpg


async def _aio_create_room(
    pool: asyncpg.Pool, name: str, is_private: bool, creator_id: int
) -> Room | None:
    import asyncpg

    async with pool.acquire() as conn, conn.transaction():
        try:
            room_id = await conn.fetchval(
                "INSERT INTO rooms (name, kind, is_private, creator_id)"
                " VALUES ($1, 'group', $2, $3) RETURNING id",
                name,
                is_private,
                creator_id,
            )
        except asyncpg.UniqueViolationError as error:
            raise unique_violation(error, name) from None
        await conn.execute(
            "INSERT INTO room_members (room_id, user_id, role) VALUES ($1, $2, 'owner')",
            room_id,
            creator_id,
        )
        return room_of(await conn.fetchrow(f"{ROOM_SELECT} WHERE r.id = $1", room_id))


async def _aio_direct_room(
    pool: asyncpg.Pool, low: int, high: int, creator: int, create: bool
) -> Room | None:
    find = f"{ROOM_SELECT} WHERE d.low_user_id = $1 AND d.high_user_id = $2"
    async with pool.acquire() as conn:
        room = room_of(await conn.fetchrow(find, low, high))
        if room is not None or not create:
            return room
        async with conn.transaction():
            # Serialise creators of this one pair (the lock ends with the transaction),
            # then look again: another instance may have just created it.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended('direct:' || $1 || ':' || $2, 0))",
                str(low),
                str(high),
            )
            room = room_of(await conn.fetchrow(find, low, high))
            if room is not None:
                return room
            room_id = await conn.fetchval(
                "INSERT INTO rooms (name, kind, is_private, creator_id)"
                " VALUES (NULL, 'direct', true, $1) RETURNING id",
                creator,
            )
            await conn.execute(
                "INSERT INTO direct_rooms (room_id, low_user_id, high_user_id) VALUES ($1, $2, $3)",
                room_id,
                low,
                high,
            )
            await conn.execute(
                "INSERT INTO room_members (room_id, user_id) VALUES ($1, $2), ($1, $3)"
                " ON CONFLICT DO NOTHING",
                room_id,
                low,
                high,
            )
            return room_of(await conn.fetchrow(find, low, high))


class PostgresRooms(PostgresBase):
    """`Rooms` on PostgreSQL."""

    async def create_room(self, name: str, *, is_private: bool, creator_id: int) -> Room:
        room = await self._call(_aio_create_room, self._pool, name, is_private, creator_id)
        assert room is not None
        return room

    async def room_by_id(self, room_id: int) -> Room | None:
        return room_of(
            await self._call(self._pool.fetchrow, f"{ROOM_SELECT} WHERE r.id = $1", room_id)
        )

    async def add_member(self, room_id: int, user_id: int) -> None:
        await self._call(
            self._pool.execute,
            "INSERT INTO room_members (room_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            room_id,
            user_id,
        )

    async def room_for_member(self, room_id: int, user_id: int) -> tuple[Room | None, bool]:
        sql = ROOM_FOR_MEMBER_SQL.format(room="$1", user="$2")
        row = await self._call(self._pool.fetchrow, sql, room_id, user_id)
        return room_of(row), row is not None and bool(row["is_member"])

    async def is_member(self, room_id: int, user_id: int) -> bool:
        found = await self._call(
            self._pool.fetchval,
            "SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = $2",
            room_id,
            user_id,
        )
        return found is not None

    async def rooms_for_members(
        self, pairs: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], tuple[Room, bool]]:
        sql = ROOMS_FOR_MEMBERS_SQL.format(pairs=_PAIRS, member=_MEMBER)
        rooms, users = [room for room, _ in pairs], [user for _, user in pairs]
        rows = await self._call(self._pool.fetch, sql, rooms, users)
        return rooms_for_members_from_rows(rows, as_is)

    async def rooms_of_users(self, user_ids: Sequence[int]) -> dict[int, list[int]]:
        rows = await self._call(self._pool.fetch, ROOMS_OF_USERS_SQL, list(user_ids))
        return rooms_by_user(rows)

    async def rooms_of(self, user_id: int) -> list[int]:
        rows = await self._call(
            self._pool.fetch,
            "SELECT room_id FROM room_members WHERE user_id = $1 ORDER BY room_id",
            user_id,
        )
        return [row["room_id"] for row in rows]

    async def room_members(
        self, room_id: int, *, after: int, limit: int
    ) -> list[tuple[int, str, str]]:
        sql = ROOM_MEMBERS_SQL.format(room="$1", after="$2", limit="$3")
        rows = await self._call(self._pool.fetch, sql, room_id, after, limit)
        return [(row[0], row[1], row[2]) for row in rows]

    async def room_details(self, user_id: int, lobby_id: int) -> list[RoomDetails]:
        sql = ROOM_DETAILS_SQL.format(user="$1", lobby="$2::bigint")
        rows = await self._call(self._pool.fetch, sql, user_id, lobby_id)
        return [room_details_from_row(row, as_is) for row in rows]

    async def direct_room(self, user_a: int, user_b: int, *, create: bool) -> Room | None:
        low, high = sorted((user_a, user_b))
        return await self._call(_aio_direct_room, self._pool, low, high, user_a, create)

    async def public_rooms(self, limit: int) -> list[PublicRoom]:
        rows = await self._call(self._pool.fetch, PUBLIC_ROOMS_SQL.format(limit="$1"), limit)
        return [PublicRoom(row["id"], row["name"], row["members"]) for row in rows]

    # --- notification levels ---

    async def set_notification_level(self, user_id: int, room_id: int, level: str) -> None:
        sql = SET_NOTIFICATION_LEVEL_SQL.format(user="$1", room="$2", level="$3")
        await self._call(self._pool.execute, sql, user_id, room_id, level)

    async def notification_level(self, user_id: int, room_id: int) -> str | None:
        sql = NOTIFICATION_LEVEL_SQL.format(user="$1", room="$2")
        level = await self._call(self._pool.fetchval, sql, user_id, room_id)
        return None if level is None else str(level)

    # --- read markers ---

    async def mark_read(self, user_id: int, room_id: int, message_id: int) -> int | None:
        sql = MARK_READ_SQL.format(user="$1", room="$2", message="$3", greatest="greatest")
        return await self._call(self._pool.fetchval, sql, user_id, room_id, message_id)

    async def unread_counts(self, user_id: int, lobby_id: int) -> list[tuple[int, int, int]]:
        sql = UNREAD_COUNTS_SQL.format(
            user="$1", lobby="$2::bigint", cap=UNREAD_CAP, whole_room="m.mentions_room"
        )
        rows = await self._call(self._pool.fetch, sql, user_id, lobby_id)
        return [(row[0], row[1], row[2]) for row in rows]

    # --- mentions ---

    async def mention_candidates(
        self, room_id: int, keys: list[str]
    ) -> list[tuple[str, int, bool]]:
        sql = MENTION_CANDIDATES_SQL.format(room="$1", keys="SELECT unnest($2::text[])")
        rows = await self._call(self._pool.fetch, sql, room_id, keys)
        return [candidate_from_row(row) for row in rows]

    async def member_count(self, room_id: int) -> int:
        count = await self._call(self._pool.fetchval, MEMBER_COUNT_SQL.format(room="$1"), room_id)
        return 0 if count is None else int(count)
