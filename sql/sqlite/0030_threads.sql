-- compatible-with-older-code: yes
--
-- Threads: a message may answer in a thread started by another message of its room (see
-- the PostgreSQL migration, 0032_threads.sql, its twin). `thread_id`: the root's id (a
-- reply to a reply names the root), NULL for a message of the main timeline only.
-- `also_to_room`: a thread reply its sender also sent to the main timeline. Older code
-- inserts neither (NULL, 0: a room message) and reads neither: during a rolling upgrade
-- it shows thread replies in the main timeline, as a plain message.
ALTER TABLE messages ADD COLUMN thread_id INTEGER;
ALTER TABLE messages ADD COLUMN also_to_room INTEGER NOT NULL DEFAULT 0;

-- The main timeline's pages: a backwards range scan of a room's messages that are not
-- thread replies (or were also sent to the room), so replies cost its pages nothing. Its
-- condition is the one the pages' queries say (chat/store/message_rows.py
-- MAIN_TIMELINE_SQL), word for word: SQLite uses a partial index only then.
CREATE INDEX messages_main_timeline ON messages (room_id, id)
    WHERE thread_id IS NULL OR also_to_room;

-- A thread's pages, and its replies counted.
CREATE INDEX messages_by_thread ON messages (thread_id, id) WHERE thread_id IS NOT NULL;
