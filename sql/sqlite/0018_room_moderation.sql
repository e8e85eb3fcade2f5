-- chat: foreign keys off
-- Running a room: roles, bans, mutes, slow mode, a topic, reports and an
-- audit log; room names unique among public group rooms only.
--
-- The first line tells the migration runner (chat/store/sqlite/opening.py) to apply this
-- with foreign keys off, as SQLite's own procedure for changing a table asks: `rooms`
-- is rebuilt (its column UNIQUE on name cannot be dropped in place), and dropping the
-- old table with foreign keys on would delete every member, message and marker of every
-- room through ON DELETE CASCADE. The runner checks `PRAGMA foreign_key_check` before it
-- commits. Times are Unix milliseconds.

CREATE TABLE rooms_rebuilt (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    name              TEXT    CHECK (name IS NULL OR length(name) BETWEEN 1 AND 255),
    kind              TEXT    NOT NULL CHECK (kind IN ('lobby', 'group', 'direct', 'support')),
    is_private        INTEGER NOT NULL DEFAULT 0 CHECK (is_private IN (0, 1)),
    creator_id        INTEGER REFERENCES users (id),
    created_at        INTEGER NOT NULL,
    topic             TEXT    NOT NULL DEFAULT '' CHECK (length(topic) <= 1000),
    slow_mode_seconds INTEGER NOT NULL DEFAULT 0
                      CHECK (slow_mode_seconds BETWEEN 0 AND 3600)
);

INSERT INTO rooms_rebuilt (id, name, kind, is_private, creator_id, created_at)
SELECT id, name, kind, is_private, creator_id, created_at FROM rooms;

-- Keep the id counter where it was (a deleted room's id is never given again).
CREATE TEMP TABLE room_counter AS SELECT seq FROM sqlite_sequence WHERE name = 'rooms';
DROP TABLE rooms;
ALTER TABLE rooms_rebuilt RENAME TO rooms;
UPDATE sqlite_sequence SET seq = max(seq, (SELECT coalesce(max(seq), 0) FROM temp.room_counter))
WHERE name = 'rooms';
DROP TABLE temp.room_counter;

CREATE UNIQUE INDEX rooms_one_lobby ON rooms (kind) WHERE kind = 'lobby';
CREATE UNIQUE INDEX rooms_one_support_thread_per_user ON rooms (creator_id)
    WHERE kind = 'support';
CREATE INDEX rooms_public ON rooms (id) WHERE kind = 'group' AND NOT is_private;
-- A name is unique among public group rooms only: a private room may be called
-- anything, so creating a room never tells anyone that a private one has that name.
CREATE UNIQUE INDEX rooms_public_name ON rooms (name) WHERE kind = 'group' AND NOT is_private;

-- Roles: owner (several may be), moderator, member. A group room's creator owns it.
ALTER TABLE room_members ADD COLUMN role TEXT NOT NULL DEFAULT 'member'
    CHECK (role IN ('owner', 'moderator', 'member'));
UPDATE room_members SET role = 'owner'
WHERE EXISTS (SELECT 1 FROM rooms AS r
              WHERE r.id = room_members.room_id AND r.kind = 'group'
                AND r.creator_id = room_members.user_id);
CREATE INDEX room_members_owners ON room_members (room_id) WHERE role = 'owner';

-- Bans: a banned user cannot join or be invited until `until` (NULL: until lifted).
CREATE TABLE room_bans (
    room_id     INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason      TEXT    NOT NULL CHECK (length(reason) <= 500),
    until       INTEGER,
    by_id       INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

-- Mutes: a muted member reads but does not send, edit or react until `until`.
CREATE TABLE room_mutes (
    room_id     INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason      TEXT    NOT NULL CHECK (length(reason) <= 500),
    until       INTEGER NOT NULL,
    by_id       INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

-- Slow mode: when each member last sent in a room that has it on (written only there,
-- in the transaction that stores the message: chat/store/room_rules.py).
CREATE TABLE room_sends (
    room_id     INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sent_at     INTEGER NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

-- Reports of messages: one per reporter and message.
CREATE TABLE reports (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id     INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    message_id  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    reporter_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason      TEXT    NOT NULL CHECK (length(reason) <= 500),
    status      TEXT    NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'resolved', 'dismissed')),
    created_at  INTEGER NOT NULL,
    decided_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    decided_at  INTEGER,
    UNIQUE (message_id, reporter_id)
);
CREATE INDEX reports_by_room ON reports (room_id, status, id);
CREATE INDEX reports_by_status ON reports (status, id);

-- The audit log: append-only. Names are kept as they were (a user renamed or deleted
-- later still shows who acted), so nothing here refers to users by foreign key.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id     INTEGER,
    action      TEXT    NOT NULL,
    actor_id    INTEGER NOT NULL,
    actor_name  TEXT    NOT NULL,
    target_id   INTEGER,
    target_name TEXT,
    message_id  INTEGER,
    reason      TEXT    NOT NULL DEFAULT '',
    details     TEXT    NOT NULL DEFAULT '{}',
    created_at  INTEGER NOT NULL
);
CREATE INDEX audit_log_by_room ON audit_log (room_id, id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
