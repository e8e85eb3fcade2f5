-- Messages people can fix, remove and react to: edits, deletions and
-- reactions, and the change stream that carries them (see the PostgreSQL migration,
-- 0012_message_changes.sql, for the full story). Times are Unix milliseconds.
--
-- A message row shows the present: `body` is the current text, `edited_at` the time of
-- the last edit, `deleted_at` marks a tombstone (body '' and every earlier version
-- erased), `reactions` the current reaction state as the protocol sends it (JSON, NULL
-- when none), `original_body` the text as first sent, kept once the message is edited.
ALTER TABLE messages ADD COLUMN edited_at INTEGER;
ALTER TABLE messages ADD COLUMN deleted_at INTEGER;
ALTER TABLE messages ADD COLUMN reactions TEXT;
ALTER TABLE messages ADD COLUMN original_body TEXT;

-- The change stream. A change's position (`seq`) is taken from the messages' own
-- AUTOINCREMENT counter (sqlite_sequence) inside the writing transaction, so messages
-- and changes are one sequence of positions; SQLite's single writer commits them in
-- order.
CREATE TABLE message_changes (
    seq         INTEGER PRIMARY KEY,
    room_id     INTEGER NOT NULL,
    message_id  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL CHECK (kind IN ('edited', 'deleted', 'reactions')),
    body        TEXT,
    reactions   TEXT,
    created_at  INTEGER NOT NULL
);

CREATE INDEX message_changes_by_room ON message_changes (room_id, seq);
CREATE INDEX message_changes_by_message ON message_changes (message_id, seq);

CREATE TABLE message_reactions (
    message_id  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    emoji       TEXT    NOT NULL CHECK (length(emoji) BETWEEN 1 AND 64),
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (message_id, emoji, user_id)
);
