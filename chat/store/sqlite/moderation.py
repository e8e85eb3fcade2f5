"""The SQLite store's `Moderation`: roles, removals, bans, mutes, room settings and the
audit log (chat/store/shared/moderation.py's SQL). Each write is one transaction under
SQLite's single write lock, with its audit entry."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from chat.core.errors import LastOwner
from chat.core.records import AuditEntry, Restriction, Room
from chat.store.shared.moderation import (
    AUDIT_SQL,
    LIFT_SQL,
    MEMBER_ROLE_SQL,
    OTHER_MEMBERS_SQL,
    OTHER_OWNERS_SQL,
    REMOVE_MEMBER_SQL,
    RESTRICT_SQL,
    RESTRICTION_TABLES,
    RESTRICTIONS_SQL,
    ROOM_SETTINGS,
    SET_ROLE_SQL,
    audit_from_row,
    audit_values,
    insert_audit_sql,
    restriction_from_row,
)
from chat.store.shared.rooms import ROOM_SELECT
from chat.store.shared.rows import NO_UPPER_BOUND
from chat.store.sqlite.base import (
    SQLiteBase,
    from_ms,
    integrity_error,
    now_ms,
    room_of,
    transaction,
)

_ROOM_USER = {"room": "?", "user": "?"}
_MEMBER_ROLE = MEMBER_ROLE_SQL.format(**_ROOM_USER)
_OTHER_OWNERS = OTHER_OWNERS_SQL.format(**_ROOM_USER)
_OTHER_MEMBERS = OTHER_MEMBERS_SQL.format(**_ROOM_USER)
_SET_ROLE = SET_ROLE_SQL.format(role="?", **_ROOM_USER)
_REMOVE_MEMBER = REMOVE_MEMBER_SQL.format(**_ROOM_USER)
_INSERT_AUDIT = insert_audit_sql(["?"] * 9, now="?")


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def _audit(conn: sqlite3.Connection, entry: AuditEntry, now: int) -> None:
    conn.execute(_INSERT_AUDIT, (*audit_values(entry), now))


def _role(conn: sqlite3.Connection, room_id: int, user_id: int) -> str | None:
    found = conn.execute(_MEMBER_ROLE, (room_id, user_id)).fetchone()
    return None if found is None else str(found[0])


def _is_last_owner(conn: sqlite3.Connection, room_id: int, user_id: int) -> bool:
    return bool(conn.execute(_OTHER_OWNERS, (room_id, user_id)).fetchone()[0] == 0)


class SQLiteModeration(SQLiteBase):
    """`Moderation` on SQLite."""

    async def member_role(self, room_id: int, user_id: int) -> str | None:
        return await self._run(lambda conn: _role(conn, room_id, user_id))

    async def set_member_role(
        self, room_id: int, user_id: int, role: str, audit: AuditEntry
    ) -> str | None:
        def change(conn: sqlite3.Connection) -> str | None:
            with transaction(conn):
                before = _role(conn, room_id, user_id)
                if before is None or before == role:
                    return before
                if before == "owner" and _is_last_owner(conn, room_id, user_id):
                    raise LastOwner(f"UID {user_id} is the last owner of room {room_id}")
                conn.execute(_SET_ROLE, (role, room_id, user_id))
                _audit(conn, audit, now_ms())
                return before

        return await self._run(change)

    async def remove_member(
        self, room_id: int, user_id: int, *, audit: AuditEntry | None, keep_an_owner: bool
    ) -> str | None:
        def remove(conn: sqlite3.Connection) -> str | None:
            with transaction(conn):
                before = _role(conn, room_id, user_id)
                if before is None:
                    return None
                if (
                    keep_an_owner
                    and before == "owner"
                    and _is_last_owner(conn, room_id, user_id)
                    and conn.execute(_OTHER_MEMBERS, (room_id, user_id)).fetchone()[0]
                ):
                    raise LastOwner(f"UID {user_id} is the last owner of room {room_id}")
                conn.execute(_REMOVE_MEMBER, (room_id, user_id))
                if audit is not None:
                    _audit(conn, audit, now_ms())
                return before

        return await self._run(remove)

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
    ) -> str | None:
        sql = RESTRICT_SQL.format(
            table=RESTRICTION_TABLES[kind],
            room="?",
            user="?",
            reason="?",
            until="?",
            by="?",
            now="?",
        )

        def restrict(conn: sqlite3.Connection) -> str | None:
            now = now_ms()
            with transaction(conn):
                conn.execute(sql, (room_id, user_id, reason, _ms(until), by_id, now))
                removed = None
                if kind == "ban":  # a ban removes them too
                    removed = _role(conn, room_id, user_id)
                    conn.execute(_REMOVE_MEMBER, (room_id, user_id))
                _audit(conn, audit, now)
                return removed

        return await self._run(restrict)

    async def lift(self, kind: str, room_id: int, user_id: int, audit: AuditEntry) -> bool:
        sql = LIFT_SQL.format(table=RESTRICTION_TABLES[kind], room="?", user="?")

        def lift(conn: sqlite3.Connection) -> bool:
            now = now_ms()
            with transaction(conn):
                found = conn.execute(sql, (room_id, user_id)).fetchone()
                if found is None or (found[0] is not None and found[0] <= now):
                    return False  # none, or one whose time had passed: nothing to lift
                _audit(conn, audit, now)
                return True

        return await self._run(lift)

    async def restrictions(
        self, kind: str, room_id: int, *, user_id: int | None = None, limit: int
    ) -> list[Restriction]:
        and_user = "" if user_id is None else "AND x.user_id = :user"
        sql = RESTRICTIONS_SQL.format(
            table=RESTRICTION_TABLES[kind],
            room=":room",
            now=":now",
            and_user=and_user,
            limit=":limit",
        )
        values = {"room": room_id, "user": user_id, "now": now_ms(), "limit": limit}
        rows = await self._run(lambda conn: conn.execute(sql, values).fetchall())
        return [restriction_from_row(row, from_ms) for row in rows]

    async def update_room(self, room_id: int, changes: dict[str, Any], audit: AuditEntry) -> Room:
        columns = [ROOM_SETTINGS[name] for name in changes]
        assignments = ", ".join(f"{column} = ?" for column in columns)
        values = [int(v) if isinstance(v, bool) else v for v in changes.values()]

        def update(conn: sqlite3.Connection) -> Room:
            with transaction(conn):
                try:
                    conn.execute(f"UPDATE rooms SET {assignments} WHERE id = ?", (*values, room_id))
                except sqlite3.IntegrityError as error:
                    raise integrity_error(error, str(changes.get("name"))) from None
                _audit(conn, audit, now_ms())
                room = room_of(conn.execute(f"{ROOM_SELECT} WHERE r.id = ?", (room_id,)).fetchone())
            assert room is not None
            return room

        return await self._run(update)

    async def add_audit(self, entry: AuditEntry) -> None:
        def add(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                _audit(conn, entry, now_ms())

        await self._run(add)

    async def audit_entries(
        self, room_id: int | None, *, before: int | None, limit: int
    ) -> list[AuditEntry]:
        and_room = "" if room_id is None else "AND room_id = :room"
        sql = AUDIT_SQL.format(before=":before", and_room=and_room, limit=":limit")
        values = {
            "room": room_id,
            "before": NO_UPPER_BOUND if before is None else before,
            "limit": limit,
        }
        rows = await self._run(lambda conn: conn.execute(sql, values).fetchall())
        return [audit_from_row(row, from_ms) for row in rows]
