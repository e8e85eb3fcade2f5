"""The SQLite store's `Sessions`: browser sessions (chat/store/shared/sessions.py)."""

from __future__ import annotations

import sqlite3

from chat.core.records import SessionRecord
from chat.store.shared import sessions as sql
from chat.store.sqlite.base import SQLiteBase, transaction


class SQLiteSessions(SQLiteBase):
    """`Sessions` on SQLite."""

    async def create_session(self, session: SessionRecord) -> None:
        values = sql.creation_values(session)
        create = sql.CREATE_SQL.format(**{name: f":{name}" for name in values})
        prune = sql.PRUNE_SQL.format(before=":before")
        before = {"before": session.created_at - sql.KEPT_AFTER_END_S}

        def write(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                conn.execute(prune, before)
                conn.execute(create, values)

        await self._run(write)

    async def session(self, session_id: str) -> SessionRecord | None:
        select = sql.SELECT_SQL.format(id="?")
        return await self._run(
            lambda conn: sql.session_from_row(conn.execute(select, (session_id,)).fetchone())
        )

    async def rotate_session(
        self, session_id: str, old_hash: str, new_hash: str, *, now: int, expires_at: int
    ) -> bool:
        rotate = sql.ROTATE_SQL.format(
            id=":id", old_hash=":old", new_hash=":new", now=":now", expires=":expires"
        )
        values = {
            "id": session_id,
            "old": old_hash,
            "new": new_hash,
            "now": now,
            "expires": expires_at,
        }
        return await self._run(lambda conn: conn.execute(rotate, values).rowcount == 1)

    async def revoke_session(self, session_id: str, *, now: int) -> None:
        revoke = sql.REVOKE_SQL.format(id=":id", now=":now")
        await self._run(lambda conn: conn.execute(revoke, {"id": session_id, "now": now}))

    async def revoke_user_sessions(self, user_id: int, *, now: int) -> None:
        revoke = sql.REVOKE_USER_SQL.format(user=":user", now=":now")
        await self._run(lambda conn: conn.execute(revoke, {"user": user_id, "now": now}))
