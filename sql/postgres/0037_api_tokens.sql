-- compatible-with-older-code: yes
--
-- Personal access tokens (chat/core/api_tokens.py): one row each, its secret stored as
-- its SHA-256 in hex; revoking one deletes its row. Times are Unix seconds, as the
-- sessions' (0016_sessions.sql). A new table: older code never reads it (and knows no
-- such token). See sql/sqlite/0034_api_tokens.sql, its twin.
CREATE TABLE api_tokens (
    id          text    PRIMARY KEY,
    user_id     bigint  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        text    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    scopes      text    NOT NULL,
    secret_hash text    NOT NULL,
    created_at  bigint  NOT NULL,
    expires_at  bigint
);

CREATE INDEX api_tokens_by_user ON api_tokens (user_id, created_at);
