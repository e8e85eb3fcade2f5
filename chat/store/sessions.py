"""Browser sessions (`Sessions`), on both engines. Times are Unix seconds (integers).

Rotation is a compare-and-swap (`_ROTATE`), so two refreshes of the same secret, on one
instance or two, rotate it once (`chat.app.accounts.sessions` gives the loser its grace).
An ended session expires when it ended, and making a session drops every session that
ended over `KEPT_AFTER_END_S` ago: the table needs no task to sweep it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import fields

from chat.core.session_records import SessionRecord
from chat.store.base import StoreBase
from chat.store.database import Connection, Row

#: How long an ended session's row is kept (seconds): a stolen cookie presented within
#: this time is logged as such rather than as unknown.
KEPT_AFTER_END_S = 7 * 24 * 3600

_CREATE = """
INSERT INTO sessions (id, user_id, secret_hash, token_version, remember, created_at,
                      rotated_at, last_used_at, expires_at, device)
VALUES ($1, $2, $3, $4, $5, $6, $6, $6, $7, $8)
"""
_PRUNE = "DELETE FROM sessions WHERE expires_at < $1"
_SELECT = "SELECT * FROM sessions WHERE id = $1"
#: The sessions of user $1 that have not ended at $2 (and of no older token version than
#: $3: those ended with a password change), newest first.
_OF_USER = """
SELECT * FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
    AND token_version >= $3
ORDER BY last_used_at DESC, id LIMIT $4
"""
#: Which of the sessions $1 (a list) have not ended at $2.
_ALIVE = "SELECT id FROM sessions WHERE {ids} AND revoked_at IS NULL AND expires_at > $2"
#: Ending at $3 the session $1 if it is user $2's; its id if it did.
_REVOKE_OWN = """
UPDATE sessions SET revoked_at = $3, expires_at = $3
WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3
RETURNING id
"""

_ROTATE = """
UPDATE sessions SET previous_hash = secret_hash, secret_hash = $3,
    generation = generation + 1, rotated_at = $4, last_used_at = $4, expires_at = $5
WHERE id = $1 AND secret_hash = $2 AND revoked_at IS NULL
"""

#: Ending at $2 the session $1 ({column}: id), or every session of user $1 (user_id).
_REVOKE = """
UPDATE sessions SET revoked_at = $2, expires_at = $2 WHERE {column} = $1 AND revoked_at IS NULL
"""


async def _create(conn: Connection, session: SessionRecord) -> None:
    await conn.execute(_PRUNE, session.created_at - KEPT_AFTER_END_S)
    whose = (session.id, session.user_id, session.secret_hash, session.token_version)
    await conn.execute(
        _CREATE, *whose, session.remember, session.created_at, session.expires_at, session.device
    )


def _record(row: Row) -> SessionRecord:
    values = {field.name: row[field.name] for field in fields(SessionRecord)}
    return SessionRecord(**values | {"remember": bool(row["remember"])})


class StoredSessions(StoreBase):
    """`Sessions`: browser sessions, one row each."""

    async def create_session(self, session: SessionRecord) -> None:
        await self.db.transaction(_create, session)

    async def session(self, session_id: str) -> SessionRecord | None:
        row = await self.db.fetchrow(_SELECT, session_id)
        return None if row is None else _record(row)

    async def user_sessions(
        self, user_id: int, *, now: int, token_version: int, limit: int
    ) -> list[SessionRecord]:
        rows = await self.db.fetch(_OF_USER, user_id, now, token_version, limit)
        return [_record(row) for row in rows]

    async def ended_sessions(self, session_ids: Collection[str], *, now: int) -> set[str]:
        sql = _ALIVE.format(ids=self.dialect.is_among("id", 1, "text"))
        rows = await self.db.fetch(sql, self.dialect.list_param(list(session_ids)), now)
        return set(session_ids) - {row["id"] for row in rows}

    async def revoke_own_session(self, session_id: str, user_id: int, *, now: int) -> bool:
        return await self.db.fetchval(_REVOKE_OWN, session_id, user_id, now) is not None

    async def rotate_session(
        self, session_id: str, old_hash: str, new_hash: str, *, now: int, expires_at: int
    ) -> bool:
        return await self.db.execute(_ROTATE, session_id, old_hash, new_hash, now, expires_at) == 1

    async def revoke_session(self, session_id: str, *, now: int) -> None:
        await self.db.execute(_REVOKE.format(column="id"), session_id, now)

    async def revoke_user_sessions(self, user_id: int, *, now: int) -> None:
        await self.db.execute(_REVOKE.format(column="user_id"), user_id, now)
