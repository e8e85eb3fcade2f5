"""Messages: message rows, and every room's messages after a position (how an instance
catches up)."""

from __future__ import annotations

from collections.abc import Sequence

from ..records import Message, Room
from .rooms import room_from_row
from .rows import Row, ToDatetime


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
    )


#: Whether a message is one of a room's (a reply's target must be): one probe of the
#: primary key. {room} and {message} are the stores' placeholders.
IS_MESSAGE_OF_ROOM_SQL = "SELECT 1 FROM messages WHERE id = {message} AND room_id = {room}"


#: Every room's messages after a position, with their rooms (for `Messages.committed_after`).
#: Both stores run this query; {after}, {before} and {limit} are their placeholders.
COMMITTED_AFTER_SQL = """
SELECT m.id, m.room_id, m.sender_id, u.name AS sender_name, m.body, m.created_at,
       m.client_msg_id, m.reply_to, r.name AS room_name, r.kind AS room_kind,
       r.is_private AS room_is_private, r.creator_id AS room_creator_id,
       r.created_at AS room_created_at, d.low_user_id AS room_low_user_id,
       d.high_user_id AS room_high_user_id
FROM messages AS m
JOIN users AS u ON u.id = m.sender_id
JOIN rooms AS r ON r.id = m.room_id
LEFT JOIN direct_rooms AS d ON d.room_id = m.room_id
WHERE m.id > {after} AND m.id < {before}
ORDER BY m.id
LIMIT {limit}
"""


def committed_from_rows(rows: Sequence[Row], to_datetime: ToDatetime) -> list[tuple[Message, Room]]:
    """`COMMITTED_AFTER_SQL` rows as (message, room) pairs; one `Room` per room."""
    rooms: dict[int, Room] = {}
    pairs = []
    for row in rows:
        room = rooms.get(row["room_id"])
        if room is None:
            room = room_from_row(row, to_datetime, "room_")
            assert room is not None  # from a row, never None
            rooms[row["room_id"]] = room
        pairs.append((message_from_row(row, to_datetime), room))
    return pairs
