"""Messages: message rows, and every room's messages after a position (how an instance
catches up)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from chat.core.errors import InvalidInput
from chat.core.records import Change, Message, NewMessage, Room
from chat.store.database import Row as StoredRow
from chat.store.dialect import Dialect
from chat.store.rooms import room_from_row
from chat.store.shared.changes import reactions_from_json
from chat.store.shared.mentions import uids_from_json, uids_to_json
from chat.store.shared.rows import Row, ToDatetime

T = TypeVar("T")

#: The columns of the messages table a `Message` is read from (`message_from_row`), and
#: `file_count` (whether it has files to look up).
STORED_COLUMNS = (
    "id",
    "room_id",
    "sender_id",
    "body",
    "created_at",
    "client_msg_id",
    "reply_to",
    "edited_at",
    "deleted_at",
    "reactions",
    "mentions",
    "mentions_room",
    "file_count",
)

#: `STORED_COLUMNS` and the sender's name, from `messages AS m JOIN users AS u ON u.id =
#: m.sender_id`: the stores' selects of messages all use these.
MESSAGE_COLUMNS = "u.name AS sender_name, " + ", ".join(f"m.{c}" for c in STORED_COLUMNS)


@dataclass(frozen=True, slots=True)
class Inserted:
    """A column a new message is inserted with: its name, its PostgreSQL type (the batch
    travels as one array per column), and its value for a row."""

    column: str
    pg_type: str
    value: Callable[[NewMessage], object]


#: The columns a `NewMessage` is inserted with, in order: both stores build their INSERT
#: from these (room and sender first: PostgreSQL's room rules read those two arrays).
INSERTED = (
    Inserted("room_id", "bigint", lambda row: row.room_id),
    Inserted("sender_id", "bigint", lambda row: row.sender_id),
    Inserted("body", "text", lambda row: row.outgoing.body),
    Inserted("client_msg_id", "text", lambda row: row.outgoing.client_msg_id),
    Inserted("reply_to", "bigint", lambda row: row.outgoing.reply_to),
    Inserted("mentions", "text", lambda row: uids_to_json(row.outgoing.mentions)),
    Inserted("mentions_room", "boolean", lambda row: row.outgoing.mentions_room),
)

#: The inserted columns' names, in `INSERTED`'s order.
INSERTED_COLUMNS = ", ".join(inserted.column for inserted in INSERTED)


def inserted_values(row: NewMessage) -> tuple[object, ...]:
    """`row`'s values for `INSERTED_COLUMNS`."""
    return tuple(inserted.value(row) for inserted in INSERTED)


def message_from_row(row: Row, to_datetime: ToDatetime) -> Message:
    """From messages JOIN users (the sender's current name as sender_name)."""
    return Message(
        id=row["id"],
        room_id=row["room_id"],
        sender_id=row["sender_id"],
        sender_name=row["sender_name"],
        body=row["body"],
        created_at=to_datetime(row["created_at"]),
        client_msg_id=row["client_msg_id"],
        reply_to=row["reply_to"],
        edited_at=None if row["edited_at"] is None else to_datetime(row["edited_at"]),
        deleted=row["deleted_at"] is not None,
        reactions=reactions_from_json(row["reactions"]),
        mentions=uids_from_json(row["mentions"]),
        mentions_room=bool(row["mentions_room"]),
    )


#: Whether a message is one of a room's, and not deleted (a reply's target must be): one
#: probe of the primary key. {room} and {message} are the stores' placeholders.
IS_MESSAGE_OF_ROOM_SQL = (
    "SELECT 1 FROM messages WHERE id = {message} AND room_id = {room} AND deleted_at IS NULL"
)


def not_a_message_of_room(reply_to: int, room_id: int) -> InvalidInput:
    """The refusal of a reply whose `reply_to` is not a message of its room (unknown, in
    another room, or deleted: one answer, so nothing about other rooms leaks)."""
    return InvalidInput(f"ReplyTo {reply_to} is not a message of room {room_id}")


#: A page of a room's messages newer than a message (for `History.messages_after`): the
#: oldest `{limit}` above `{after}`, by id; the stores answer them newest first.
MESSAGES_AFTER_SQL = f"""
SELECT {MESSAGE_COLUMNS} FROM messages AS m JOIN users AS u ON u.id = m.sender_id
WHERE m.room_id = {{room}} AND m.id > {{after}}
ORDER BY m.id
LIMIT {{limit}}
"""


#: Which of the messages a batch answers (`reply_to`) have been deleted meanwhile: read in
#: the inserting transaction, after the positions lock, so that a reply to a message
#: deleted before it commits is refused (`{ids}` is the store's list of ids).
DELETED_AMONG_SQL = "SELECT id FROM messages WHERE id IN ({ids}) AND deleted_at IS NOT NULL"


#: Every room's messages after a position, with their rooms (for `Messages.committed_after`).
#: Both stores run this query; {after}, {before} and {limit} are their placeholders.
COMMITTED_AFTER_SQL = f"""
SELECT {MESSAGE_COLUMNS}, r.name AS room_name, r.kind AS room_kind,
       r.is_private AS room_is_private, r.creator_id AS room_creator_id,
       r.created_at AS room_created_at, d.low_user_id AS room_low_user_id,
       d.high_user_id AS room_high_user_id
FROM messages AS m
JOIN users AS u ON u.id = m.sender_id
JOIN rooms AS r ON r.id = m.room_id
LEFT JOIN direct_rooms AS d ON d.room_id = m.room_id
WHERE m.id > {{after}} AND m.id < {{before}}
ORDER BY m.id
LIMIT {{limit}}
"""


def committed_from_rows(
    rows: Sequence[StoredRow], dialect: Dialect, item_of: Callable[[StoredRow], T]
) -> list[tuple[T, Room]]:
    """`COMMITTED_AFTER_SQL` (or `CHANGES_AFTER_SQL`) rows as (item, room) pairs, each
    item made by `item_of`; one `Room` per room."""
    rooms: dict[int, Room] = {}
    pairs = []
    for row in rows:
        room = rooms.get(row["room_id"])
        if room is None:
            room = room_from_row(row, dialect, "room_")
            assert room is not None  # from a row, never None
            rooms[row["room_id"]] = room
        pairs.append((item_of(row), room))
    return pairs


def in_position_order(
    messages: Sequence[tuple[Message, Room]],
    changes: Sequence[tuple[Change, Room]],
    limit: int,
) -> list[tuple[Message | Change, Room]]:
    """The first `limit` of two lists read with the same bounds and limit, each in
    position order, as one list in position order: what comes after the `limit`-th item
    of the merge is past the end of one list or the other, so nothing is skipped."""
    merged: list[tuple[Message | Change, Room]] = [*messages, *changes]
    if changes:
        merged.sort(key=lambda pair: pair[0].position)
    return merged[:limit]


#: The newest position is the greater of these two: the highest message id, and the
#: highest change position (0 when none).
LAST_POSITION_SQL = (
    "SELECT coalesce((SELECT max(id) FROM messages), 0),"
    " coalesce((SELECT max(seq) FROM message_changes), 0)"
)
