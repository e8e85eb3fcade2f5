"""Support threads (`Support`), on both engines.

A user's thread is made on first use; two first uses at once are safe without a lock:
the unique index rooms_one_support_thread_per_user lets one insert through, and the
other (``ON CONFLICT DO NOTHING``) reads the thread the first one made.
"""

from __future__ import annotations

from chat.core.records import Message, Room, WaitingThread
from chat.store.base import StoreBase
from chat.store.database import Connection, Row
from chat.store.dialect import Dialect
from chat.store.rooms import ROOM_SELECT, room_from_row

_FIND = f"{ROOM_SELECT} WHERE r.kind = 'support' AND r.creator_id = $1"
_INSERT_THREAD = """
INSERT INTO rooms (name, kind, is_private, creator_id, created_at)
VALUES (NULL, 'support', true, $1, $2) ON CONFLICT DO NOTHING RETURNING id
"""
_INSERT_MEMBER = "INSERT INTO room_members (room_id, user_id, joined_at) VALUES ($1, $2, $3)"

#: The thread, its user's name and its latest message (the user's).
_WAITING = """
SELECT r.id, r.name, r.kind, r.is_private, r.creator_id, r.created_at,
       NULL AS low_user_id, NULL AS high_user_id, u.name AS user_name,
       m.id AS message_id, m.body AS message_body, m.created_at AS message_created_at
FROM rooms AS r JOIN users AS u ON u.id = r.creator_id
JOIN messages AS m ON m.id = (SELECT max(id) FROM messages WHERE room_id = r.id)
WHERE r.kind = 'support' AND m.sender_id = r.creator_id
ORDER BY m.id LIMIT $1
"""

#: The user whose support thread holds the newest message that is either from that
#: user or from the operator $1: whom "answer the latest thread" answers.
_LATEST_USER = """
SELECT r.creator_id FROM messages AS m JOIN rooms AS r ON r.id = m.room_id
WHERE r.kind = 'support' AND (m.sender_id = r.creator_id OR m.sender_id = $1)
ORDER BY m.id DESC LIMIT 1
"""


def _waiting_thread(row: Row, dialect: Dialect) -> WaitingThread:
    room = room_from_row(row, dialect)
    assert room is not None and room.creator_id is not None
    message = Message(
        id=row["message_id"],
        room_id=room.id,
        sender_id=room.creator_id,
        sender_name=row["user_name"],
        body=row["message_body"],
        created_at=dialect.moment(row["message_created_at"]),
    )
    return WaitingThread(room, row["user_name"], message)


async def _support_room(conn: Connection, user_id: int, create: bool) -> Room | None:
    room = room_from_row(await conn.fetchrow(_FIND, user_id), conn.dialect)
    if room is not None or not create:
        return room
    async with conn.transaction():
        now = conn.dialect.now()
        # DO NOTHING: if another connection created it first, use that one.
        room_id = await conn.fetchval(_INSERT_THREAD, user_id, now)
        if room_id is not None:
            await conn.execute(_INSERT_MEMBER, room_id, user_id, now)
    return room_from_row(await conn.fetchrow(_FIND, user_id), conn.dialect)


class StoredSupport(StoreBase):
    """`Support`: support threads."""

    async def support_room(self, user_id: int, *, create: bool) -> Room | None:
        return await self.db.run(_support_room, user_id, create)

    async def waiting_support_threads(self, limit: int) -> list[WaitingThread]:
        rows = await self.db.fetch(_WAITING, limit)
        return [_waiting_thread(row, self.dialect) for row in rows]

    async def latest_support_user(self, operator_id: int) -> int | None:
        user_id: int | None = await self.db.fetchval(_LATEST_USER, operator_id)
        return user_id
