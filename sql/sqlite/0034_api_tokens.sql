-- compatible-with-older-code: yes
--
-- Personal access tokens: what sql/postgres/0037_api_tokens.sql says (its twin).
CREATE TABLE api_tokens (
    id          TEXT    PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    scopes      TEXT    NOT NULL,
    secret_hash TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER
);

CREATE INDEX api_tokens_by_user ON api_tokens (user_id, created_at);
