"""The SQLite store's `Reports` (chat/store/shared/reports.py's SQL)."""

from __future__ import annotations

import sqlite3

from chat.core.records import AuditEntry, Report
from chat.store.shared.reports import (
    ADD_REPORT_SQL,
    DECIDE_REPORT_SQL,
    EXISTING_REPORT_SQL,
    MESSAGE_ROOM_SQL,
    REPORT_SELECT,
    REPORTS_SQL,
    report_from_row,
)
from chat.store.shared.rows import NO_UPPER_BOUND
from chat.store.sqlite.base import SQLiteBase, from_ms, now_ms, transaction
from chat.store.sqlite.moderation import _audit

_ADD = ADD_REPORT_SQL.format(room="?", message="?", reporter="?", reason="?", now="?")
_EXISTING = EXISTING_REPORT_SQL.format(message="?", reporter="?")
_ONE = REPORT_SELECT + " WHERE rp.id = ?"
_DECIDE = DECIDE_REPORT_SQL.format(status="?", by="?", now="?", report="?")


def _one(conn: sqlite3.Connection, report_id: int) -> Report | None:
    row = conn.execute(_ONE, (report_id,)).fetchone()
    return None if row is None else report_from_row(row, from_ms)


class SQLiteReports(SQLiteBase):
    """`Reports` on SQLite."""

    async def add_report(
        self, room_id: int, message_id: int, reporter_id: int, reason: str
    ) -> tuple[Report, bool]:
        def add(conn: sqlite3.Connection) -> tuple[Report, bool]:
            with transaction(conn):
                added = conn.execute(
                    _ADD, (room_id, message_id, reporter_id, reason, now_ms())
                ).fetchone()
                if added is None:
                    (report_id,) = conn.execute(_EXISTING, (message_id, reporter_id)).fetchone()
                else:
                    report_id = added[0]
                report = _one(conn, report_id)
            assert report is not None
            return report, added is not None

        return await self._run(add)

    async def message_room(self, message_id: int) -> int | None:
        sql = MESSAGE_ROOM_SQL.format(message="?")
        found = await self._run(lambda conn: conn.execute(sql, (message_id,)).fetchone())
        return None if found is None else int(found[0])

    async def report(self, report_id: int) -> Report | None:
        return await self._run(lambda conn: _one(conn, report_id))

    async def reports(
        self, room_id: int | None, *, status: str | None, before: int | None, limit: int
    ) -> list[Report]:
        sql = REPORTS_SQL.format(
            before=":before",
            and_room="" if room_id is None else "AND rp.room_id = :room",
            and_status="" if status is None else "AND rp.status = :status",
            limit=":limit",
        )
        values = {
            "before": NO_UPPER_BOUND if before is None else before,
            "room": room_id,
            "status": status,
            "limit": limit,
        }
        rows = await self._run(lambda conn: conn.execute(sql, values).fetchall())
        return [report_from_row(row, from_ms) for row in rows]

    async def decide_report(
        self, report_id: int, status: str, by_id: int, audit: AuditEntry
    ) -> Report | None:
        def decide(conn: sqlite3.Connection) -> Report | None:
            now = now_ms()
            with transaction(conn):
                if conn.execute(_DECIDE, (status, by_id, now, report_id)).rowcount == 0:
                    return None
                _audit(conn, audit, now)
                return _one(conn, report_id)

        return await self._run(decide)
