"""What a stored message is, as rows: the columns a `Message` is read from and a
`NewMessage` inserted with, and the JSON its reactions are kept in.

A module of its own, below every reader of messages (`chat.store.files`, `.changes`,
`.message_batches`, `.messages`): some of them import others, so the rows cannot live
with the operations without an import cycle.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from chat.core.errors import InvalidInput
from chat.core.link_previews import previews_from_json
from chat.core.records import Message, NewMessage, Reaction
from chat.store.database import Row
from chat.store.dialect import Dialect
from chat.store.mentions import uids_from_json, uids_to_json
from chat.store.thread_summaries import THREAD_COLUMNS, THREAD_JOIN, thread_of_row

#: The columns of the messages table a `Message` is read from (`message_from_row`), and
#: `file_count` (whether it has files to look up).
STORED_COLUMNS = (
    "id, room_id, sender_id, body, created_at, client_msg_id, reply_to, edited_at,"
    " deleted_at, reactions, mentions, mentions_room, file_count, thread_id, also_to_room,"
    " previews"
)

#: `STORED_COLUMNS` and the sender's names (login and display), avatar and kind, from
#: `messages AS m JOIN users AS u ON u.id = m.sender_id`: every select of messages uses
#: these.
MESSAGE_COLUMNS = (
    "u.name AS sender_name, u.display_name AS sender_display_name,"
    " u.avatar_key AS sender_avatar, u.kind = 'bot' AS sender_is_bot, "
    + ", ".join(f"m.{c}" for c in STORED_COLUMNS.split(", "))
)

#: Messages with their senders, and each thread root's summary: add a WHERE.
MESSAGE_SELECT = (
    f"SELECT {MESSAGE_COLUMNS}, {THREAD_COLUMNS}"
    f" FROM messages AS m JOIN users AS u ON u.id = m.sender_id {THREAD_JOIN}"
)


#: The messages of a room's main timeline (`m`: messages), as `Message.in_main_timeline`
#: says: not thread replies, unless also sent to the room. The partial index the main
#: timeline's pages scan has this condition (sql/*/NNNN_threads.sql), so both planners
#: use it and a thread's replies cost those pages nothing.
MAIN_TIMELINE_SQL = "(m.thread_id IS NULL OR m.also_to_room)"


@dataclass(frozen=True, slots=True)
class Inserted:
    """A column a new message is inserted with: its PostgreSQL type (the batch travels
    as one array per column), and its value for a row."""

    column: str
    pg_type: str
    value: Callable[[NewMessage], object]


#: The columns a `NewMessage` is inserted with, in order: both strategies build their
#: INSERT from these (room and sender first: PostgreSQL's room rules read those two arrays).
INSERTED = (
    Inserted("room_id", "bigint", lambda row: row.room_id),
    Inserted("sender_id", "bigint", lambda row: row.sender_id),
    Inserted("body", "text", lambda row: row.outgoing.body),
    Inserted("client_msg_id", "text", lambda row: row.outgoing.client_msg_id),
    Inserted("reply_to", "bigint", lambda row: row.outgoing.reply_to),
    Inserted("mentions", "text", lambda row: uids_to_json(row.outgoing.mentions)),
    Inserted("mentions_room", "boolean", lambda row: row.outgoing.mentions_room),
    Inserted("thread_id", "bigint", lambda row: row.outgoing.thread_id),
    Inserted("also_to_room", "boolean", lambda row: row.outgoing.also_to_room),
)

INSERTED_COLUMNS = ", ".join(inserted.column for inserted in INSERTED)


def reactions_to_json(reactions: Sequence[Reaction]) -> str | None:
    """The stored form of a reaction state: the protocol's own shape (None: none)."""
    if not reactions:
        return None
    return json.dumps(
        [{"Emoji": r.emoji, "Count": r.count, "UIDs": list(r.uids)} for r in reactions],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def reactions_from_json(text: str | None) -> tuple[Reaction, ...]:
    if text is None:
        return ()
    return tuple(
        Reaction(item["Emoji"], item["Count"], tuple(item["UIDs"])) for item in json.loads(text)
    )


def message_from_row(row: Row, dialect: Dialect) -> Message:
    """From `MESSAGE_COLUMNS` (the sender's current name), without a root's summary (a
    new message has none; the stream brings summaries as their own changes) and without
    its files (`chat.store.files.messages_with_files`)."""
    return Message(
        id=row["id"],
        room_id=row["room_id"],
        sender_id=row["sender_id"],
        sender_name=row["sender_name"],
        body=row["body"],
        created_at=dialect.moment(row["created_at"]),
        client_msg_id=row["client_msg_id"],
        reply_to=row["reply_to"],
        edited_at=None if row["edited_at"] is None else dialect.moment(row["edited_at"]),
        deleted=row["deleted_at"] is not None,
        reactions=reactions_from_json(row["reactions"]),
        mentions=uids_from_json(row["mentions"]),
        mentions_room=bool(row["mentions_room"]),
        sender_display_name=row["sender_display_name"],
        sender_avatar=row["sender_avatar"],
        sender_is_bot=bool(row["sender_is_bot"]),
        thread_id=row["thread_id"],
        also_to_room=bool(row["also_to_room"]),
        previews=previews_from_json(row["previews"]),
    )


def message_from_select(row: Row, dialect: Dialect) -> Message:
    """From `MESSAGE_SELECT` (or `MESSAGE_COLUMNS` with `THREAD_COLUMNS`): with the
    summary of the thread it roots, if it roots one."""
    message = message_from_row(row, dialect)
    thread = thread_of_row(row, dialect)
    return message if thread is None else replace(message, thread=thread)


def not_a_message_of_room(reply_to: int, room_id: int) -> InvalidInput:
    """The refusal of a reply whose `reply_to` is not a message of its room (unknown, in
    another room, or deleted: one answer, so nothing about other rooms leaks)."""
    return InvalidInput(f"ReplyTo {reply_to} is not a message of room {room_id}")


def not_a_thread_of_room(thread_id: int, room_id: int) -> InvalidInput:
    """The refusal of a thread reply whose root is not a visible message of its room
    (unknown, in another room, or deleted: one answer, as `not_a_message_of_room`)."""
    return InvalidInput(f"ThreadID {thread_id} is not a message of room {room_id}")
