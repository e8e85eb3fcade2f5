-- compatible-with-older-code: yes
--
-- Saved messages: each user's own list of messages kept for later, newest saved first
-- (chat/store/saved_messages.py). A row says only who saved what, and when: whether it
-- shows (the message not deleted, its room readable by the user now) is decided when the
-- list is read. A message deleted by retention takes its rows with it (ON DELETE
-- CASCADE, as its reactions and reports); an erased account's rows are deleted by the
-- erasure. Older code neither reads nor writes the table.
-- See sql/sqlite/0027_saved_messages.sql, its twin.
CREATE TABLE saved_messages (
    id          bigserial   PRIMARY KEY,
    user_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    message_id  bigint      NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    saved_at    timestamptz NOT NULL,
    UNIQUE (user_id, message_id)
);
CREATE INDEX saved_messages_by_user ON saved_messages (user_id, id);
-- The cascade of a message's deletion finds its rows by this.
CREATE INDEX saved_messages_by_message ON saved_messages (message_id);
