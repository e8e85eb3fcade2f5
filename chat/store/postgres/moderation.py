"""The PostgreSQL store's `Moderation`: roles, removals, bans, mutes, room settings and
the audit log (chat/store/shared/moderation.py's SQL). Each write is one transaction
that first locks the room's row, so the moderators of one room change it one at a time
(two owners stepping down at once cannot leave it without one), with its audit entry."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from chat.core.errors import LastOwner
from chat.core.records import AuditEntry, Restriction, Room
from chat.store.postgres.base import PostgresBase, as_is, room_of, unique_violation
from chat.store.shared.moderation import (
    AUDIT_SQL,
    LIFT_SQL,
    LOCK_ROOM_SQL,
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

if TYPE_CHECKING:
    import asyncpg

_ROOM_USER = {"room": "$1", "user": "$2"}
_LOCK_ROOM = LOCK_ROOM_SQL.format(room="$1")
_MEMBER_ROLE = MEMBER_ROLE_SQL.format(**_ROOM_USER)
_OTHER_OWNERS = OTHER_OWNERS_SQL.format(**_ROOM_USER)
_OTHER_MEMBERS = OTHER_MEMBERS_SQL.format(**_ROOM_USER)
_SET_ROLE = SET_ROLE_SQL.format(role="$3", **_ROOM_USER)
_REMOVE_MEMBER = REMOVE_MEMBER_SQL.format(**_ROOM_USER)
_INSERT_AUDIT = insert_audit_sql([f"${n}" for n in range(1, 10)], now="now()")


async def _audit(conn: asyncpg.Connection, entry: AuditEntry) -> None:
    await conn.execute(_INSERT_AUDIT, *audit_values(entry))


async def _locked_role(conn: asyncpg.Connection, room_id: int, user_id: int) -> str | None:
    """Lock the room (in the caller's transaction), then read the user's role in it."""
    await conn.execute(_LOCK_ROOM, room_id)
    role: str | None = await conn.fetchval(_MEMBER_ROLE, room_id, user_id)
    return role


async def _is_last_owner(conn: asyncpg.Connection, room_id: int, user_id: int) -> bool:
    return bool(await conn.fetchval(_OTHER_OWNERS, room_id, user_id) == 0)


class PostgresModeration(PostgresBase):
    """`Moderation` on PostgreSQL."""

    async def member_role(self, room_id: int, user_id: int) -> str | None:
        role: str | None = await self._call(self._pool.fetchval, _MEMBER_ROLE, room_id, user_id)
        return role

    async def set_member_role(
        self, room_id: int, user_id: int, role: str, audit: AuditEntry
    ) -> str | None:
        async def change(pool: asyncpg.Pool) -> str | None:
            async with pool.acquire() as conn, conn.transaction():
                before = await _locked_role(conn, room_id, user_id)
                if before is None or before == role:
                    return before
                if before == "owner" and await _is_last_owner(conn, room_id, user_id):
                    raise LastOwner(f"UID {user_id} is the last owner of room {room_id}")
                await conn.execute(_SET_ROLE, room_id, user_id, role)
                await _audit(conn, audit)
                return before

        return await self._call(change, self._pool)

    async def remove_member(
        self, room_id: int, user_id: int, *, audit: AuditEntry | None, keep_an_owner: bool
    ) -> str | None:
        async def remove(pool: asyncpg.Pool) -> str | None:
            async with pool.acquire() as conn, conn.transaction():
                before = await _locked_role(conn, room_id, user_id)
                if before is None:
                    return None
                if (
                    keep_an_owner
                    and before == "owner"
                    and await _is_last_owner(conn, room_id, user_id)
                    and await conn.fetchval(_OTHER_MEMBERS, room_id, user_id)
                ):
                    raise LastOwner(f"UID {user_id} is the last owner of room {room_id}")
                await conn.execute(_REMOVE_MEMBER, room_id, user_id)
                if audit is not None:
                    await _audit(conn, audit)
                return before

        return await self._call(remove, self._pool)

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
            room="$1",
            user="$2",
            reason="$3",
            until="$4",
            by="$5",
            now="now()",
        )

        async def restrict(pool: asyncpg.Pool) -> str | None:
            async with pool.acquire() as conn, conn.transaction():
                removed = await _locked_role(conn, room_id, user_id)
                await conn.execute(sql, room_id, user_id, reason, until, by_id)
                if kind == "ban":  # a ban removes them too
                    await conn.execute(_REMOVE_MEMBER, room_id, user_id)
                else:
                    removed = None
                await _audit(conn, audit)
                return removed

        return await self._call(restrict, self._pool)

    async def lift(self, kind: str, room_id: int, user_id: int, audit: AuditEntry) -> bool:
        sql = LIFT_SQL.format(table=RESTRICTION_TABLES[kind], room="$1", user="$2")

        async def lift(pool: asyncpg.Pool) -> bool:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(_LOCK_ROOM, room_id)
                found = await conn.fetchrow(sql, room_id, user_id)
                if found is None:
                    return False
                if found["until"] is not None and not await conn.fetchval(
                    "SELECT $1::timestamptz > now()", found["until"]
                ):
                    return False  # its time had passed: nothing to lift
                await _audit(conn, audit)
                return True

        return await self._call(lift, self._pool)

    async def restrictions(
        self, kind: str, room_id: int, *, user_id: int | None = None, limit: int
    ) -> list[Restriction]:
        and_user = "" if user_id is None else "AND x.user_id = $3"
        sql = RESTRICTIONS_SQL.format(
            table=RESTRICTION_TABLES[kind], room="$1", now="now()", and_user=and_user, limit="$2"
        )
        args = (room_id, limit) if user_id is None else (room_id, limit, user_id)
        rows = await self._call(self._pool.fetch, sql, *args)
        return [restriction_from_row(row, as_is) for row in rows]

    async def update_room(self, room_id: int, changes: dict[str, Any], audit: AuditEntry) -> Room:
        columns = [ROOM_SETTINGS[name] for name in changes]
        assignments = ", ".join(f"{column} = ${i}" for i, column in enumerate(columns, 2))

        async def update(pool: asyncpg.Pool) -> Room | None:
            import asyncpg

            async with pool.acquire() as conn, conn.transaction():
                try:
                    await conn.execute(
                        f"UPDATE rooms SET {assignments} WHERE id = $1", room_id, *changes.values()
                    )
                except asyncpg.UniqueViolationError as error:
                    raise unique_violation(error, str(changes.get("name"))) from None
                await _audit(conn, audit)
                return room_of(await conn.fetchrow(f"{ROOM_SELECT} WHERE r.id = $1", room_id))

        room = await self._call(update, self._pool)
        assert room is not None
        return room

    async def add_audit(self, entry: AuditEntry) -> None:
        await self._call(self._pool.execute, _INSERT_AUDIT, *audit_values(entry))

    async def audit_entries(
        self, room_id: int | None, *, before: int | None, limit: int
    ) -> list[AuditEntry]:
        and_room = "" if room_id is None else "AND room_id = $3"
        sql = AUDIT_SQL.format(before="$1", and_room=and_room, limit="$2")
        args: tuple[Any, ...] = (NO_UPPER_BOUND if before is None else before, limit)
        if room_id is not None:
            args = (*args, room_id)
        rows = await self._call(self._pool.fetch, sql, *args)
        return [audit_from_row(row, as_is) for row in rows]
