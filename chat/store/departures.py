"""Members leaving rooms as positions of the stream (`chat.core.records.Departure`):
written in the transaction that takes a member out of a room (chat.store.moderation: a
removal, a ban, a leave), read with the messages and changes (chat.store.messages).

Why a position: every instance publishes the stream in position order
(chat.app.messages.publisher), so one that applies a departure where it stands drops the
member's connections out of the room before anything committed after it, whichever
instance committed what and however late the bus brought it.

A departure's position comes from the messages' sequence, as a change's does
(chat.store.changes): PostgreSQL takes the positions lock first (``chat_lock_positions()``,
before the room's row: every writer of positions takes it before any other lock, so no
two transactions take the same two locks in opposite orders) and the row's default draws
from the sequence; SQLite's writer holds the write lock, and the position is the
messages' AUTOINCREMENT counter moved on by one, so the next message id is above it.
"""

from __future__ import annotations

from datetime import datetime

from chat.core.records import Departure
from chat.store.database import Connection, Row
from chat.store.dialect import Dialect

#: What `departure_from_row` reads, from `DEPARTURES_SOURCE`.
DEPARTURE_COLUMNS = (
    "x.seq, x.room_id, x.user_id, coalesce(x.by_id, 0) AS by_id,"
    " coalesce(b.name, '') AS by_name, x.reason, x.created_at, x.banned, x.until"
)
#: Departures with the name of who made each (``x``, ``b``).
DEPARTURES_SOURCE = "room_departures AS x LEFT JOIN users AS b ON b.id = x.by_id"

_DEPARTURE = f"SELECT {DEPARTURE_COLUMNS} FROM {DEPARTURES_SOURCE} WHERE x.seq = $1"

#: PostgreSQL: positions commit in order (sql/postgres/0012_message_changes.sql).
_LOCK_POSITIONS = "SELECT chat_lock_positions()"
_INSERT_POSTGRES = (
    "INSERT INTO room_departures (room_id, user_id, by_id, reason, banned, until)"
    " VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq"
)

#: SQLite: the messages' counter, made if no message was ever stored, moved on by one.
_START_COUNTER = (
    "INSERT INTO sqlite_sequence (name, seq) SELECT 'messages', 0"
    " WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'messages')"
)
_NEXT_POSITION = "UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'messages' RETURNING seq"
_INSERT_SQLITE = (
    "INSERT INTO room_departures (room_id, user_id, by_id, reason, banned, until, seq,"
    " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq"
)


def departure_from_row(row: Row, dialect: Dialect) -> Departure:
    return Departure(
        seq=row["seq"],
        room_id=row["room_id"],
        user_id=row["user_id"],
        by_id=row["by_id"],
        by_name=row["by_name"],
        reason=row["reason"],
        at=dialect.moment(row["created_at"]),
        banned=bool(row["banned"]),
        until=None if row["until"] is None else dialect.moment(row["until"]),
    )


async def lock_positions(conn: Connection) -> None:
    """Take the positions lock (PostgreSQL), first of the transaction's locks (see the
    module); SQLite's writing transaction holds its write lock already."""
    lock = conn.dialect.pick(sqlite=None, postgres=_LOCK_POSITIONS)
    if lock is not None:
        await conn.execute(lock)


async def record_departure(
    conn: Connection,
    room_id: int,
    user_id: int,
    by_id: int,
    reason: str,
    *,
    banned: bool = False,
    until: datetime | None = None,
) -> Departure:
    """Write user `user_id`'s departure from the room at the next position, in the
    caller's transaction (which took `lock_positions` first); `banned` (until `until`,
    None: until lifted) for a ban."""
    until_value = None if until is None else conn.dialect.timestamp(until)
    values: tuple[object, ...] = (room_id, user_id, by_id, reason, banned, until_value)
    if conn.dialect.pick(sqlite=True, postgres=False):
        await conn.execute(_START_COUNTER)
        position = await conn.fetchval(_NEXT_POSITION)
        seq = await conn.fetchval(_INSERT_SQLITE, *values, position, conn.dialect.now())
    else:
        seq = await conn.fetchval(_INSERT_POSTGRES, *values)
    row = await conn.fetchrow(_DEPARTURE, seq)
    assert row is not None  # written just now, in this transaction
    return departure_from_row(row, conn.dialect)
