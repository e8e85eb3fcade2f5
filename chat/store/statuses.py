"""Users' statuses (`Statuses`), on both engines (sql/*/00NN_user_status.sql): one row per
user who has one, replaced whole when set again.

A row whose ``until`` has passed is no status: every read leaves it out (the time asked
about is the caller's, so the server's clock decides, as for push claims), whether or
not `clear_expired` has swept it yet. The sweep returns whose statuses it removed, so
whoever tells of an ending can tell it once.
"""

from __future__ import annotations

from datetime import datetime

from chat.core.statuses import UserStatus
from chat.store.base import StoreBase
from chat.store.database import Connection, Row
from chat.store.dialect import Dialect

_COLUMNS = "user_id, emoji, text, presence, until, set_at"
_LIVE_USER = "SELECT 1 FROM users WHERE id = $1 AND erased_at IS NULL"
_SET = """
INSERT INTO user_statuses (user_id, emoji, text, presence, until, set_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (user_id) DO UPDATE SET emoji = excluded.emoji, text = excluded.text,
    presence = excluded.presence, until = excluded.until, set_at = excluded.set_at
"""
_CLEAR = "DELETE FROM user_statuses WHERE user_id = $1 RETURNING user_id"
_OF = f"""
SELECT {_COLUMNS} FROM user_statuses
WHERE user_id = $1 AND (until IS NULL OR until > $2)
"""
_IN_FORCE = f"""
SELECT {_COLUMNS} FROM user_statuses WHERE until IS NULL OR until > $1 ORDER BY user_id
"""
_EXPIRED = "DELETE FROM user_statuses WHERE until <= $1 RETURNING user_id"


def _status_from_row(row: Row, dialect: Dialect) -> UserStatus:
    until = row["until"]
    return UserStatus(
        emoji=row["emoji"],
        text=row["text"],
        presence=row["presence"],
        until=None if until is None else dialect.moment(until),
        set_at=dialect.moment(row["set_at"]),
    )


class StoredStatuses(StoreBase):
    """`Statuses`."""

    async def set_status(self, user_id: int, status: UserStatus) -> bool:
        until = None if status.until is None else self.dialect.timestamp(status.until)
        values = (status.emoji, status.text, status.presence, until)
        set_at = self.dialect.timestamp(status.set_at)

        async def upsert(conn: Connection) -> bool:
            if await conn.fetchval(_LIVE_USER, user_id) is None:
                return False  # erased (or never was): nobody to have a status
            await conn.execute(_SET, user_id, *values, set_at)
            return True

        return await self.db.transaction(upsert)

    async def clear_status(self, user_id: int) -> bool:
        return await self.db.fetchrow(_CLEAR, user_id) is not None

    async def status_of(self, user_id: int, now: datetime) -> UserStatus | None:
        row = await self.db.fetchrow(_OF, user_id, self.dialect.timestamp(now))
        return None if row is None else _status_from_row(row, self.dialect)

    async def statuses_in_force(self, now: datetime) -> dict[int, UserStatus]:
        rows = await self.db.fetch(_IN_FORCE, self.dialect.timestamp(now))
        return {row["user_id"]: _status_from_row(row, self.dialect) for row in rows}

    async def clear_expired(self, now: datetime) -> list[int]:
        rows = await self.db.fetch(_EXPIRED, self.dialect.timestamp(now))
        return sorted(row["user_id"] for row in rows)
