"""Retention (`Retention` role): deleting a room's expired messages a small batch per
short writing transaction, and the lease that lets one instance of a cluster at a time
do it.

A batch reads at most `limit` rows by index (messages_by_room) and deletes those created
before the cutoff; what hangs on them goes by cascade, and on SQLite their search
entries by trigger. Each batch is timed from its write lock taken to its commit, so the
next one's size can keep the writer free for the senders.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

from chat.core.moderation_records import ExpiredBatch, RetentionRoom
from chat.store.base import StoreBase
from chat.store.database import Connection, Row
from chat.store.dialect import Dialect

#: A page of rooms, each with the time of its oldest message: one probe of
#: messages_by_room per room. {and_own}: only rooms with a retention of their own.
_ROOMS = """
SELECT r.id, r.retention_days,
       (SELECT m.created_at FROM messages AS m WHERE m.room_id = r.id
        ORDER BY m.id LIMIT 1) AS oldest
FROM rooms AS r
WHERE r.id > $1 {and_own}
ORDER BY r.id
LIMIT $2
"""
_ALL_ROOMS = _ROOMS.format(and_own="")
_OWN_RETENTION_ROOMS = _ROOMS.format(and_own="AND r.retention_days IS NOT NULL")

#: An index range of messages_by_room: a batch never scans more than $2 rows.
_OLDEST = "SELECT id, created_at, file_count FROM messages WHERE room_id = $1 ORDER BY id LIMIT $2"
_DELETE = "DELETE FROM messages WHERE {ids}"

#: A row comes back if and only if $2 holds the lease now. Of two instances claiming at
#: once, the second waits for the first's row and then finds it held (PostgreSQL's
#: ON CONFLICT locks the row; SQLite has one writer).
_CLAIM_LEASE = """
INSERT INTO task_leases (name, holder, expires_at) VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE task_leases.holder = excluded.holder OR task_leases.expires_at <= $4
RETURNING holder
"""
_RELEASE_LEASE = "DELETE FROM task_leases WHERE name = $1 AND holder = $2"


def retention_room(row: Row, dialect: Dialect) -> RetentionRoom:
    oldest = row["oldest"]
    return RetentionRoom(
        room_id=row["id"],
        retention_days=row["retention_days"],
        oldest=None if oldest is None else dialect.moment(oldest),
    )


def expired_prefix(rows: Sequence[Row], before: object) -> tuple[list[int], int]:
    """The ids of `rows` (`_OLDEST`) before the first created at or after `before` (a
    stored time), and how many files they carry. Deleting stops at the first message
    kept: ids follow creation times (up to the milliseconds between two instances)."""
    ids = []
    files = 0
    for row in rows:
        if not row["created_at"] < before:
            break
        ids.append(row["id"])
        files += row["file_count"]
    return ids, files


async def _delete_expired(
    conn: Connection, room_id: int, before: datetime, limit: int
) -> ExpiredBatch:
    dialect = conn.dialect
    # The transaction is opened here, not by `Database.transaction`, so that its commit
    # is timed too. A writing transaction: on SQLite it has the write lock from BEGIN.
    async with conn.transaction():
        locked = time.perf_counter()
        rows = await conn.fetch(_OLDEST, room_id, limit)
        ids, files = expired_prefix(rows, dialect.timestamp(before))
        if ids:
            await conn.execute(
                _DELETE.format(ids=dialect.is_among("id", 1)), dialect.list_param(ids)
            )
    held = time.perf_counter() - locked
    return ExpiredBatch(len(ids), files, len(ids) < limit, ids[-1] if ids else 0, held)


class StoredRetention(StoreBase):
    """`Retention`: deleting expired messages, and task leases."""

    async def retention_rooms(
        self, *, after: int, limit: int, own_only: bool
    ) -> list[RetentionRoom]:
        sql = _OWN_RETENTION_ROOMS if own_only else _ALL_ROOMS
        rows = await self.db.fetch(sql, after, limit)
        return [retention_room(row, self.dialect) for row in rows]

    async def delete_expired(self, room_id: int, before: datetime, *, limit: int) -> ExpiredBatch:
        return await self.db.run(_delete_expired, room_id, before, limit)

    async def claim_lease(self, name: str, holder: str, *, now: datetime, until: datetime) -> bool:
        timestamp = self.dialect.timestamp
        row = await self.db.fetchrow(_CLAIM_LEASE, name, holder, timestamp(until), timestamp(now))
        return row is not None

    async def release_lease(self, name: str, holder: str) -> None:
        await self.db.execute(_RELEASE_LEASE, name, holder)
