"""Browser sessions (`chat.app.accounts.sessions`): the SQL both stores run, and their rows.

Rotation is a compare-and-swap (`ROTATE_SQL`): the new secret replaces the current one
only if the current one is still the secret presented, so two refreshes of the same
secret, on one instance or two, rotate it once; the loser reads the row again and finds
its secret one generation old (`chat.app.accounts.sessions` gives it the grace). Ending a session
sets its expiry to the moment it ended, and making a session drops every session (anyone's)
that ended more than `KEPT_AFTER_END_S` ago (`PRUNE_SQL`, by an index on expires_at): the
table holds the live sessions and a week of ended ones, with no task to sweep it. The
placeholders ({id}, {user}, ...) are the stores' own.
"""

from __future__ import annotations

from chat.core.records import SessionRecord
from chat.store.shared.rows import Row

#: How long an ended session's row is kept (seconds): a stolen cookie presented within
#: this time is logged as such rather than as unknown.
KEPT_AFTER_END_S = 7 * 24 * 3600

CREATE_SQL = """
INSERT INTO sessions (id, user_id, secret_hash, token_version, remember, created_at,
                      rotated_at, last_used_at, expires_at)
VALUES ({id}, {user}, {hash}, {version}, {remember}, {created}, {created}, {created},
        {expires})
"""


def creation_values(session: SessionRecord) -> dict[str, object]:
    """`CREATE_SQL`'s values for a new session, by placeholder name (in order)."""
    return {
        "id": session.id,
        "user": session.user_id,
        "hash": session.secret_hash,
        "version": session.token_version,
        "remember": session.remember,
        "created": session.created_at,
        "expires": session.expires_at,
    }


PRUNE_SQL = "DELETE FROM sessions WHERE expires_at < {before}"

SELECT_SQL = "SELECT * FROM sessions WHERE id = {id}"

ROTATE_SQL = """
UPDATE sessions SET previous_hash = secret_hash, secret_hash = {new_hash},
    generation = generation + 1, rotated_at = {now}, last_used_at = {now},
    expires_at = {expires}
WHERE id = {id} AND secret_hash = {old_hash} AND revoked_at IS NULL
"""

REVOKE_SQL = """
UPDATE sessions SET revoked_at = {now}, expires_at = {now}
WHERE id = {id} AND revoked_at IS NULL
"""

REVOKE_USER_SQL = """
UPDATE sessions SET revoked_at = {now}, expires_at = {now}
WHERE user_id = {user} AND revoked_at IS NULL
"""


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
