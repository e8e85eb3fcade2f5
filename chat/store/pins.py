"""Pinned messages: the `Pins` role.

A pin or an unpin is a change to a message (kind ``pins``), in a table of its own
(``pin_changes``: a release that knows no pins never reads one) at a position of the
one stream: one transaction takes the positions lock, reads the message and lets the
caller's `Check` refuse (chat/store/changes.py, as every change), counts the room's pins
against the limit, writes the change row at the next position, and writes or deletes
the pin row. So pins and unpins are ordered with the messages and changes around them,
reach every instance and every resume as any change does (`Messages.committed_after`
and `Changes.room_changes` read them), and two moderators pinning at once cannot take a
room past its limit (the second counts under the same lock, after the first commits).

A room's pins are listed by the position of the change that pinned each, newest first;
a tombstone is never listed (deleting a message deletes its pin, and older rows are
filtered out by the read as well).
"""

from __future__ import annotations

from chat.core.errors import Conflict
from chat.core.records import Change, Message, PinnedMessage
from chat.store.base import StoreBase
from chat.store.changes import (
    Check,
    checked_message,
    insert_at_next_position,
    pin_change_from_row,
)
from chat.store.database import Connection, Row
from chat.store.files import messages_with_files
from chat.store.message_rows import MESSAGE_COLUMNS
from chat.store.thread_summaries import THREAD_COLUMNS, THREAD_JOIN

_IS_PINNED = "SELECT 1 FROM message_pins WHERE message_id = $1"

#: How many of room $1's messages are pinned (tombstones are not).
_COUNT_PINS = (
    "SELECT count(*) FROM message_pins AS p JOIN messages AS m ON m.id = p.message_id"
    " WHERE p.room_id = $1 AND m.deleted_at IS NULL"
)

#: The change row (`insert_at_next_position`).
_INSERT_CHANGE_POSTGRES = (
    "INSERT INTO pin_changes (room_id, message_id, pinned) VALUES ($1, $2, $3) RETURNING *"
)
_INSERT_CHANGE_SQLITE = (
    "INSERT INTO pin_changes (room_id, message_id, pinned, seq, created_at)"
    " VALUES ($1, $2, $3, $4, $5) RETURNING *"
)

_PIN = (
    "INSERT INTO message_pins (message_id, room_id, seq, pinned_by, pinned_at)"
    " VALUES ($1, $2, $3, $4, $5)"
)
_UNPIN = "DELETE FROM message_pins WHERE message_id = $1"

#: Room $1's pinned messages as they are now, newest pin first, at most $2.
_ROOM_PINS = f"""
SELECT {MESSAGE_COLUMNS}, {THREAD_COLUMNS},
       p.seq AS pin_seq, p.pinned_by, p.pinned_at, b.name AS pinned_by_name
FROM message_pins AS p
JOIN messages AS m ON m.id = p.message_id
JOIN users AS u ON u.id = m.sender_id
LEFT JOIN users AS b ON b.id = p.pinned_by
{THREAD_JOIN}
WHERE p.room_id = $1 AND m.deleted_at IS NULL
ORDER BY p.seq DESC
LIMIT $2
"""


def _too_many_pins(room_id: int, max_pins: int) -> Conflict:
    return Conflict(
        f"room {room_id} has {max_pins} pinned messages already, the most it may have:"
        " unpin one first"
    )


async def _record(conn: Connection, room_id: int, message_id: int, pinned: bool) -> Row:
    """The pin change's row, at the next position (under the positions lock)."""
    return await insert_at_next_position(
        conn, _INSERT_CHANGE_POSTGRES, _INSERT_CHANGE_SQLITE, room_id, message_id, pinned
    )


async def _set_pin(
    conn: Connection,
    room_id: int,
    message_id: int,
    user_id: int,
    pinned: bool,
    max_pins: int,
    check: Check,
) -> Change | None:
    await checked_message(conn, room_id, message_id, check, actor_id=user_id)
    is_pinned = await conn.fetchval(_IS_PINNED, message_id) is not None
    if is_pinned == pinned:
        return None  # pinned already, or not pinned: nothing changes
    if pinned and await conn.fetchval(_COUNT_PINS, room_id) >= max_pins:
        raise _too_many_pins(room_id, max_pins)
    row = await _record(conn, room_id, message_id, pinned)
    if pinned:
        await conn.execute(_PIN, message_id, room_id, row["seq"], user_id, row["created_at"])
    else:
        await conn.execute(_UNPIN, message_id)
    return pin_change_from_row(row, conn.dialect)


def _pinned_message(row: Row, message: Message, conn: Connection) -> PinnedMessage:
    return PinnedMessage(
        message=message,
        pinned_by=row["pinned_by"],
        pinned_by_name=row["pinned_by_name"],
        pinned_at=conn.dialect.moment(row["pinned_at"]),
        seq=row["pin_seq"],
    )


async def _room_pins(conn: Connection, room_id: int, limit: int) -> list[PinnedMessage]:
    rows = await conn.fetch(_ROOM_PINS, room_id, limit)
    messages = await messages_with_files(conn, rows)
    return [
        _pinned_message(row, message, conn) for row, message in zip(rows, messages, strict=True)
    ]


class StoredPins(StoreBase):
    """`Pins`: pinning and unpinning a room's messages, and listing its pins."""

    async def set_pin(
        self,
        room_id: int,
        message_id: int,
        user_id: int,
        *,
        pinned: bool,
        max_pins: int,
        check: Check,
    ) -> Change | None:
        return await self.db.transaction(
            _set_pin, room_id, message_id, user_id, pinned, max_pins, check
        )

    async def room_pins(self, room_id: int, *, limit: int) -> list[PinnedMessage]:
        return await self.db.run(_room_pins, room_id, limit)
