"""Retention (chat/app/messages/retention.py): the rooms whose oldest messages may have
expired, deleting a room's oldest messages in small batches, and the lease that lets one
instance at a time do it. The SQL both stores run, with their placeholders."""

from __future__ import annotations

from collections.abc import Sequence

from chat.core.records import RetentionRoom
from chat.store.shared.rows import Row, ToDatetime

#: A page of rooms by id after {after}, each with its own retention (NULL: the server's)
#: and the time of its oldest message (NULL: none): one probe of messages_by_room per
#: room. {and_own} is "" or `AND_OWN_RETENTION` (when the server keeps messages forever,
#: only rooms with a retention of their own can have expired messages).
ROOMS_SQL = """
SELECT r.id, r.retention_days,
       (SELECT m.created_at FROM messages AS m WHERE m.room_id = r.id
        ORDER BY m.id LIMIT 1) AS oldest
FROM rooms AS r
WHERE r.id > {after} {and_own}
ORDER BY r.id
LIMIT {limit}
"""

AND_OWN_RETENTION = "AND r.retention_days IS NOT NULL"

#: A room's `{limit}` oldest messages, oldest first: the candidates of one batch (an index
#: range of messages_by_room, so a batch never scans more than `{limit}` rows).
OLDEST_SQL = """
SELECT id, created_at, file_count FROM messages
WHERE room_id = {room}
ORDER BY id
LIMIT {limit}
"""

#: Take a lease ({name}) for {holder} until {until}, if it is free, expired (at {now}),
#: or {holder}'s already: a row comes back if and only if {holder} holds it now. Of two
#: instances claiming at once, the second waits for the first's row and then finds it
#: held (PostgreSQL's ON CONFLICT locks the row; SQLite has one writer).
CLAIM_LEASE_SQL = """
INSERT INTO task_leases (name, holder, expires_at) VALUES ({name}, {holder}, {until})
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE task_leases.holder = excluded.holder OR task_leases.expires_at <= {now}
RETURNING holder
"""

#: Give a lease back (only its holder can): another instance may take it at once.
RELEASE_LEASE_SQL = "DELETE FROM task_leases WHERE name = {name} AND holder = {holder}"


def retention_room(row: Row, to_datetime: ToDatetime) -> RetentionRoom:
    oldest = row["oldest"]
    return RetentionRoom(
        room_id=row["id"],
        retention_days=row["retention_days"],
        oldest=None if oldest is None else to_datetime(oldest),
    )


def expired_prefix(rows: Sequence[Row], before: object) -> tuple[list[int], int]:
    """The ids of the messages of `rows` (`OLDEST_SQL`, oldest first) that come before the
    first one created at or after `before`, and how many files they carry.

    A room's messages are deleted oldest first and only up to the first one that is kept:
    ids follow creation times (up to the milliseconds between two instances), so the
    messages after it are newer still."""
    ids = []
    files = 0
    for row in rows:
        if not row["created_at"] < before:
            break
        ids.append(row["id"])
        files += row["file_count"]
    return ids, files
