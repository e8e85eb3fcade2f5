-- Membership in the stream: a member leaving a group room takes a position in the same
-- sequence as messages and changes (see the PostgreSQL migration,
-- 0024_room_departures.sql, for the full story). The position is the messages'
-- AUTOINCREMENT counter moved on by one inside the writing transaction, as a change's
-- is (0011_message_changes.sql). Times are Unix milliseconds.
CREATE TABLE room_departures (
    seq         INTEGER PRIMARY KEY,
    room_id     INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    by_id       INTEGER REFERENCES users (id) ON DELETE SET NULL,
    reason      TEXT    NOT NULL DEFAULT '' CHECK (length(reason) <= 500),
    created_at  INTEGER NOT NULL
);
