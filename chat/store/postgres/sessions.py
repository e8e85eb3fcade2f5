"""The PostgreSQL store's `Sessions`: browser sessions (chat/store/shared/sessions.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chat.core.records import SessionRecord
from chat.store.postgres.base import PostgresBase
from chat.store.shared import sessions as sql

if TYPE_CHECKING:
    import asyncpg

_PRUNE = sql.PRUNE_SQL.format(before="$1")
_SELECT = sql.SELECT_SQL.format(id="$1")
_ROTATE = sql.ROTATE_SQL.format(id="$1", old_hash="$2", new_hash="$3", now="$4", expires="$5")
_REVOKE = sql.REVOKE_SQL.format(id="$1", now="$2")
_REVOKE_USER = sql.REVOKE_USER_SQL.format(user="$1", now="$2")


async def _aio_create(pool: asyncpg.Pool, session: SessionRecord) -> None:
    """Drop the sessions that ended long ago and make the new one, in one transaction."""
    values = sql.creation_values(session)
    create = sql.CREATE_SQL.format(**{name: f"${i}" for i, name in enumerate(values, 1)})
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_PRUNE, session.created_at - sql.KEPT_AFTER_END_S)
        await conn.execute(create, *values.values())


class PostgresSessions(PostgresBase):
    """`Sessions` on PostgreSQL."""

    async def create_session(self, session: SessionRecord) -> None:
        await self._call(_aio_create, self._pool, session)

    async def session(self, session_id: str) -> SessionRecord | None:
        row = await self._call(self._pool.fetchrow, _SELECT, session_id)
        return sql.session_from_row(row)

    async def rotate_session(
        self, session_id: str, old_hash: str, new_hash: str, *, now: int, expires_at: int
    ) -> bool:
        status: str = await self._call(
            self._pool.execute, _ROTATE, session_id, old_hash, new_hash, now, expires_at
        )
        return status == "UPDATE 1"

    async def revoke_session(self, session_id: str, *, now: int) -> None:
        await self._call(self._pool.execute, _REVOKE, session_id, now)

    async def revoke_user_sessions(self, user_id: int, *, now: int) -> None:
        await self._call(self._pool.execute, _REVOKE_USER, user_id, now)
