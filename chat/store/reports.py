"""Reports of messages (`Reports` role): one report per reporter and message (a unique
key: reporting again finds the first report), read with the message as it is now. A
decision is written in one transaction with its audit entry (`chat.store.moderation`).
"""

from __future__ import annotations

from typing import Any

from chat.core.moderation_records import AuditEntry
from chat.core.records import Report
from chat.store.base import StoreBase
from chat.store.database import NO_UPPER_BOUND, Connection, Row
from chat.store.dialect import Dialect
from chat.store.message_rows import MESSAGE_COLUMNS, message_from_row
from chat.store.moderation import insert_audit

#: A new report; nothing when the reporter reported the message before.
_ADD = """
INSERT INTO reports (room_id, message_id, reporter_id, reason, created_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (message_id, reporter_id) DO NOTHING
RETURNING id
"""
_EXISTING = "SELECT id FROM reports WHERE message_id = $1 AND reporter_id = $2"
_MESSAGE_ROOM = "SELECT room_id FROM messages WHERE id = $1"

#: Reports with their messages; add a WHERE (on `rp`), an ORDER and a LIMIT.
_REPORT_SELECT = f"""
SELECT rp.id AS report_id, rp.room_id AS report_room_id, rp.reporter_id,
       ru.name AS reporter_name, rp.reason AS report_reason, rp.status,
       rp.created_at AS report_created_at, rp.decided_by, du.name AS decided_by_name,
       rp.decided_at, {MESSAGE_COLUMNS}
FROM reports AS rp
JOIN messages AS m ON m.id = rp.message_id
JOIN users AS u ON u.id = m.sender_id
JOIN users AS ru ON ru.id = rp.reporter_id
LEFT JOIN users AS du ON du.id = rp.decided_by
"""
_ONE = _REPORT_SELECT + "WHERE rp.id = $1"

#: A page of reports, newest first: {and_room} and {and_status} narrow it.
_PAGE = _REPORT_SELECT + "WHERE rp.id < $1 {and_room} {and_status} ORDER BY rp.id DESC LIMIT $2"

_OPEN = "SELECT count(*) FROM reports WHERE room_id = $1 AND status = 'open'"
_STAFF = (
    "SELECT user_id FROM room_members WHERE room_id = $1 AND role IN ('moderator', 'owner')"
    " ORDER BY user_id LIMIT $2"
)

_DECIDE = "UPDATE reports SET status = $1, decided_by = $2, decided_at = $3 WHERE id = $4"


def _report(row: Row, dialect: Dialect) -> Report:
    return Report(
        id=row["report_id"],
        room_id=row["report_room_id"],
        message=message_from_row(row, dialect),
        reporter_id=row["reporter_id"],
        reporter_name=row["reporter_name"],
        reason=row["report_reason"],
        status=row["status"],
        created_at=dialect.moment(row["report_created_at"]),
        decided_by=row["decided_by"],
        decided_by_name=row["decided_by_name"],
        decided_at=None if row["decided_at"] is None else dialect.moment(row["decided_at"]),
    )


async def _one(conn: Connection, report_id: int) -> Report | None:
    row = await conn.fetchrow(_ONE, report_id)
    return None if row is None else _report(row, conn.dialect)


async def _add_report(
    conn: Connection, room_id: int, message_id: int, reporter_id: int, reason: str
) -> tuple[Report, bool]:
    now = conn.dialect.now()
    report_id = await conn.fetchval(_ADD, room_id, message_id, reporter_id, reason, now)
    new = report_id is not None
    if not new:
        report_id = await conn.fetchval(_EXISTING, message_id, reporter_id)
    report = await _one(conn, report_id)
    assert report is not None
    return report, new


async def _decide_report(
    conn: Connection, report_id: int, status: str, by_id: int, audit: AuditEntry
) -> Report | None:
    if await conn.execute(_DECIDE, status, by_id, conn.dialect.now(), report_id) == 0:
        return None
    await insert_audit(conn, audit)
    return await _one(conn, report_id)


class StoredReports(StoreBase):
    """`Reports`: reports of messages."""

    async def add_report(
        self, room_id: int, message_id: int, reporter_id: int, reason: str
    ) -> tuple[Report, bool]:
        return await self.db.transaction(_add_report, room_id, message_id, reporter_id, reason)

    async def message_room(self, message_id: int) -> int | None:
        room_id = await self.db.fetchval(_MESSAGE_ROOM, message_id)
        return None if room_id is None else int(room_id)

    async def report(self, report_id: int) -> Report | None:
        return await self.db.run(_one, report_id)

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
        rows = await self.db.fetch(_PAGE.format(and_room=and_room, and_status=and_status), *args)
        return [_report(row, self.dialect) for row in rows]

    async def decide_report(
        self, report_id: int, status: str, by_id: int, audit: AuditEntry
    ) -> Report | None:
        return await self.db.transaction(_decide_report, report_id, status, by_id, audit)

    async def open_reports(self, room_id: int) -> int:
        return int(await self.db.fetchval(_OPEN, room_id))

    async def room_staff(self, room_id: int, *, limit: int) -> list[int]:
        return [int(row[0]) for row in await self.db.fetch(_STAFF, room_id, limit)]
