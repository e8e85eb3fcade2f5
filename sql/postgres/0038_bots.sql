-- compatible-with-older-code: yes
--
-- Bot accounts: a user of kind 'bot', owned by the user who made it (`owner_id`). A bot
-- has a password nobody knows and never logs in with one: personal access tokens
-- (0037_api_tokens.sql) are its way in. A deleted bot keeps its row, erased (its
-- messages keep its name, which nobody may take). Compatible with older code, which
-- reads every user as a person (no badge) and cannot log a bot in either.
-- See sql/sqlite/0035_bots.sql, its twin.
ALTER TABLE users ADD COLUMN kind text NOT NULL DEFAULT 'person'
    CHECK (kind IN ('person', 'bot'));
ALTER TABLE users ADD COLUMN owner_id bigint REFERENCES users (id);

CREATE INDEX users_by_owner ON users (owner_id) WHERE owner_id IS NOT NULL;
