"""Reports of messages, as SQL both stores run: one report per reporter and
message, read with the message as it is now."""

from __future__ import annotations

from chat.core.records import Report
from chat.store.shared.messages import MESSAGE_COLUMNS, message_from_row
from chat.store.shared.rows import Row, ToDatetime

#: A new report; nothing when the reporter reported the message before.
ADD_REPORT_SQL = """
INSERT INTO reports (room_id, message_id, reporter_id, reason, created_at)
VALUES ({room}, {message}, {reporter}, {reason}, {now})
ON CONFLICT (message_id, reporter_id) DO NOTHING
RETURNING id
"""
EXISTING_REPORT_SQL = (
    "SELECT id FROM reports WHERE message_id = {message} AND reporter_id = {reporter}"
)

#: Which room a message is in.
MESSAGE_ROOM_SQL = "SELECT room_id FROM messages WHERE id = {message}"

#: Reports with their messages; add a WHERE (on `rp`), an ORDER and a LIMIT.
REPORT_SELECT = f"""
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

#: A page of reports, newest first: {and_room} and {and_status} narrow it.
REPORTS_SQL = (
    REPORT_SELECT
    + """
WHERE rp.id < {before} {and_room} {and_status}
ORDER BY rp.id DESC
LIMIT {limit}
"""
)

DECIDE_REPORT_SQL = """
UPDATE reports SET status = {status}, decided_by = {by}, decided_at = {now}
WHERE id = {report}
"""


def report_from_row(row: Row, to_datetime: ToDatetime) -> Report:
    return Report(
        id=row["report_id"],
        room_id=row["report_room_id"],
        message=message_from_row(row, to_datetime),
        reporter_id=row["reporter_id"],
        reporter_name=row["reporter_name"],
        reason=row["report_reason"],
        status=row["status"],
        created_at=to_datetime(row["report_created_at"]),
        decided_by=row["decided_by"],
        decided_by_name=row["decided_by_name"],
        decided_at=None if row["decided_at"] is None else to_datetime(row["decided_at"]),
    )
