-- compatible-with-older-code: yes
--
-- Saved messages: each user's own list of messages kept for later (see the PostgreSQL
-- migration, 0029_saved_messages.sql). `saved_at`: Unix milliseconds.
CREATE TABLE saved_messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    message_id  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    saved_at    INTEGER NOT NULL,
    UNIQUE (user_id, message_id)
);
CREATE INDEX saved_messages_by_user ON saved_messages (user_id, id);
CREATE INDEX saved_messages_by_message ON saved_messages (message_id);
