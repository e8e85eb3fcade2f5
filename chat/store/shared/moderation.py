"""Running a room: roles, removals, bans, mutes, settings and the audit log,
as SQL both stores run. Each write is one transaction that locks the room's row first
(`LOCK_ROOM_SQL`, PostgreSQL; SQLite has one writer), so two moderators at once cannot,
say, both step down and leave a room without an owner; its audit entry is written in the
same transaction: the log has an entry for every change that committed, and only those.
"""

from __future__ import annotations

import json
from typing import Any

from chat.core.records import AuditEntry, Restriction
from chat.store.shared.rows import Row, ToDatetime

#: Placeholders: {room}, {user}, {role}, {now} and the like, the stores' own.
LOCK_ROOM_SQL = "SELECT id FROM rooms WHERE id = {room} FOR UPDATE"
MEMBER_ROLE_SQL = "SELECT role FROM room_members WHERE room_id = {room} AND user_id = {user}"
OTHER_OWNERS_SQL = (
    "SELECT count(*) FROM room_members"
    " WHERE room_id = {room} AND role = 'owner' AND user_id <> {user}"
)
OTHER_MEMBERS_SQL = (
    "SELECT count(*) FROM (SELECT 1 FROM room_members"
    " WHERE room_id = {room} AND user_id <> {user} LIMIT 1) AS any_other"
)
SET_ROLE_SQL = "UPDATE room_members SET role = {role} WHERE room_id = {room} AND user_id = {user}"
REMOVE_MEMBER_SQL = "DELETE FROM room_members WHERE room_id = {room} AND user_id = {user}"

#: The table of each kind of restriction.
RESTRICTION_TABLES = {"ban": "room_bans", "mute": "room_mutes"}

#: A ban or a mute ({table}: room_bans or room_mutes), set or replaced.
RESTRICT_SQL = """
INSERT INTO {table} (room_id, user_id, reason, until, by_id, created_at)
VALUES ({room}, {user}, {reason}, {until}, {by}, {now})
ON CONFLICT (room_id, user_id) DO UPDATE SET reason = excluded.reason,
    until = excluded.until, by_id = excluded.by_id, created_at = excluded.created_at
"""
#: Lifting one: the row's `until` comes back (a row whose time has passed lifts nothing).
LIFT_SQL = "DELETE FROM {table} WHERE room_id = {room} AND user_id = {user} RETURNING until"
#: The bans or mutes in force in a room ({user}: one user's, or every one with
#: ``{user} IS NULL``), the newest first.
RESTRICTIONS_SQL = """
SELECT x.room_id, x.user_id, u.name AS user_name, x.reason, x.until, x.by_id,
       b.name AS by_name, x.created_at
FROM {table} AS x
JOIN users AS u ON u.id = x.user_id
LEFT JOIN users AS b ON b.id = x.by_id
WHERE x.room_id = {room} AND (x.until IS NULL OR x.until > {now}) {and_user}
ORDER BY x.created_at DESC, x.user_id
LIMIT {limit}
"""

_AUDIT_COLUMNS = (
    "room_id, action, actor_id, actor_name, target_id, target_name, message_id, reason,"
    " details, created_at"
)


def insert_audit_sql(placeholders: list[str], now: str) -> str:
    """An audit entry's insert: `audit_values`' nine values in `placeholders`, and the
    time as `now` (a placeholder, or the database's clock)."""
    assert len(placeholders) == 9
    return f"INSERT INTO audit_log ({_AUDIT_COLUMNS}) VALUES ({', '.join(placeholders)}, {now})"


#: A page of the audit log, newest first: one room's ({room}) or every room's.
AUDIT_SQL = """
SELECT id, room_id, action, actor_id, actor_name, target_id, target_name, message_id,
       reason, details, created_at
FROM audit_log
WHERE id < {before} {and_room}
ORDER BY id DESC
LIMIT {limit}
"""

#: The columns `update_room` may set, by the name its callers use.
ROOM_SETTINGS = {
    "name": "name",
    "topic": "topic",
    "is_private": "is_private",
    "slow_mode_seconds": "slow_mode_seconds",
    "retention_days": "retention_days",
}


def restriction_from_row(row: Row, to_datetime: ToDatetime) -> Restriction:
    return Restriction(
        room_id=row["room_id"],
        user_id=row["user_id"],
        user_name=row["user_name"],
        reason=row["reason"],
        until=None if row["until"] is None else to_datetime(row["until"]),
        by_id=row["by_id"],
        by_name=row["by_name"],
        created_at=to_datetime(row["created_at"]),
    )


def audit_values(entry: AuditEntry) -> tuple[Any, ...]:
    """The values of `insert_audit_sql` but the time, in its order."""
    return (
        entry.room_id,
        entry.action,
        entry.actor_id,
        entry.actor_name,
        entry.target_id,
        entry.target_name,
        entry.message_id,
        entry.reason,
        json.dumps(entry.details, separators=(",", ":"), sort_keys=True),
    )


def audit_from_row(row: Row, to_datetime: ToDatetime) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        room_id=row["room_id"],
        action=row["action"],
        actor_id=row["actor_id"],
        actor_name=row["actor_name"],
        target_id=row["target_id"],
        target_name=row["target_name"],
        message_id=row["message_id"],
        reason=row["reason"],
        details=json.loads(row["details"]),
        created_at=to_datetime(row["created_at"]),
    )
