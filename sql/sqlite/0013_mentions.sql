-- Mentions: who a message's @name calls, and @room (chat/app/messages/mentions.py).
-- Times are Unix milliseconds. See the PostgreSQL migration, 0014_mentions.sql, for
-- the full story.
--
-- `mentions` lists the UIDs a message's text mentions by name (JSON, NULL when none),
-- `mentions_room` marks a message that mentions its whole room (@room): a message row
-- shows its present mentions, as it shows its present text.
ALTER TABLE messages ADD COLUMN mentions TEXT;
ALTER TABLE messages ADD COLUMN mentions_room INTEGER NOT NULL DEFAULT 0;

-- An edit's mentions after it, and who it newly mentions (JSON, NULL when none).
ALTER TABLE message_changes ADD COLUMN mentions TEXT;

-- One row per (user, message) mentioned by name, for counting unread mentions per room
-- (a range of the primary key). @room is counted from messages_mentioning_room instead,
-- so that mentioning a large room writes one row, not one per member. user_id has no
-- foreign key: a mention of a user deleted meanwhile must not fail the message's batch,
-- and such a row is never read (user ids are never reused).
CREATE TABLE message_mentions (
    user_id     INTEGER NOT NULL,
    room_id     INTEGER NOT NULL,
    message_id  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, room_id, message_id)
);

CREATE INDEX message_mentions_by_message ON message_mentions (message_id);
CREATE INDEX messages_mentioning_room ON messages (room_id, id) WHERE mentions_room <> 0;
