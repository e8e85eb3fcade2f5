"""The PostgreSQL store's `Reports` (chat/store/shared/reports.py's SQL)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chat.core.records import AuditEntry, Report
from chat.store.postgres.base import PostgresBase, as_is
from chat.store.postgres.moderation import _audit
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

if TYPE_CHECKING:
    import asyncpg

_ADD = ADD_REPORT_SQL.format(room="$1", message="$2", reporter="$3", reason="$4", now="now()")
_EXISTING = EXISTING_REPORT_SQL.format(message="$1", reporter="$2")
_ONE = REPORT_SELECT + " WHERE rp.id = $1"
_DECIDE = DECIDE_REPORT_SQL.format(status="$1", by="$2", now="now()", report="$3")


async def _one(conn: Any, report_id: int) -> Report | None:
    row = await conn.fetchrow(_ONE, report_id)
    return None if row is None else report_from_row(row, as_is)


class PostgresReports(PostgresBase):
    """`Reports` on PostgreSQL."""

    async def add_report(
        self, room_id: int, message_id: int, reporter_id: int, reason: str
    ) -> tuple[Report, bool]:
        async def add(pool: asyncpg.Pool) -> tuple[Report, bool]:
            async with pool.acquire() as conn, conn.transaction():
                report_id = await conn.fetchval(_ADD, room_id, message_id, reporter_id, reason)
                new = report_id is not None
                if not new:
                    report_id = await conn.fetchval(_EXISTING, message_id, reporter_id)
                report = await _one(conn, report_id)
            assert report is not None
            return report, new

        return await self._call(add, self._pool)

    async def message_room(self, message_id: int) -> int | None:
        sql = MESSAGE_ROOM_SQL.format(message="$1")
        room_id: int | None = await self._call(self._pool.fetchval, sql, message_id)
        return room_id

    async def report(self, report_id: int) -> Report | None:
        return await self._call(_one, self._pool, report_id)

    async def reports(
        self, room_id: int | None, *, status: str | None, before: int | None, limit: int
    ) -> list[Report]:
        args: list[Any] = [NO_UPPER_BOUND if before is None else before, limit]
        and_room = and_status = ""
        if room_id is not None:
            args.append(room_id)
            and_room = f"AND rp.room_id = ${len(args)}"
        if status is not None:
            args.append(status)
            and_status = f"AND rp.status = ${len(args)}"
        sql = REPORTS_SQL.format(before="$1", and_room=and_room, and_status=and_status, limit="$2")
        rows = await self._call(self._pool.fetch, sql, *args)
        return [report_from_row(row, as_is) for row in rows]

    async def decide_report(
        self, report_id: int, status: str, by_id: int, audit: AuditEntry
    ) -> Report | None:
        async def decide(pool: asyncpg.Pool) -> Report | None:
            async with pool.acquire() as conn, conn.transaction():
                if await conn.execute(_DECIDE, status, by_id, report_id) == "UPDATE 0":
                    return None
                await _audit(conn, audit)
                return await _one(conn, report_id)

        return await self._call(decide, self._pool)
