-- compatible-with-older-code: yes
--
-- Invite links: what sql/postgres/0042_invites.sql says (its twin).
CREATE TABLE invites (
    id          TEXT    PRIMARY KEY,
    created_by  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_hash TEXT    NOT NULL,
    uses        INTEGER NOT NULL CHECK (uses BETWEEN 1 AND 1000),
    used        INTEGER NOT NULL DEFAULT 0 CHECK (used BETWEEN 0 AND uses),
    room_ids    TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);

CREATE INDEX invites_by_creator ON invites (created_by, created_at);
CREATE INDEX invites_by_time ON invites (created_at);
