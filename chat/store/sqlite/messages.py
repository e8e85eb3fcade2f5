"""The SQLite store's `Messages` and `History`: storing messages in batches, reading them
in id order, and a room's pages of history."""

from __future__ import annotations

import sqlite3

from ..records import Added, Message, NewMessage, Room
from ..shared.measuring import observed
from ..shared.messages import COMMITTED_AFTER_SQL, IS_MESSAGE_OF_ROOM_SQL, committed_from_rows
from ..shared.rows import NO_UPPER_BOUND
from .base import SQLiteBase, from_ms, message_of, now_ms, transaction

# A resent client_msg_id conflicts with the original and inserts nothing (no row back).
_INSERT_MESSAGE = (
    "INSERT INTO messages (room_id, sender_id, body, created_at, client_msg_id, reply_to)"
    " VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (room_id, sender_id, client_msg_id) WHERE client_msg_id IS NOT NULL"
    " DO NOTHING"
    " RETURNING id, room_id, sender_id, body, created_at, client_msg_id, reply_to,"
    " (SELECT name FROM users WHERE users.id = sender_id) AS sender_name"
)

_MESSAGE_SELECT = (
    "SELECT m.id, m.room_id, m.sender_id, u.name AS sender_name, m.body, m.created_at,"
    " m.client_msg_id, m.reply_to"
    " FROM messages AS m JOIN users AS u ON u.id = m.sender_id"
)

_ORIGINAL_MESSAGE = (
    f"{_MESSAGE_SELECT} WHERE m.room_id = ? AND m.sender_id = ? AND m.client_msg_id = ?"
)


class SQLiteMessages(SQLiteBase):
    """`Messages` and `History` on SQLite."""

    async def add_messages(self, rows: list[NewMessage]) -> list[Added]:
        def insert(conn: sqlite3.Connection) -> list[Added]:
            now = now_ms()
            added = []
            with transaction(conn):
                for row in rows:
                    values = (
                        row.room_id,
                        row.sender_id,
                        row.body,
                        now,
                        row.client_msg_id,
                        row.reply_to,
                    )
                    stored = conn.execute(_INSERT_MESSAGE, values).fetchone()
                    if stored is not None:
                        added.append(Added(message_of(stored), new=True))
                        continue
                    # A resend: answer with the original (the write lock is ours, so it
                    # cannot have changed since the conflict).
                    key = (row.room_id, row.sender_id, row.client_msg_id)
                    original = conn.execute(_ORIGINAL_MESSAGE, key).fetchone()
                    added.append(Added(message_of(original), new=False))
            return added

        return await self._run(insert)

    async def last_message_id(self) -> int:
        return await self._run(
            lambda conn: conn.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0]
        )

    async def committed_after(
        self, after_id: int, *, before_id: int | None = None, limit: int
    ) -> list[tuple[Message, Room]]:
        sql = COMMITTED_AFTER_SQL.format(after="?", before="?", limit="?")
        below = NO_UPPER_BOUND if before_id is None else before_id
        return await self._run(
            lambda conn: committed_from_rows(
                conn.execute(sql, (after_id, below, limit)).fetchall(), from_ms
            )
        )

    async def is_message_of_room(self, room_id: int, message_id: int) -> bool:
        return await self._run(
            lambda conn: (
                conn.execute(
                    IS_MESSAGE_OF_ROOM_SQL.format(room=":room", message=":message"),
                    {"room": room_id, "message": message_id},
                ).fetchone()
                is not None
            )
        )

    async def latest_messages(self, room_id: int, limit: int) -> list[Message]:
        return list(reversed(await self.messages_before(room_id, None, limit)))

    async def messages_before(
        self, room_id: int, before_id: int | None, limit: int, *, after_id: int = 0
    ) -> list[Message]:
        # No `before_id` means "from the newest": every id is below the largest bigint.
        below = NO_UPPER_BOUND if before_id is None else before_id

        def select(conn: sqlite3.Connection) -> list[Message]:
            rows = conn.execute(
                f"{_MESSAGE_SELECT} WHERE m.room_id = ? AND m.id < ? AND m.id > ?"
                " ORDER BY m.id DESC LIMIT ?",
                (room_id, below, after_id, limit),
            ).fetchall()
            return [message_of(row) for row in rows]

        with observed(self.history_seconds):
            return await self._run(select)
