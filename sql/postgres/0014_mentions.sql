-- Mentions: who a message's @name calls, and @room (chat/app/messages/mentions.py).
--
-- `mentions` lists the UIDs a message's text mentions by name (a JSON array, NULL when
-- none): the protocol's own "Mentions", read with the message at no extra cost.
-- `mentions_room` marks a message that mentions its whole room (@room). A message row
-- shows its present mentions, as it shows its present text: an edit rewrites both, a
-- deletion clears them. Adding a column with a constant default rewrites nothing.
ALTER TABLE messages
    ADD COLUMN mentions      text,
    ADD COLUMN mentions_room boolean NOT NULL DEFAULT false;

-- An edit's mentions after it, and who it newly mentions ({"UIDs", "Room", "New",
-- "NewRoom", "Before"} as JSON, NULL when it mentions nobody and nobody before): what
-- every instance needs to notify the newly mentioned only.
ALTER TABLE message_changes ADD COLUMN mentions text;

-- One row per (user, message) mentioned by name, for counting a user's unread mentions
-- per room: a range of the primary key from the read marker on. Written in the same
-- statement as the message (chat/store/message_batches.py), rewritten by an edit.
-- @room is counted from messages_mentioning_room instead, so that mentioning a large
-- room writes one row, not one per member. user_id has no foreign key: a mention of a
-- user deleted meanwhile must not fail the batch the message commits in, and such a
-- row is never read (user ids are never reused).
CREATE TABLE message_mentions (
    user_id     bigint NOT NULL,
    room_id     bigint NOT NULL,
    message_id  bigint NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, room_id, message_id)
);

CREATE INDEX message_mentions_by_message ON message_mentions (message_id);
CREATE INDEX messages_mentioning_room ON messages (room_id, id) WHERE mentions_room;
