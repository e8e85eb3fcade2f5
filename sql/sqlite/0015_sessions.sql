-- Browser sessions: a cookie that keeps a user signed in across tabs and, with
-- "keep me signed in", browser restarts (chat/app/accounts/sessions.py). The cookie carries the
-- session's id and a secret; only the secret's SHA-256 is stored (it is 32 random
-- bytes: no slow hash needed). Every refresh rotates the secret; the one before stays
-- good for a short grace (two tabs refreshing at once), and any other secret presented
-- with this id revokes the session (a stolen, rotated cookie). A session is only good
-- while its user's token_version is the one it was made with, so a password change or
-- a logout-everywhere ends it too. Times are Unix seconds. Ending a session also sets
-- its expires_at to then, so one index finds every row that ended long ago (pruned as
-- sessions are made: chat/store/sessions.py).
CREATE TABLE sessions (
    id             TEXT    PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_hash    TEXT    NOT NULL,
    previous_hash  TEXT,
    generation     INTEGER NOT NULL DEFAULT 0,
    token_version  INTEGER NOT NULL,
    remember       INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    rotated_at     INTEGER NOT NULL,
    last_used_at   INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    revoked_at     INTEGER
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
