"""Group direct conversations (`DirectGroups` role): rooms of kind 'direct' for 3 to 10
people, found by their members (sql/*/*_group_direct.sql).

A conversation's ``member_key`` is its current members' UIDs, sorted and joined by
commas: the conversation of exactly a set is the one holding the set's key. Every writer
of a key is serialised on it (SQLite's write lock; on PostgreSQL an advisory lock on the
key, until the transaction ends) and looks again under it: two creators of one set get
one room, on any instance. An addition or a leave moves the room to its new set's key,
under that key's lock, unless another conversation holds it already: then the room holds
none (the older conversation keeps answering for the set), so no lookup ever finds two.

Locks, in the order taken: the positions lock (a leave: chat.store.departures), the
room's row, the key. A creator takes only the key, so no two writers wait on each other
in a circle.
"""

from __future__ import annotations

from collections.abc import Sequence

from chat.core.records import Addition, Room
from chat.store.base import StoreBase
from chat.store.database import Connection
from chat.store.rooms import ROOM_SELECT, room_from_row, stored_room

#: The room holding key $1.
_FIND_GROUP = f"{ROOM_SELECT} JOIN direct_groups AS g ON g.room_id = r.id WHERE g.member_key = $1"
#: PostgreSQL: serialise the writers of one key (until the transaction ends).
_LOCK_KEY = "SELECT pg_advisory_xact_lock(hashtextextended('direct-group:' || $1, 0))"
_INSERT_ROOM = (
    "INSERT INTO rooms (name, kind, is_private, creator_id, created_at)"
    " VALUES (NULL, 'direct', true, $1, $2) RETURNING id"
)
_INSERT_GROUP = "INSERT INTO direct_groups (room_id, member_key) VALUES ($1, $2)"
_INSERT_MEMBER = (
    "INSERT INTO room_members (room_id, user_id, joined_at) VALUES ($1, $2, $3)"
    " ON CONFLICT DO NOTHING"
)
_IS_GROUP = "SELECT 1 FROM direct_groups WHERE room_id = $1"
_MEMBER_IDS = "SELECT user_id FROM room_members WHERE room_id = $1 ORDER BY user_id"
#: Room $1 takes key $2 unless another room holds it (then none).
_MOVE_KEY = """
UPDATE direct_groups SET member_key = CASE
    WHEN EXISTS (SELECT 1 FROM direct_groups AS o
                 WHERE o.member_key = CAST($2 AS text) AND o.room_id <> $1) THEN NULL
    ELSE CAST($2 AS text) END
WHERE room_id = $1
"""
#: PostgreSQL: hold the room's row against other additions and leaves (a leave locks it
#: FOR UPDATE: chat.store.moderation), not against messages (FOR KEY SHARE).
_LOCK_ROOM = "SELECT id FROM rooms WHERE id = $1 FOR NO KEY UPDATE"
#: The members (UID, name) of the rooms in {rooms}, by room and UID.
_MEMBERS_OF = """
SELECT m.room_id, u.id, u.name FROM room_members AS m JOIN users AS u ON u.id = m.user_id
WHERE {rooms} ORDER BY m.room_id, u.id
"""


def member_key(user_ids: Sequence[int]) -> str:
    """A set's key: its UIDs, sorted, joined by commas."""
    return ",".join(str(uid) for uid in sorted(set(user_ids)))


async def _lock_key(conn: Connection, key: str) -> None:
    lock = conn.dialect.pick(sqlite=None, postgres=_LOCK_KEY)
    if lock is not None:
        await conn.execute(lock, key)


async def refresh_member_key(conn: Connection, room_id: int) -> None:
    """After its members changed, in the same transaction: a group direct conversation
    takes its new set's key, or none if another holds it (module docstring). Nothing for
    any other room."""
    if await conn.fetchval(_IS_GROUP, room_id) is None:
        return
    key = member_key([row[0] for row in await conn.fetch(_MEMBER_IDS, room_id)])
    await _lock_key(conn, key)
    await conn.execute(_MOVE_KEY, room_id, key)


async def _group_room(
    conn: Connection, member_ids: Sequence[int], creator_id: int, create: bool
) -> tuple[Room | None, bool]:
    dialect = conn.dialect
    key = member_key(member_ids)
    # The usual case is a conversation that exists: a plain read, no write lock.
    room = room_from_row(await conn.fetchrow(_FIND_GROUP, key), dialect)
    if room is not None or not create:
        return room, False
    async with conn.transaction():
        await _lock_key(conn, key)
        room = room_from_row(await conn.fetchrow(_FIND_GROUP, key), dialect)
        if room is not None:
            return room, False  # made meanwhile, here or on another instance
        now = dialect.now()
        room_id = await conn.fetchval(_INSERT_ROOM, creator_id, now)
        await conn.execute(_INSERT_GROUP, room_id, key)
        for user_id in sorted(set(member_ids)):
            await conn.execute(_INSERT_MEMBER, room_id, user_id, now)
        return stored_room(await conn.fetchrow(_FIND_GROUP, key), dialect), True


async def _add_to_group(conn: Connection, room_id: int, user_id: int, most: int) -> Addition:
    lock = conn.dialect.pick(sqlite=None, postgres=_LOCK_ROOM)
    if lock is not None:
        await conn.execute(lock, room_id)
    if await conn.fetchval(_IS_GROUP, room_id) is None:
        return Addition.NOT_A_GROUP
    members = [row[0] for row in await conn.fetch(_MEMBER_IDS, room_id)]
    if user_id in members:
        return Addition.MEMBER
    if len(members) >= most:
        return Addition.FULL
    await conn.execute(_INSERT_MEMBER, room_id, user_id, conn.dialect.now())
    await refresh_member_key(conn, room_id)
    return Addition.ADDED


class StoredDirectGroups(StoreBase):
    """`DirectGroups`: group direct conversations, found by their members."""

    async def group_direct_room(
        self, member_ids: Sequence[int], *, creator_id: int, create: bool
    ) -> tuple[Room | None, bool]:
        return await self.db.run(_group_room, member_ids, creator_id, create)

    async def add_to_group_direct(self, room_id: int, user_id: int, *, most: int) -> Addition:
        return await self.db.transaction(_add_to_group, room_id, user_id, most)

    async def group_direct_members(
        self, room_ids: Sequence[int]
    ) -> dict[int, list[tuple[int, str]]]:
        members: dict[int, list[tuple[int, str]]] = {room_id: [] for room_id in room_ids}
        if not room_ids:
            return members
        sql = _MEMBERS_OF.format(rooms=self.dialect.is_among("m.room_id", 1))
        for row in await self.db.fetch(sql, self.dialect.list_param(room_ids)):
            members[row[0]].append((row[1], row[2]))
        return members
