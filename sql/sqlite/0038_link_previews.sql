-- compatible-with-older-code: yes
--
-- Link previews, and the preview changes in the stream (see the PostgreSQL migration,
-- 0041_link_previews.sql, for the full story). Times are Unix milliseconds. A preview
-- change's position (`seq`) is taken from the messages' AUTOINCREMENT counter, as a
-- change's is (0011_message_changes.sql).
ALTER TABLE messages ADD COLUMN previews TEXT;
ALTER TABLE rooms ADD COLUMN link_previews INTEGER NOT NULL DEFAULT 1;

CREATE TABLE preview_changes (
    seq         INTEGER PRIMARY KEY,
    room_id     INTEGER NOT NULL,
    message_id  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    previews    TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE INDEX preview_changes_by_room ON preview_changes (room_id, seq);
CREATE INDEX preview_changes_by_message ON preview_changes (message_id);
