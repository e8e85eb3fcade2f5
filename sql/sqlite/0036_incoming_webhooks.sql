-- compatible-with-older-code: yes
--
-- Incoming webhooks: what sql/postgres/0039_incoming_webhooks.sql says (its twin).
CREATE TABLE incoming_webhooks (
    id          TEXT    PRIMARY KEY,
    room_id     INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    bot_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    secret_hash TEXT    NOT NULL,
    created_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at  INTEGER NOT NULL
);

CREATE INDEX incoming_webhooks_by_room ON incoming_webhooks (room_id);
CREATE INDEX incoming_webhooks_by_bot ON incoming_webhooks (bot_id);
