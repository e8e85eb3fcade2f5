"""Saved messages (`Saved` role): each user's own list of messages kept for later,
newest saved first (sql/sqlite/0027_saved_messages.sql, sql/postgres/0029_saved_messages.sql).

A row says who saved which message, and when. Whether it shows is decided when it is
read, by a join: the message exists and is not deleted, and its room is one the user may
read now (the lobby, a room they are a member of, and for an operator any support
thread: search's rule, `chat.store.search`). So a message deleted, or a room left,
removed from or banned from, drops out at once and nothing has to be told to drop it;
a message retention deletes takes its rows with it (ON DELETE CASCADE).

A user keeps at most `most` rows (the caller's bound): when a save finds the list full,
the rows that do not show any more are deleted first, so hidden rows never hold a place.
On PostgreSQL two saves of one user are serialized by a lock on the user's row (FOR NO
KEY UPDATE: a message of theirs being inserted, which takes a key-share lock, does not
wait for it); SQLite's writing transaction holds the database.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from chat.core.records import SavedMessage
from chat.store.base import StoreBase
from chat.store.database import NO_UPPER_BOUND, Connection
from chat.store.files import messages_with_files
from chat.store.message_rows import MESSAGE_COLUMNS
from chat.store.thread_summaries import THREAD_COLUMNS, THREAD_JOIN


class Saving(Enum):
    """What saving a message came to."""

    SAVED = "saved"  # saved now, or saved before (nothing changed)
    NOT_FOUND = "not found"  # no such message, deleted, or not the user's to read
    FULL = "full"  # the user keeps `most` saved messages already


#: A message row that shows for user $1 (an operator when $2): not deleted, in a room
#: they may read now. Needs `m` (messages) and `r` (its room).
_SHOWN = """m.deleted_at IS NULL AND (
    r.kind = 'lobby' OR ($2 AND r.kind = 'support')
    OR EXISTS (SELECT 1 FROM room_members AS k WHERE k.room_id = m.room_id AND k.user_id = $1))"""

#: Message $3, if user $1 may read it.
_READABLE = f"""
SELECT m.id FROM messages AS m JOIN rooms AS r ON r.id = m.room_id
WHERE m.id = $3 AND {_SHOWN}
"""

_LOCK_USER = "SELECT id FROM users WHERE id = $1"
_IS_SAVED = "SELECT 1 FROM saved_messages WHERE user_id = $1 AND message_id = $2"
_COUNT = "SELECT count(*) FROM saved_messages WHERE user_id = $1"
_INSERT = "INSERT INTO saved_messages (user_id, message_id, saved_at) VALUES ($1, $2, $3)"
_UNSAVE = "DELETE FROM saved_messages WHERE user_id = $1 AND message_id = $2"
#: The rows of user $1 that do not show any more.
_FORGET_HIDDEN = f"""
DELETE FROM saved_messages WHERE user_id = $1 AND message_id IN (
    SELECT m.id FROM saved_messages AS s
    JOIN messages AS m ON m.id = s.message_id JOIN rooms AS r ON r.id = m.room_id
    WHERE s.user_id = $1 AND NOT ({_SHOWN}))
"""

#: A page of user $1's saved messages that show, below saved id $3, at most $4.
_PAGE = f"""
SELECT s.id AS saved_id, s.saved_at, r.name AS room_name, r.kind AS room_kind,
       {MESSAGE_COLUMNS}, {THREAD_COLUMNS}
FROM saved_messages AS s
JOIN messages AS m ON m.id = s.message_id
JOIN rooms AS r ON r.id = m.room_id
JOIN users AS u ON u.id = m.sender_id
{THREAD_JOIN}
WHERE s.user_id = $1 AND s.id < $3 AND {_SHOWN}
ORDER BY s.id DESC LIMIT $4
"""

#: The ids of every saved message of user $1 that shows, newest saved first.
_IDS = f"""
SELECT m.id FROM saved_messages AS s
JOIN messages AS m ON m.id = s.message_id JOIN rooms AS r ON r.id = m.room_id
WHERE s.user_id = $1 AND {_SHOWN}
ORDER BY s.id DESC
"""

#: A page of every row of user $1 (shown or not), by saved id above $2: their export.
_EXPORT = """
SELECT id, message_id, saved_at FROM saved_messages WHERE user_id = $1 AND id > $2
ORDER BY id LIMIT $3
"""


async def _save(conn: Connection, user_id: int, admin: bool, message_id: int, most: int) -> Saving:
    dialect = conn.dialect
    await conn.fetchval(
        dialect.pick(sqlite=_LOCK_USER, postgres=_LOCK_USER + " FOR NO KEY UPDATE"), user_id
    )
    if await conn.fetchval(_READABLE, user_id, admin, message_id) is None:
        return Saving.NOT_FOUND
    if await conn.fetchval(_IS_SAVED, user_id, message_id) is not None:
        return Saving.SAVED
    if await conn.fetchval(_COUNT, user_id) >= most:
        await conn.execute(_FORGET_HIDDEN, user_id, admin)
        if await conn.fetchval(_COUNT, user_id) >= most:
            return Saving.FULL
    await conn.execute(_INSERT, user_id, message_id, dialect.now())
    return Saving.SAVED


async def _unsave(conn: Connection, user_id: int, admin: bool, message_id: int) -> bool:
    readable = await conn.fetchval(_READABLE, user_id, admin, message_id) is not None
    # The caller's own row goes whether the message shows or not: it is theirs.
    await conn.execute(_UNSAVE, user_id, message_id)
    return readable


async def _page(
    conn: Connection, user_id: int, admin: bool, before: int, limit: int
) -> list[SavedMessage]:
    rows = await conn.fetch(_PAGE, user_id, admin, before, limit)
    messages = await messages_with_files(conn, rows)
    return [
        SavedMessage(
            saved_id=row["saved_id"],
            saved_at=conn.dialect.moment(row["saved_at"]),
            room_name=row["room_name"],
            room_kind=row["room_kind"],
            message=message,
        )
        for row, message in zip(rows, messages, strict=True)
    ]


class StoredSaved(StoreBase):
    """`Saved`: users' saved messages."""

    async def save_message(
        self, user_id: int, message_id: int, *, admin: bool, most: int
    ) -> Saving:
        return await self.db.transaction(_save, user_id, admin, message_id, most)

    async def unsave_message(self, user_id: int, message_id: int, *, admin: bool) -> bool:
        return await self.db.transaction(_unsave, user_id, admin, message_id)

    async def saved_messages(
        self, user_id: int, *, admin: bool, before: int | None, limit: int
    ) -> list[SavedMessage]:
        before = NO_UPPER_BOUND if before is None else before
        return await self.db.run(_page, user_id, admin, before, limit)

    async def saved_message_ids(self, user_id: int, *, admin: bool) -> list[int]:
        return [int(row[0]) for row in await self.db.fetch(_IDS, user_id, admin)]

    async def export_saved(self, user_id: int, *, after: int, limit: int) -> list[dict[str, Any]]:
        rows = await self.db.fetch(_EXPORT, user_id, after, limit)
        return [
            {
                "SavedID": row["id"],
                "MessageID": row["message_id"],
                "SavedAt": self.dialect.moment(row["saved_at"]).isoformat(),
            }
            for row in rows
        ]
