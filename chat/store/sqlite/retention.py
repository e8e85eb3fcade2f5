"""The SQLite store's `Retention`: rooms whose messages may have expired, deleting them a
small batch per transaction, and task leases (one server per file: always its own)."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime

from chat.core.records import ExpiredBatch, RetentionRoom
from chat.store.shared import retention as shared
from chat.store.sqlite.base import SQLiteBase, from_ms, transaction

_OLDEST = shared.OLDEST_SQL.format(room="?", limit="?")
_CLAIM = shared.CLAIM_LEASE_SQL.format(name="?", holder="?", until="?", now="?")
_RELEASE = shared.RELEASE_LEASE_SQL.format(name="?", holder="?")


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class SQLiteRetention(SQLiteBase):
    """`Retention` on SQLite."""

    async def retention_rooms(
        self, *, after: int, limit: int, own_only: bool
    ) -> list[RetentionRoom]:
        sql = shared.ROOMS_SQL.format(
            after="?", limit="?", and_own=shared.AND_OWN_RETENTION if own_only else ""
        )
        rows = await self._run(lambda conn: conn.execute(sql, (after, limit)).fetchall())
        return [shared.retention_room(row, from_ms) for row in rows]

    async def delete_expired(self, room_id: int, before: datetime, *, limit: int) -> ExpiredBatch:
        cutoff = _ms(before)

        def delete(conn: sqlite3.Connection) -> ExpiredBatch:
            # One short write transaction: `limit` rows read by index, the expired ones
            # deleted (their search entries by trigger, what refers to them by cascade).
            with transaction(conn):
                locked = time.perf_counter()  # BEGIN IMMEDIATE has the write lock
                rows = conn.execute(_OLDEST, (room_id, limit)).fetchall()
                ids, files = shared.expired_prefix(rows, cutoff)
                if ids:
                    marks = ",".join("?" * len(ids))
                    conn.execute(f"DELETE FROM messages WHERE id IN ({marks})", ids)
            held = time.perf_counter() - locked
            done = len(ids) < limit
            return ExpiredBatch(len(ids), files, done, ids[-1] if ids else 0, held)

        return await self._run(delete)

    async def claim_lease(self, name: str, holder: str, *, now: datetime, until: datetime) -> bool:
        values = (name, holder, _ms(until), _ms(now))

        def claim(conn: sqlite3.Connection) -> bool:
            with transaction(conn):
                return conn.execute(_CLAIM, values).fetchone() is not None

        return await self._run(claim)

    async def release_lease(self, name: str, holder: str) -> None:
        def release(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                conn.execute(_RELEASE, (name, holder))

        await self._run(release)
