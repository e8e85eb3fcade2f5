"""Running a room (`Moderation` role): roles, removals, bans and mutes, settings, and the
audit log.

Each write is one transaction that holds the room first (`_lock_room`: SQLite's writing
transaction has the write lock from its BEGIN, PostgreSQL locks the room's row), so the
moderators of one room change it one at a time: two owners stepping down at once cannot
leave it without one. Its audit entry is written in the same transaction: the log has an
entry for every change that committed, and only those. A member taken out (removed,
banned, or leaving) leaves a `Departure` at the next position of the stream, in the same
transaction too (`chat.store.departures`, whose positions lock comes before the room's).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from chat.core.errors import LastOwner, RoomNameTaken
from chat.core.moderation_records import AuditEntry, Restriction
from chat.core.records import Departure, Room
from chat.store.base import StoreBase
from chat.store.database import NO_UPPER_BOUND, Connection, Row, UniqueViolation
from chat.store.departures import lock_positions, record_departure
from chat.store.dialect import Dialect
from chat.store.direct_groups import refresh_member_key
from chat.store.rooms import ROOM_BY_ID, stored_room

#: PostgreSQL: hold the room's row until the transaction ends.
_LOCK_ROOM = "SELECT id FROM rooms WHERE id = $1 FOR UPDATE"
_MEMBER_ROLE = "SELECT role FROM room_members WHERE room_id = $1 AND user_id = $2"
_OTHER_OWNERS = (
    "SELECT count(*) FROM room_members WHERE room_id = $1 AND role = 'owner' AND user_id <> $2"
)
_OTHER_MEMBERS = (
    "SELECT count(*) FROM (SELECT 1 FROM room_members"
    " WHERE room_id = $1 AND user_id <> $2 LIMIT 1) AS any_other"
)
_SET_ROLE = "UPDATE room_members SET role = $3 WHERE room_id = $1 AND user_id = $2"
_REMOVE_MEMBER = "DELETE FROM room_members WHERE room_id = $1 AND user_id = $2"

#: Each kind of restriction's {table}, for the three statements below.
_TABLES = {"ban": "room_bans", "mute": "room_mutes"}
_RESTRICT = """
INSERT INTO {table} (room_id, user_id, reason, until, by_id, created_at, target_rank)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (room_id, user_id) DO UPDATE SET reason = excluded.reason,
    until = excluded.until, by_id = excluded.by_id, created_at = excluded.created_at,
    target_rank = excluded.target_rank
"""
#: A restriction as `_lift` weighs it: until when, and its person's rank when placed.
#: `until` is compared by the caller: SQLite 3.40 gets ``until IS NULL`` wrong in a
#: DELETE's RETURNING (0 for a NULL), so it is read first.
_RESTRICTED = "SELECT until, target_rank FROM {table} WHERE room_id = $1 AND user_id = $2"
_LIFT = "DELETE FROM {table} WHERE room_id = $1 AND user_id = $2"
#: The bans or mutes in force in room $1 at $2; {and_user}: one user's.
_RESTRICTIONS = """
SELECT x.room_id, x.user_id, u.name AS user_name, x.reason, x.until, x.by_id,
       b.name AS by_name, x.created_at
FROM {table} AS x
JOIN users AS u ON u.id = x.user_id
LEFT JOIN users AS b ON b.id = x.by_id
WHERE x.room_id = $1 AND (x.until IS NULL OR x.until > $2) {and_user}
ORDER BY x.created_at DESC, x.user_id
LIMIT $3
"""

#: An entry of the log: `audit_values` gives its values, in order.
INSERT_AUDIT = """
INSERT INTO audit_log (room_id, action, actor_id, actor_name, target_id, target_name,
                       message_id, reason, details, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
"""

#: A page of the audit log, newest first: one room's or every room's, and only some
#: entries ({filters}: `_audit_filters`).
_AUDIT = """
SELECT id, room_id, action, actor_id, actor_name, target_id, target_name, message_id,
       reason, details, created_at
FROM audit_log
WHERE id < $1 {filters}
ORDER BY id DESC
LIMIT $2
"""

#: The columns `update_room` may set, by the name its callers use.
ROOM_SETTINGS = {
    name: name
    for name in (
        "name",
        "topic",
        "is_private",
        "slow_mode_seconds",
        "retention_days",
        "link_previews",
    )
}


def _restriction(row: Row, dialect: Dialect) -> Restriction:
    return Restriction(
        room_id=row["room_id"],
        user_id=row["user_id"],
        user_name=row["user_name"],
        reason=row["reason"],
        until=None if row["until"] is None else dialect.moment(row["until"]),
        by_id=row["by_id"],
        by_name=row["by_name"],
        created_at=dialect.moment(row["created_at"]),
    )


def _audit_entry(row: Row, dialect: Dialect) -> AuditEntry:
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
        created_at=dialect.moment(row["created_at"]),
    )


def audit_values(entry: AuditEntry, created_at: object) -> tuple[object, ...]:
    """The values `INSERT_AUDIT` takes for `entry`, `created_at` as the engine keeps
    times (`Dialect.now`): the same text on both engines for the same entry."""
    return (
        *(entry.room_id, entry.action, entry.actor_id, entry.actor_name),
        *(entry.target_id, entry.target_name, entry.message_id, entry.reason),
        json.dumps(entry.details, separators=(",", ":"), sort_keys=True),
        created_at,
    )


async def insert_audit(conn: Connection, entry: AuditEntry) -> None:
    """Append `entry` to the log, in the caller's transaction (the change it records)."""
    await conn.execute(INSERT_AUDIT, *audit_values(entry, conn.dialect.now()))


async def _lock_room(conn: Connection, room_id: int) -> None:
    """Hold the room until the caller's writing transaction ends (module docstring)."""
    lock = conn.dialect.pick(sqlite=None, postgres=_LOCK_ROOM)
    if lock is not None:
        await conn.execute(lock, room_id)


async def _role(conn: Connection, room_id: int, user_id: int) -> str | None:
    return cast("str | None", await conn.fetchval(_MEMBER_ROLE, room_id, user_id))


async def _is_last_owner(conn: Connection, room_id: int, user_id: int) -> bool:
    return bool(await conn.fetchval(_OTHER_OWNERS, room_id, user_id) == 0)


def _last_owner(room_id: int, user_id: int) -> LastOwner:
    return LastOwner(f"UID {user_id} is the last owner of room {room_id}")


async def _set_member_role(
    conn: Connection, room_id: int, user_id: int, role: str, audit: AuditEntry
) -> str | None:
    await _lock_room(conn, room_id)
    before = await _role(conn, room_id, user_id)
    if before is None or before == role:
        return before
    if before == "owner" and await _is_last_owner(conn, room_id, user_id):
        raise _last_owner(room_id, user_id)
    await conn.execute(_SET_ROLE, room_id, user_id, role)
    await insert_audit(conn, audit)
    return before


async def _remove_member(
    conn: Connection,
    room_id: int,
    user_id: int,
    audit: AuditEntry | None,
    keep_an_owner: bool,
    by_id: int,
    reason: str,
) -> Departure | None:
    await lock_positions(conn)  # before the room's lock (chat.store.departures)
    await _lock_room(conn, room_id)
    before = await _role(conn, room_id, user_id)
    if before is None:
        return None
    if (
        keep_an_owner
        and before == "owner"
        and await _is_last_owner(conn, room_id, user_id)
        and await conn.fetchval(_OTHER_MEMBERS, room_id, user_id)
    ):
        raise _last_owner(room_id, user_id)
    await conn.execute(_REMOVE_MEMBER, room_id, user_id)
    await refresh_member_key(conn, room_id)  # a group direct conversation's set changed
    if audit is not None:
        await insert_audit(conn, audit)
    return await record_departure(conn, room_id, user_id, by_id, reason)


async def _restrict(
    conn: Connection,
    kind: str,
    room_id: int,
    user_id: int,
    reason: str,
    until: datetime | None,
    by_id: int,
    audit: AuditEntry,
    target_rank: int,
) -> Departure | None:
    dialect = conn.dialect
    if kind == "ban":
        await lock_positions(conn)  # before the room's lock (chat.store.departures)
    await _lock_room(conn, room_id)
    until_value = None if until is None else dialect.timestamp(until)
    sql = _RESTRICT.format(table=_TABLES[kind])
    await conn.execute(
        sql, room_id, user_id, reason, until_value, by_id, dialect.now(), target_rank
    )
    departure = None
    # A ban takes them out too: a member's departure takes its place in the stream.
    if kind == "ban" and await conn.execute(_REMOVE_MEMBER, room_id, user_id):
        departure = await record_departure(
            conn, room_id, user_id, by_id, reason, banned=True, until=until
        )
    await insert_audit(conn, audit)
    return departure


async def _lift(
    conn: Connection,
    kind: str,
    room_id: int,
    user_id: int,
    audit: AuditEntry,
    check: Callable[[int], None] | None,
) -> bool:
    await _lock_room(conn, room_id)
    table = _TABLES[kind]
    found = await conn.fetchrow(_RESTRICTED.format(table=table), room_id, user_id)
    if found is None:
        return False
    # `until` and `dialect.now()` are of one type on each engine (ms, or a datetime).
    if found["until"] is not None and found["until"] <= conn.dialect.now():
        await conn.execute(_LIFT.format(table=table), room_id, user_id)
        return False  # one whose time had passed: gone, and nothing to lift
    if check is not None:
        check(found["target_rank"])  # a refusal rolls the transaction back
    await conn.execute(_LIFT.format(table=table), room_id, user_id)
    await insert_audit(conn, audit)
    return True


async def _update_room(
    conn: Connection, room_id: int, changes: dict[str, Any], audit: AuditEntry
) -> Room:
    assignments = ", ".join(f"{ROOM_SETTINGS[name]} = ${n}" for n, name in enumerate(changes, 2))
    await conn.execute(f"UPDATE rooms SET {assignments} WHERE id = $1", room_id, *changes.values())
    await insert_audit(conn, audit)
    return stored_room(await conn.fetchrow(ROOM_BY_ID, room_id), conn.dialect)


class StoredModeration(StoreBase):
    """`Moderation`: running a room, each change with its audit entry."""

    async def member_role(self, room_id: int, user_id: int) -> str | None:
        return await self.db.run(_role, room_id, user_id)

    async def set_member_role(
        self, room_id: int, user_id: int, role: str, audit: AuditEntry
    ) -> str | None:
        return await self.db.transaction(_set_member_role, room_id, user_id, role, audit)

    async def remove_member(
        self,
        room_id: int,
        user_id: int,
        *,
        audit: AuditEntry | None,
        keep_an_owner: bool,
        by_id: int,
        reason: str = "",
    ) -> Departure | None:
        return await self.db.transaction(
            _remove_member, room_id, user_id, audit, keep_an_owner, by_id, reason
        )

    async def restrict(
        self,
        kind: str,
        room_id: int,
        user_id: int,
        *,
        reason: str,
        until: datetime | None,
        by_id: int,
        audit: AuditEntry,
        target_rank: int = 0,
    ) -> Departure | None:
        return await self.db.transaction(
            _restrict, kind, room_id, user_id, reason, until, by_id, audit, target_rank
        )

    async def lift(
        self,
        kind: str,
        room_id: int,
        user_id: int,
        audit: AuditEntry,
        *,
        check: Callable[[int], None] | None = None,
    ) -> bool:
        return await self.db.transaction(_lift, kind, room_id, user_id, audit, check)

    async def restrictions(
        self, kind: str, room_id: int, *, user_id: int | None = None, limit: int
    ) -> list[Restriction]:
        args: tuple[Any, ...] = (room_id, self.dialect.now(), limit)
        and_user = ""
        if user_id is not None:
            args, and_user = (*args, user_id), "AND x.user_id = $4"
        sql = _RESTRICTIONS.format(table=_TABLES[kind], and_user=and_user)
        rows = await self.db.fetch(sql, *args)
        return [_restriction(row, self.dialect) for row in rows]

    async def update_room(self, room_id: int, changes: dict[str, Any], audit: AuditEntry) -> Room:
        try:
            return await self.db.transaction(_update_room, room_id, changes, audit)
        except UniqueViolation as error:
            if error.on("rooms.name"):
                raise RoomNameTaken(str(changes.get("name"))) from None
            raise

    async def add_audit(self, entry: AuditEntry) -> None:
        await self.db.run(insert_audit, entry)

    async def audit_entries(
        self,
        room_id: int | None,
        *,
        before: int | None,
        limit: int,
        action: str | None = None,
        user_id: int | None = None,
    ) -> list[AuditEntry]:
        args: list[Any] = [NO_UPPER_BOUND if before is None else before, limit]
        filters = []
        for value, clause in (
            (room_id, "room_id = ${n}"),
            (action, "action = ${n}"),
            (user_id, "(actor_id = ${n} OR target_id = ${n})"),
        ):
            if value is not None:
                args.append(value)
                filters.append("AND " + clause.format(n=len(args)))
        rows = await self.db.fetch(_AUDIT.format(filters=" ".join(filters)), *args)
        return [_audit_entry(row, self.dialect) for row in rows]
