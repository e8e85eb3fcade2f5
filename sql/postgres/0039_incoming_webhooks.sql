-- compatible-with-older-code: yes
--
-- Incoming webhooks (chat/core/incoming_webhooks.py): a room's secret address that posts
-- as the webhook's bot (a user of kind 'bot', 0038_bots.sql, owned by its creator). Only
-- the secret's SHA-256 is kept, in hex, as the tokens' (0037_api_tokens.sql); rotating
-- it replaces the hash. Times are Unix seconds. A new table: older code never reads it
-- (it answers 404 at /hooks/...). See sql/sqlite/0036_incoming_webhooks.sql, its twin.
CREATE TABLE incoming_webhooks (
    id          text    PRIMARY KEY,
    room_id     bigint  NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    bot_id      bigint  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        text    NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    secret_hash text    NOT NULL,
    created_by  bigint  REFERENCES users (id) ON DELETE SET NULL,
    created_at  bigint  NOT NULL
);

CREATE INDEX incoming_webhooks_by_room ON incoming_webhooks (room_id);
CREATE INDEX incoming_webhooks_by_bot ON incoming_webhooks (bot_id);
