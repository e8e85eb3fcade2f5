"""The SQLite store's `Messages` and `History`: storing messages in batches, reading them
in id order, and a room's pages of history."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from chat.core.records import Added, Change, Message, NewMessage, Room
from chat.store.measuring import observed
from chat.store.shared.changes import CHANGES_AFTER_SQL, change_from_row
from chat.store.shared.files import ids_with_files, with_files, with_files_committed
from chat.store.shared.messages import (
    COMMITTED_AFTER_SQL,
    DELETED_AMONG_SQL,
    INSERTED,
    INSERTED_COLUMNS,
    IS_MESSAGE_OF_ROOM_SQL,
    LAST_POSITION_SQL,
    MESSAGE_COLUMNS,
    MESSAGES_AFTER_SQL,
    STORED_COLUMNS,
    committed_from_rows,
    in_position_order,
    inserted_values,
    message_from_row,
    not_a_message_of_room,
)
from chat.store.shared.rows import NO_UPPER_BOUND
from chat.store.sqlite.base import SQLiteBase, from_ms, message_of, now_ms, transaction
from chat.store.sqlite.changes import remember_mentions
from chat.store.sqlite.files import attach_files, files_of_messages
from chat.store.sqlite.room_rules import RoomRules

if TYPE_CHECKING:
    from chat.store.roles import Notifications

# A resent client_msg_id conflicts with the original and inserts nothing (no row back).
_INSERT_MESSAGE = (
    f"INSERT INTO messages ({INSERTED_COLUMNS}, created_at)"
    f" VALUES ({', '.join('?' * len(INSERTED))}, ?)"
    " ON CONFLICT (room_id, sender_id, client_msg_id) WHERE client_msg_id IS NOT NULL"
    " DO NOTHING"
    f" RETURNING {', '.join(STORED_COLUMNS)},"
    " (SELECT name FROM users WHERE users.id = sender_id) AS sender_name"
)

_MESSAGE_SELECT = (
    f"SELECT {MESSAGE_COLUMNS} FROM messages AS m JOIN users AS u ON u.id = m.sender_id"
)

_ORIGINAL_MESSAGE = (
    f"{_MESSAGE_SELECT} WHERE m.room_id = ? AND m.sender_id = ? AND m.client_msg_id = ?"
)


def _refuse_replies_to_deleted(conn: sqlite3.Connection, rows: list[NewMessage]) -> None:
    """Raise `InvalidInput` (the transaction rolls back) if a row of the batch answers a
    message deleted since the caller checked it: the write lock is ours, so nothing can
    be deleted between this look and the commit."""
    answered = {
        row.outgoing.reply_to: row.room_id for row in rows if row.outgoing.reply_to is not None
    }
    if not answered:
        return
    marks = ", ".join("?" * len(answered))
    deleted = conn.execute(DELETED_AMONG_SQL.format(ids=marks), list(answered)).fetchone()
    if deleted is not None:
        reply_to = deleted[0]
        raise not_a_message_of_room(reply_to, answered[reply_to])


_message_of = partial(message_from_row, to_datetime=from_ms)


class SQLiteMessages(SQLiteBase):
    """`Messages` and `History` on SQLite."""

    async def add_messages(
        self, rows: list[NewMessage], *, notify: Notifications | None = None
    ) -> list[Added]:
        # `notify`: nothing to notify on SQLite, which serves one instance.
        def insert(conn: sqlite3.Connection) -> list[Added]:
            now = now_ms()
            added = []
            with transaction(conn):
                rules = RoomRules(conn, now)
                for row in rows:
                    outgoing = row.outgoing
                    key = (row.room_id, row.sender_id, outgoing.client_msg_id)
                    # A resend is found before the insert: a conflicting insert would
                    # still take an id (AUTOINCREMENT), a gap in the positions.
                    original = (
                        None
                        if outgoing.client_msg_id is None
                        else conn.execute(_ORIGINAL_MESSAGE, key).fetchone()
                    )
                    stored = (
                        None
                        if original is not None
                        else conn.execute(_INSERT_MESSAGE, (*inserted_values(row), now)).fetchone()
                    )
                    if stored is not None:
                        # After the insert, so a resend still answers its original.
                        rules.check(row)
                        if stored["mentions"] is not None:
                            remember_mentions(conn, row.room_id, stored["id"], stored["mentions"])
                        message = message_of(stored)
                        if outgoing.files:
                            files = attach_files(conn, message.id, row.sender_id, outgoing.files)
                            message = replace(message, files=files)
                        added.append(Added(message, new=True))
                        continue
                    # A resend: answer with the original (the write lock is ours, so it
                    # cannot have changed since the look), with its files. (A conflict the
                    # look missed cannot happen while the lock is ours; read it if so.)
                    if original is None:
                        original = conn.execute(_ORIGINAL_MESSAGE, key).fetchone()
                    files_of = files_of_messages(conn, ids_with_files([original]))
                    (message,) = with_files([message_of(original)], files_of)
                    added.append(Added(message, new=False))
                _refuse_replies_to_deleted(conn, rows)
            return added

        return await self._run(insert)

    async def last_position(self) -> int:
        return await self._run(lambda conn: max(conn.execute(LAST_POSITION_SQL).fetchone()))

    async def committed_after(
        self, after: int, *, before: int | None = None, limit: int
    ) -> list[tuple[Message | Change, Room]]:
        bounds = (after, NO_UPPER_BOUND if before is None else before, limit)

        def select(conn: sqlite3.Connection) -> list[tuple[Message | Change, Room]]:
            # One read transaction, so the two tables are seen at the same moment.
            conn.execute("BEGIN")
            try:
                messages = conn.execute(
                    COMMITTED_AFTER_SQL.format(after="?", before="?", limit="?"), bounds
                ).fetchall()
                changes = conn.execute(
                    CHANGES_AFTER_SQL.format(after="?", before="?", limit="?"), bounds
                ).fetchall()
                files = files_of_messages(conn, ids_with_files(messages))
            finally:
                conn.execute("COMMIT")
            return with_files_committed(
                in_position_order(
                    committed_from_rows(
                        messages, self.dialect, partial(message_from_row, to_datetime=from_ms)
                    ),
                    committed_from_rows(
                        changes, self.dialect, lambda row: change_from_row(row, from_ms)
                    ),
                    limit,
                ),
                files,
            )

        return await self._run(select)

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

    async def latest_messages(
        self, room_id: int, limit: int, *, skip_deleted: bool = False
    ) -> list[Message]:
        page = await self.messages_before(room_id, None, limit, skip_deleted=skip_deleted)
        return list(reversed(page))

    async def messages_before(
        self,
        room_id: int,
        before_id: int | None,
        limit: int,
        *,
        after_id: int = 0,
        skip_deleted: bool = False,
    ) -> list[Message]:
        live = " AND m.deleted_at IS NULL" if skip_deleted else ""
        # No `before_id` means "from the newest": every id is below the largest bigint.
        below = NO_UPPER_BOUND if before_id is None else before_id

        def select(conn: sqlite3.Connection) -> list[Message]:
            rows = conn.execute(
                f"{_MESSAGE_SELECT} WHERE m.room_id = ? AND m.id < ? AND m.id > ?{live}"
                " ORDER BY m.id DESC LIMIT ?",
                (room_id, below, after_id, limit),
            ).fetchall()
            files = files_of_messages(conn, ids_with_files(rows))
            return with_files([message_of(row) for row in rows], files)

        with observed(self.history_seconds):
            return await self._run(select)

    async def messages_after(self, room_id: int, after_id: int, limit: int) -> list[Message]:
        sql = MESSAGES_AFTER_SQL.format(room="?", after="?", limit="?")

        def select(conn: sqlite3.Connection) -> list[Message]:
            rows = conn.execute(sql, (room_id, after_id, limit)).fetchall()[::-1]
            files = files_of_messages(conn, ids_with_files(rows))
            return with_files([message_of(row) for row in rows], files)

        with observed(self.history_seconds):
            return await self._run(select)
