"""The operators' console's reads and writes of accounts (`Administration`), on both
engines: a search over every account, one account seen whole, and an account turned off
(deactivated: its row, messages and name stay; its tokens and sessions end) and on."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from chat.core.admin_records import Membership, RoomSummary, UserOverview
from chat.core.moderation_records import AuditEntry
from chat.core.records import User
from chat.store.accounts import USER_COLUMNS, user_from_row
from chat.store.base import StoreBase
from chat.store.database import Connection
from chat.store.moderation import insert_audit

_SEARCH = f"""
SELECT {USER_COLUMNS} FROM users
WHERE erased_at IS NULL AND id > $1 AND (
    $2 = '' OR lower(name) LIKE $3 ESCAPE '\\'
    OR lower(coalesce(display_name, '')) LIKE $3 ESCAPE '\\'
    OR lower(coalesce(email, '')) LIKE $3 ESCAPE '\\'
)
ORDER BY id LIMIT $4
"""
_USER = f"SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND erased_at IS NULL"
_ROOMS = """
SELECT r.id, r.name, r.kind FROM room_members m JOIN rooms r ON r.id = m.room_id
WHERE m.user_id = $1 ORDER BY r.id LIMIT $2
"""
_ROOM_COUNT = "SELECT count(*) FROM room_members WHERE user_id = $1"
_OPEN_SESSIONS = """
SELECT count(*) FROM sessions
WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND token_version = $3
"""
_LAST_SEEN = "SELECT max(last_used_at) FROM sessions WHERE user_id = $1"
_TWO_FACTOR_ON = "SELECT 1 FROM two_factor WHERE user_id = $1 AND enabled_at IS NOT NULL"

_ROOMS_FOUND = """
SELECT r.id, r.name, r.kind, r.is_private, r.archived, r.created_at,
    (SELECT count(*) FROM room_members m WHERE m.room_id = r.id) AS members,
    (SELECT g.created_at FROM messages g WHERE g.room_id = r.id ORDER BY g.id DESC LIMIT 1)
        AS last_message_at
FROM rooms r
WHERE r.kind IN ('lobby', 'group') AND r.id > $1
    AND ($2 = '' OR lower(coalesce(r.name, '')) LIKE $3 ESCAPE '\\')
ORDER BY r.id LIMIT $4
"""
#: The owners listed per room, at most.
_OWNERS_SHOWN = 5
_OWNERS = """
SELECT m.room_id, u.id, u.name FROM room_members m JOIN users u ON u.id = m.user_id
WHERE m.role = 'owner' AND {ids} ORDER BY m.room_id, u.id
"""

_DEACTIVATE = f"""
UPDATE users SET deactivated_at = coalesce(deactivated_at, $2),
    token_version = token_version + 1
WHERE id = $1 AND erased_at IS NULL RETURNING {USER_COLUMNS}
"""
_REACTIVATE = f"""
UPDATE users SET deactivated_at = NULL WHERE id = $1 AND erased_at IS NULL
RETURNING {USER_COLUMNS}
"""
_END_SESSIONS = """
UPDATE sessions SET revoked_at = $2, expires_at = $2 WHERE user_id = $1 AND revoked_at IS NULL
"""


def _contains(text: str) -> str:
    """A LIKE pattern for `text` anywhere, its `%`, `_` and `\\` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def _overview(
    conn: Connection, user_id: int, now: int, most_rooms: int
) -> UserOverview | None:
    user = user_from_row(await conn.fetchrow(_USER, user_id), conn.dialect)
    if user is None:
        return None
    rooms = await conn.fetch(_ROOMS, user_id, most_rooms)
    last_seen = await conn.fetchval(_LAST_SEEN, user_id)
    return UserOverview(
        user=user,
        rooms=[Membership(row[0], row[1], row[2]) for row in rooms],
        room_count=int(await conn.fetchval(_ROOM_COUNT, user_id)),
        sessions=int(await conn.fetchval(_OPEN_SESSIONS, user_id, now, user.token_version)),
        last_seen=None if last_seen is None else datetime.fromtimestamp(last_seen, UTC),
        two_factor=await conn.fetchval(_TWO_FACTOR_ON, user_id) is not None,
    )


async def _set_active(
    conn: Connection, user_id: int, active: bool, now: int, audit: AuditEntry
) -> User | None:
    if active:
        row = await conn.fetchrow(_REACTIVATE, user_id)
    else:
        row = await conn.fetchrow(_DEACTIVATE, user_id, conn.dialect.now())
    user = user_from_row(row, conn.dialect)
    if user is None:
        return None
    if not active:
        await conn.execute(_END_SESSIONS, user_id, now)
    await insert_audit(conn, dataclasses.replace(audit, target_id=user.id, target_name=user.name))
    return user


async def _rooms_found(conn: Connection, text: str, after: int, limit: int) -> list[RoomSummary]:
    dialect = conn.dialect
    rows = await conn.fetch(_ROOMS_FOUND, after, text, _contains(text), limit)
    owners: dict[int, list[tuple[int, str]]] = {}
    if rows:
        ids = dialect.list_param([row["id"] for row in rows])
        for owner in await conn.fetch(_OWNERS.format(ids=dialect.is_among("m.room_id", 1)), ids):
            listed = owners.setdefault(owner[0], [])
            if len(listed) < _OWNERS_SHOWN:
                listed.append((owner[1], owner[2]))
    return [
        RoomSummary(
            room_id=row["id"],
            name=row["name"],
            kind=row["kind"],
            is_private=bool(row["is_private"]),
            archived=bool(row["archived"]),
            created_at=dialect.moment(row["created_at"]),
            members=int(row["members"]),
            owners=owners.get(row["id"], []),
            last_message_at=(
                None if row["last_message_at"] is None else dialect.moment(row["last_message_at"])
            ),
        )
        for row in rows
    ]


class StoredAdministration(StoreBase):
    """`Administration`."""

    async def search_users(self, text: str, *, after: int, limit: int) -> list[User]:
        wanted = text.lower()
        rows = await self.db.fetch(_SEARCH, after, wanted, _contains(wanted), limit)
        return [user for row in rows if (user := user_from_row(row, self.dialect)) is not None]

    async def user_overview(
        self, user_id: int, *, now: int, most_rooms: int
    ) -> UserOverview | None:
        return await self.db.run(_overview, user_id, now, most_rooms)

    async def set_active(
        self, user_id: int, active: bool, *, now: int, audit: AuditEntry
    ) -> User | None:
        return await self.db.transaction(_set_active, user_id, active, now, audit)

    async def search_rooms(self, text: str, *, after: int, limit: int) -> list[RoomSummary]:
        return await self.db.run(_rooms_found, text.lower(), after, limit)
