-- compatible-with-older-code: yes
--
-- Link previews: what the server read of the first links of a message (title,
-- description, site, a thumbnail), attached after the message is stored
-- (chat/app/messages/link_previews.py). `messages.previews` holds a message's previews
-- now (JSON, NULL: none asked for or found; '[]': removed); each time they change, a
-- `previews` change at a position of the same sequence as messages and changes
-- (0012_message_changes.sql) tells every instance and every resume (`preview_changes`,
-- a table of its own as pin_changes is: older code never reads it and skips its
-- positions as any gap). `rooms.link_previews`: the room's moderators may turn previews
-- off for it. See sql/sqlite/0038_link_previews.sql, its twin.
ALTER TABLE messages ADD COLUMN previews text;
ALTER TABLE rooms ADD COLUMN link_previews boolean NOT NULL DEFAULT true;

CREATE TABLE preview_changes (
    seq         bigint      PRIMARY KEY DEFAULT nextval('messages_id_seq'),
    room_id     bigint      NOT NULL,
    message_id  bigint      NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    previews    text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- A resume reads a room's changes after a position; every instance reads the stream.
CREATE INDEX preview_changes_by_room ON preview_changes (room_id, seq);
CREATE INDEX preview_changes_by_message ON preview_changes (message_id);

-- Positions commit in position order, and every instance is woken with the newest.
CREATE TRIGGER preview_changes_commit_in_order BEFORE INSERT ON preview_changes
    FOR EACH STATEMENT EXECUTE FUNCTION chat_messages_lock_ids();
CREATE TRIGGER preview_changes_wake_instances AFTER INSERT ON preview_changes
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION chat_changes_notify();
