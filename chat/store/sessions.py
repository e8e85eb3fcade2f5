"""Browser sessions (`chat.app.accounts.sessions`): the `Sessions` role, on both engines.

Rotation is a compare-and-swap (`_ROTATE`): the new secret replaces the current one only
if the current one is still the secret presented, so two refreshes of the same secret,
on one instance or two, rotate it once; the loser reads the row again and finds its
secret one generation old (`chat.app.accounts.sessions` gives it the grace). Ending a
session sets its expiry to the moment it ended, and making a session drops every
session (anyone's) that ended more than `KEPT_AFTER_END_S` ago (`_PRUNE`, by an index on
expires_at): the table holds the live sessions and a week of ended ones, with no task to
sweep it. Times are integer milliseconds on both engines.
"""

from __future__ import annotations

from chat.core.records import SessionRecord
from chat.store.base import StoreBase
from chat.store.database import Connection, Row

#: How long an ended session's row is kept (seconds): a stolen cookie presented within
#: this time is logged as such rather than as unknown.
KEPT_AFTER_END_S = 7 * 24 * 3600

_CREATE = """
INSERT INTO sessions (id, user_id, secret_hash, token_version, remember, created_at,
                      rotated_at, last_used_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $6, $6, $7)
"""

_PRUNE = "DELETE FROM sessions WHERE expires_at < $1"

_SELECT = "SELECT * FROM sessions WHERE id = $1"

_ROTATE = """
UPDATE sessions SET previous_hash = secret_hash, secret_hash = $3,
    generation = generation + 1, rotated_at = $4, last_used_at = $4, expires_at = $5
WHERE id = $1 AND secret_hash = $2 AND revoked_at IS NULL
"""

_REVOKE = """
UPDATE sessions SET revoked_at = $2, expires_at = $2
WHERE id = $1 AND revoked_at IS NULL
"""

_REVOKE_USER = """
UPDATE sessions SET revoked_at = $2, expires_at = $2
WHERE user_id = $1 AND revoked_at IS NULL
"""


async def _create(conn: Connection, session: SessionRecord) -> None:
    """Drop the sessions that ended long ago and make the new one (one transaction)."""
    await conn.execute(_PRUNE, session.created_at - KEPT_AFTER_END_S)
    await conn.execute(
        _CREATE,
        session.id,
        session.user_id,
        session.secret_hash,
        session.token_version,
        session.remember,
        session.created_at,
        session.expires_at,
    )


def session_from_row(row: Row | None) -> SessionRecord | None:
    if row is None:
        return None
    return SessionRecord(
        id=row["id"],
        user_id=row["user_id"],
        secret_hash=row["secret_hash"],
        previous_hash=row["previous_hash"],
        generation=row["generation"],
        token_version=row["token_version"],
        remember=bool(row["remember"]),
        created_at=row["created_at"],
        rotated_at=row["rotated_at"],
        last_used_at=row["last_used_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )


class StoredSessions(StoreBase):
    """`Sessions`: browser sessions, one row each."""

    async def create_session(self, session: SessionRecord) -> None:
        await self.db.transaction(_create, session)

    async def session(self, session_id: str) -> SessionRecord | None:
        return session_from_row(await self.db.fetchrow(_SELECT, session_id))

    async def rotate_session(
        self, session_id: str, old_hash: str, new_hash: str, *, now: int, expires_at: int
    ) -> bool:
        changed = await self.db.execute(_ROTATE, session_id, old_hash, new_hash, now, expires_at)
        return changed == 1

    async def revoke_session(self, session_id: str, *, now: int) -> None:
        await self.db.execute(_REVOKE, session_id, now)

    async def revoke_user_sessions(self, user_id: int, *, now: int) -> None:
        await self.db.execute(_REVOKE_USER, user_id, now)
