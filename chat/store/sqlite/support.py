"""The SQLite store's `Support`: support threads."""

from __future__ import annotations

import sqlite3

from chat.core.records import Room, WaitingThread
from chat.store.shared.rooms import ROOM_SELECT
from chat.store.shared.support import (
    LATEST_SUPPORT_USER_SQL,
    WAITING_SUPPORT_THREADS_SQL,
    waiting_thread_from_row,
)
from chat.store.sqlite.base import SQLiteBase, from_ms, now_ms, room_of, transaction


class SQLiteSupport(SQLiteBase):
    """`Support` on SQLite."""

    async def support_room(self, user_id: int, *, create: bool) -> Room | None:
        find = f"{ROOM_SELECT} WHERE r.kind = 'support' AND r.creator_id = ?"

        def get(conn: sqlite3.Connection) -> Room | None:
            room = room_of(conn.execute(find, (user_id,)).fetchone())
            if room is not None or not create:
                return room
            with transaction(conn):
                now = now_ms()
                # DO NOTHING: if another connection created it first, use that one.
                created = conn.execute(
                    "INSERT INTO rooms (name, kind, is_private, creator_id, created_at)"
                    " VALUES (NULL, 'support', 1, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
                    (user_id, now),
                ).fetchone()
                if created is not None:
                    conn.execute(
                        "INSERT INTO room_members (room_id, user_id, joined_at) VALUES (?, ?, ?)",
                        (created[0], user_id, now),
                    )
            return room_of(conn.execute(find, (user_id,)).fetchone())

        return await self._run(get)

    async def waiting_support_threads(self, limit: int) -> list[WaitingThread]:
        sql = WAITING_SUPPORT_THREADS_SQL.format(limit="?")
        return await self._run(
            lambda conn: [
                waiting_thread_from_row(row, from_ms)
                for row in conn.execute(sql, (limit,)).fetchall()
            ]
        )

    async def latest_support_user(self, operator_id: int) -> int | None:
        sql = LATEST_SUPPORT_USER_SQL.format(operator="?")
        row = await self._run(lambda conn: conn.execute(sql, (operator_id,)).fetchone())
        return None if row is None else row[0]
