-- Users, rooms, room members and messages.
--
-- Every conversation is a room: the built-in lobby (TokenTalker traffic), named group
-- rooms, direct conversations between two users and support threads are rooms of
-- different kinds, so messages always belong to exactly one room.
-- Times are Unix milliseconds (UTC).

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255),
    email         TEXT    UNIQUE CHECK (email IS NULL OR length(email) BETWEEN 3 AND 254),
    password_hash TEXT    NOT NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    created_at    INTEGER NOT NULL
);

CREATE TABLE rooms (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    UNIQUE CHECK (name IS NULL OR length(name) BETWEEN 1 AND 255),
    kind        TEXT    NOT NULL CHECK (kind IN ('lobby', 'group', 'direct', 'support')),
    is_private  INTEGER NOT NULL DEFAULT 0 CHECK (is_private IN (0, 1)),
    creator_id  INTEGER REFERENCES users (id),
    created_at  INTEGER NOT NULL
);

-- At most one lobby.
CREATE UNIQUE INDEX rooms_one_lobby ON rooms (kind) WHERE kind = 'lobby';

CREATE TABLE room_members (
    room_id    INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at  INTEGER NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

CREATE INDEX room_members_by_user ON room_members (user_id, room_id);

CREATE TABLE messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id     INTEGER NOT NULL REFERENCES rooms (id),
    sender_id   INTEGER NOT NULL REFERENCES users (id),
    body        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

-- "The latest N messages of a room" and "the page older than id X" are both a
-- backwards range scan of this index.
CREATE INDEX messages_by_room ON messages (room_id, id);

INSERT INTO rooms (name, kind, is_private, creator_id, created_at)
VALUES ('lobby', 'lobby', 0, NULL, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
