"""A room's end (`RoomLifecycle` role): archiving (read-only, out of the directory) and
deleting a group room with every message in it.

Archiving is one transaction with its audit entry, holding the room as every change of
its settings does (`chat.store.moderation`). Every message stored checks the flag in
its own transaction (`chat.store.room_rules`), so nothing is stored in an archived room
once the archiving has committed, whichever instance the send came through.

Deleting goes in steps, so that no step holds the writer for long: the room is archived
first (nothing new is stored in it from then on), its messages are deleted a batch per
short transaction (what hangs on them goes by cascade: reactions, changes, pins,
mentions, threads' followers and summaries, reports, attachments; on SQLite their
search entries by trigger), then one transaction deletes what is left with the room's
row (members, bans, read markers, webhooks... by cascade) and writes the audit entry.
A deletion cut short (cancelled, or the database gone) leaves an archived room with
fewer messages: deleting it again finishes the work. The audit log keeps its entries
(it has no foreign key to rooms).
"""

from __future__ import annotations

import time

from chat.core.moderation_records import AuditEntry, ExpiredBatch
from chat.core.records import Room
from chat.store.base import StoreBase
from chat.store.database import Connection
from chat.store.moderation import insert_audit
from chat.store.rooms import ROOM_BY_ID, room_from_row

#: PostgreSQL: hold the room's row until the transaction ends. FOR UPDATE waits for
#: every insert of a message under way in it (they hold the row FOR KEY SHARE,
#: sql/postgres/0008_message_references_per_statement.sql), and makes later ones wait.
_LOCK_ROOM = "SELECT id FROM rooms WHERE id = $1 FOR UPDATE"
_SET_ARCHIVED = "UPDATE rooms SET archived = $2 WHERE id = $1 AND archived <> $2"
#: A batch of a room's messages, by index (messages_by_room), oldest first.
_BATCH = "SELECT id, file_count FROM messages WHERE room_id = $1 ORDER BY id LIMIT $2"
_DELETE_MESSAGES = "DELETE FROM messages WHERE {ids}"
_DELETE_REST = "DELETE FROM messages WHERE room_id = $1"
_DELETE_ROOM = "DELETE FROM rooms WHERE id = $1 AND kind = 'group'"


async def _lock(conn: Connection, room_id: int) -> None:
    lock = conn.dialect.pick(sqlite=None, postgres=_LOCK_ROOM)
    if lock is not None:
        await conn.execute(lock, room_id)


async def _set_archived(
    conn: Connection, room_id: int, archived: bool, audit: AuditEntry | None
) -> tuple[Room | None, bool]:
    await _lock(conn, room_id)
    changed = bool(await conn.execute(_SET_ARCHIVED, room_id, archived))
    if changed and audit is not None:
        await insert_audit(conn, audit)
    return room_from_row(await conn.fetchrow(ROOM_BY_ID, room_id), conn.dialect), changed


async def _delete_batch(conn: Connection, room_id: int, limit: int) -> ExpiredBatch:
    dialect = conn.dialect
    # Opened here so that the commit is timed too (as retention's batches are).
    async with conn.transaction():
        locked = time.perf_counter()
        rows = await conn.fetch(_BATCH, room_id, limit)
        ids = [row["id"] for row in rows]
        files = sum(row["file_count"] for row in rows)
        if ids:
            await conn.execute(
                _DELETE_MESSAGES.format(ids=dialect.is_among("id", 1)), dialect.list_param(ids)
            )
    held = time.perf_counter() - locked
    return ExpiredBatch(len(ids), files, len(ids) < limit, ids[-1] if ids else 0, held)


async def _delete_room(conn: Connection, room_id: int, audit: AuditEntry) -> bool:
    await _lock(conn, room_id)
    # After the lock: every message committed before it is seen (each statement reads
    # anew), and none can be stored from here to the commit.
    await conn.execute(_DELETE_REST, room_id)
    if not await conn.execute(_DELETE_ROOM, room_id):
        return False  # gone already (another deletion finished first): no entry
    await insert_audit(conn, audit)
    return True


class StoredRoomLifecycle(StoreBase):
    """`RoomLifecycle`: archiving and deleting group rooms."""

    async def set_archived(
        self, room_id: int, archived: bool, audit: AuditEntry | None
    ) -> tuple[Room | None, bool]:
        return await self.db.transaction(_set_archived, room_id, archived, audit)

    async def delete_room_messages(self, room_id: int, *, limit: int) -> ExpiredBatch:
        return await self.db.run(_delete_batch, room_id, limit)

    async def delete_room(self, room_id: int, audit: AuditEntry) -> bool:
        return await self.db.transaction(_delete_room, room_id, audit)
