-- compatible-with-older-code: yes
--
-- Bot accounts: what sql/postgres/0038_bots.sql says (its twin).
ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'person'
    CHECK (kind IN ('person', 'bot'));
ALTER TABLE users ADD COLUMN owner_id INTEGER REFERENCES users (id);

CREATE INDEX users_by_owner ON users (owner_id) WHERE owner_id IS NOT NULL;
