-- Running a room: roles, bans, mutes, slow mode, a topic, reports and an
-- audit log; room names unique among public group rooms only (a private room may be
-- called anything, so creating a room never tells anyone that a private one has that
-- name). See sql/sqlite/0018_room_moderation.sql, its twin.

ALTER TABLE rooms DROP CONSTRAINT rooms_name_key;
CREATE UNIQUE INDEX rooms_public_name ON rooms (name) WHERE kind = 'group' AND NOT is_private;
ALTER TABLE rooms
    ADD COLUMN topic text NOT NULL DEFAULT '' CHECK (length(topic) <= 1000),
    ADD COLUMN slow_mode_seconds integer NOT NULL DEFAULT 0
        CHECK (slow_mode_seconds BETWEEN 0 AND 3600);

-- Roles: owner (several may be), moderator, member. A group room's creator owns it.
ALTER TABLE room_members ADD COLUMN role text NOT NULL DEFAULT 'member'
    CHECK (role IN ('owner', 'moderator', 'member'));
UPDATE room_members AS m SET role = 'owner'
FROM rooms AS r
WHERE r.id = m.room_id AND r.kind = 'group' AND r.creator_id = m.user_id;
CREATE INDEX room_members_owners ON room_members (room_id) WHERE role = 'owner';

-- Bans: a banned user cannot join or be invited until `until` (NULL: until lifted).
CREATE TABLE room_bans (
    room_id     bigint      NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason      text        NOT NULL CHECK (length(reason) <= 500),
    until       timestamptz,
    by_id       bigint      REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, user_id)
);

-- Mutes: a muted member reads but does not send, edit or react until `until`.
CREATE TABLE room_mutes (
    room_id     bigint      NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason      text        NOT NULL CHECK (length(reason) <= 500),
    until       timestamptz NOT NULL,
    by_id       bigint      REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, user_id)
);

-- Slow mode: when each member last sent in a room that has it on (written only there,
-- in the transaction that stores the message, under the positions lock: of two sends at
-- once on two instances, the second sees the first's row).
CREATE TABLE room_sends (
    room_id     bigint      NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sent_at     timestamptz NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

-- Reports of messages: one per reporter and message.
CREATE TABLE reports (
    id          bigserial   PRIMARY KEY,
    room_id     bigint      NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    message_id  bigint      NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    reporter_id bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason      text        NOT NULL CHECK (length(reason) <= 500),
    status      text        NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'resolved', 'dismissed')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    decided_by  bigint      REFERENCES users (id) ON DELETE SET NULL,
    decided_at  timestamptz,
    UNIQUE (message_id, reporter_id)
);
CREATE INDEX reports_by_room ON reports (room_id, status, id);
CREATE INDEX reports_by_status ON reports (status, id);

-- The audit log: append-only. Names are kept as they were (a user renamed or deleted
-- later still shows who acted), so nothing here refers to users by foreign key.
CREATE TABLE audit_log (
    id          bigserial   PRIMARY KEY,
    room_id     bigint,
    action      text        NOT NULL,
    actor_id    bigint      NOT NULL,
    actor_name  text        NOT NULL,
    target_id   bigint,
    target_name text,
    message_id  bigint,
    reason      text        NOT NULL DEFAULT '',
    details     text        NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_by_room ON audit_log (room_id, id);

CREATE FUNCTION chat_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION chat_audit_log_append_only();
