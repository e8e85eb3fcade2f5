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
    id             text    PRIMARY KEY,
    user_id        bigint  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_hash    text    NOT NULL,
    previous_hash  text,
    generation     bigint  NOT NULL DEFAULT 0,
    token_version  bigint  NOT NULL,
    remember       boolean NOT NULL,
    created_at     bigint  NOT NULL,
    rotated_at     bigint  NOT NULL,
    last_used_at   bigint  NOT NULL,
    expires_at     bigint  NOT NULL,
    revoked_at     bigint
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
