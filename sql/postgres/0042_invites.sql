-- compatible-with-older-code: yes
--
-- Invite links (chat/core/invites.py): one row each, its secret stored as its SHA-256
-- in hex. `used` counts the registrations it admitted, never past `uses`: a registration
-- takes a use with one UPDATE guarded by `used < uses` in the transaction that inserts
-- its user (chat/store/invites.py), so two racing for the last use cannot both win.
-- `room_ids`: the rooms it joins its users to, space-separated ids. Times are Unix
-- seconds. A new table: older code never reads it. See sql/sqlite/0039_invites.sql, its
-- twin.
CREATE TABLE invites (
    id          text    PRIMARY KEY,
    created_by  bigint  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_hash text    NOT NULL,
    uses        integer NOT NULL CHECK (uses BETWEEN 1 AND 1000),
    used        integer NOT NULL DEFAULT 0 CHECK (used BETWEEN 0 AND uses),
    room_ids    text    NOT NULL DEFAULT '',
    created_at  bigint  NOT NULL,
    expires_at  bigint  NOT NULL
);

CREATE INDEX invites_by_creator ON invites (created_by, created_at);
CREATE INDEX invites_by_time ON invites (created_at);
