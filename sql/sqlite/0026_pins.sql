-- compatible-with-older-code: yes
--
-- Pinned messages, and the pin changes in the stream (see the PostgreSQL migration,
-- 0028_pins.sql, for the full story). Times are Unix milliseconds. A pin change's
-- position (`seq`) is taken from the messages' AUTOINCREMENT counter, as a change's is
-- (0011_message_changes.sql); `pinned`: 1 pinned, 0 unpinned.
CREATE TABLE pin_changes (
    seq         INTEGER PRIMARY KEY,
    room_id     INTEGER NOT NULL,
    message_id  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    pinned      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE INDEX pin_changes_by_room ON pin_changes (room_id, seq);

CREATE TABLE message_pins (
    message_id  INTEGER PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    room_id     INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    pinned_by   INTEGER REFERENCES users (id) ON DELETE SET NULL,
    pinned_at   INTEGER NOT NULL
);

CREATE INDEX message_pins_by_room ON message_pins (room_id, seq);
