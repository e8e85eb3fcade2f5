"""The SQLite store's `Changes`: edits, deletions and reactions, each one transaction
that takes the next position from the messages' own counter (sql/sqlite/0011)."""

from __future__ import annotations

import sqlite3

from chat.core.records import Change, Message, Version
from chat.store.shared.changes import (
    DELETED,
    EDIT_MESSAGE_SQL,
    EDITED,
    EDITS_SQL,
    EMOJI_COUNT_SQL,
    ERASE_CHANGES_SQL,
    ERASE_REACTIONS_SQL,
    ORIGINAL_VERSION_SQL,
    REACTION_STATE_SQL,
    REACTIONS,
    ROOM_CHANGES_SQL,
    SET_REACTIONS_SQL,
    TOMBSTONE_SQL,
    Check,
    change_from_row,
    reactions_from_rows,
    reactions_to_json,
    refuse_another_emoji,
    versions_from_rows,
)
from chat.store.shared.files import DETACH_SQL, ids_with_files, with_files
from chat.store.shared.mentions import (
    FORGET_MENTIONS_SQL,
    SET_MENTIONS_SQL,
    edit_mentions_to_json,
    uids_to_json,
)
from chat.store.shared.messages import MESSAGE_COLUMNS
from chat.store.shared.rows import NO_UPPER_BOUND
from chat.store.sqlite.base import SQLiteBase, from_ms, message_of, now_ms, transaction
from chat.store.sqlite.files import files_of_messages

_MESSAGE_IN_ROOM = (
    f"SELECT {MESSAGE_COLUMNS} FROM messages AS m JOIN users AS u ON u.id = m.sender_id"
    " WHERE m.id = ? AND m.room_id = ?"
)

# The next position: the messages' AUTOINCREMENT counter moved on by one, so the next
# message id is above it too. There is a row for messages once any message was stored,
# and a change is always about a stored message.
_NEXT_POSITION = "UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'messages' RETURNING seq"

_INSERT_CHANGE = (
    "INSERT INTO message_changes"
    " (seq, room_id, message_id, kind, body, reactions, mentions, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)

# A message's mentions by name, from its JSON list of UIDs (`messages.mentions`).
_REMEMBER_MENTIONS = (
    "INSERT OR IGNORE INTO message_mentions (user_id, room_id, message_id)"
    " SELECT value, ?, ? FROM json_each(?)"
)


def remember_mentions(conn: sqlite3.Connection, room_id: int, message_id: int, uids: str) -> None:
    """Write `message_mentions` rows for a message whose `mentions` JSON is `uids`."""
    conn.execute(_REMEMBER_MENTIONS, (room_id, message_id, uids))


def _checked(conn: sqlite3.Connection, room_id: int, message_id: int, check: Check) -> Message:
    row = conn.execute(_MESSAGE_IN_ROOM, (message_id, room_id)).fetchone()
    message = None if row is None else message_of(row)
    check(message)
    assert message is not None, "the check refuses a message that does not exist"
    return message


def _record(
    conn: sqlite3.Connection,
    message: Message,
    kind: str,
    *,
    body: str | None = None,
    reactions: str | None = None,
    mentions: str | None = None,
) -> Change:
    """Write the change row at the next position; returns it."""
    seq = conn.execute(_NEXT_POSITION).fetchone()[0]
    now = now_ms()
    values = (seq, message.room_id, message.id, kind, body, reactions, mentions, now)
    conn.execute(_INSERT_CHANGE, values)
    return change_from_row(
        {
            "seq": seq,
            "room_id": message.room_id,
            "message_id": message.id,
            "kind": kind,
            "body": body,
            "reactions": reactions,
            "mentions": mentions,
            "created_at": now,
        },
        from_ms,
    )


class SQLiteChanges(SQLiteBase):
    """`Changes` on SQLite."""

    async def edit_message(
        self,
        room_id: int,
        message_id: int,
        text: str,
        check: Check,
        *,
        mentions: tuple[int, ...] = (),
        mentions_room: bool = False,
    ) -> Change | None:
        def edit(conn: sqlite3.Connection) -> Change | None:
            with transaction(conn):
                message = _checked(conn, room_id, message_id, check)
                if message.body == text:
                    return None
                stored = edit_mentions_to_json(mentions, mentions_room, message)
                change = _record(conn, message, EDITED, body=text, mentions=stored)
                conn.execute(
                    EDIT_MESSAGE_SQL.format(text="?", at="?", message="?"),
                    (text, int(change.at.timestamp() * 1000), message_id),
                )
                uids = uids_to_json(mentions)
                conn.execute(
                    SET_MENTIONS_SQL.format(uids="?", room="?", message="?"),
                    (uids, mentions_room, message_id),
                )
                conn.execute(FORGET_MENTIONS_SQL.format(message="?"), (message_id,))
                if uids is not None:
                    remember_mentions(conn, room_id, message_id, uids)
                return change

        return await self._run(edit)

    async def delete_message(self, room_id: int, message_id: int, check: Check) -> Change | None:
        def delete(conn: sqlite3.Connection) -> Change | None:
            with transaction(conn):
                message = _checked(conn, room_id, message_id, check)
                if message.deleted:
                    return None
                change = _record(conn, message, DELETED)
                conn.execute(
                    TOMBSTONE_SQL.format(at="?", message="?"),
                    (int(change.at.timestamp() * 1000), message_id),
                )
                conn.execute(ERASE_REACTIONS_SQL.format(message="?"), (message_id,))
                conn.execute(FORGET_MENTIONS_SQL.format(message="?"), (message_id,))
                conn.execute(DETACH_SQL.format(message="?"), (message_id,))
                conn.execute(
                    ERASE_CHANGES_SQL.format(message="?", seq="?"), (message_id, change.seq)
                )
                return change

        return await self._run(delete)

    async def react(
        self,
        room_id: int,
        message_id: int,
        user_id: int,
        emoji: str,
        *,
        add: bool,
        max_emoji: int,
        check: Check,
    ) -> Change | None:
        def react(conn: sqlite3.Connection) -> Change | None:
            with transaction(conn):
                message = _checked(conn, room_id, message_id, check)
                key = {"message": message_id, "emoji": emoji, "user": user_id}
                if add:
                    counts = conn.execute(
                        EMOJI_COUNT_SQL.format(message=":message", emoji=":emoji"), key
                    ).fetchone()
                    refuse_another_emoji(counts, message_id, max_emoji)
                    written = conn.execute(
                        "INSERT INTO message_reactions (message_id, emoji, user_id, created_at)"
                        " VALUES (:message, :emoji, :user, :now) ON CONFLICT DO NOTHING",
                        {**key, "now": now_ms()},
                    ).rowcount
                else:
                    written = conn.execute(
                        "DELETE FROM message_reactions"
                        " WHERE message_id = :message AND emoji = :emoji AND user_id = :user",
                        key,
                    ).rowcount
                if not written:
                    return None  # reacted already, or never: nothing changes
                rows = conn.execute(REACTION_STATE_SQL.format(message=":message"), key).fetchall()
                state = reactions_to_json(reactions_from_rows(rows))
                change = _record(conn, message, REACTIONS, reactions=state)
                conn.execute(SET_REACTIONS_SQL.format(state="?", message="?"), (state, message_id))
                return change

        return await self._run(react)

    async def message_in_room(self, room_id: int, message_id: int) -> Message | None:
        def select(conn: sqlite3.Connection) -> Message | None:
            row = conn.execute(_MESSAGE_IN_ROOM, (message_id, room_id)).fetchone()
            if row is None:
                return None
            files = files_of_messages(conn, ids_with_files([row]))
            return with_files([message_of(row)], files)[0]

        return await self._run(select)

    async def message_versions(self, room_id: int, message_id: int) -> list[Version] | None:
        def select(conn: sqlite3.Connection) -> list[Version] | None:
            conn.execute("BEGIN")  # one read: the message and its edits at one moment
            try:
                original = conn.execute(
                    ORIGINAL_VERSION_SQL.format(message="?", room="?"), (message_id, room_id)
                ).fetchone()
                edits = conn.execute(EDITS_SQL.format(message="?"), (message_id,)).fetchall()
            finally:
                conn.execute("COMMIT")
            return versions_from_rows(original, edits, from_ms)

        return await self._run(select)

    async def room_changes(
        self, room_id: int, *, after: int, before: int | None, limit: int
    ) -> list[Change]:
        sql = ROOM_CHANGES_SQL.format(room="?", after="?", before="?", limit="?")
        below = NO_UPPER_BOUND if before is None else before

        def select(conn: sqlite3.Connection) -> list[Change]:
            rows = conn.execute(sql, (room_id, after, below, limit)).fetchall()
            return [change_from_row(row, from_ms) for row in rows]

        return await self._run(select)
