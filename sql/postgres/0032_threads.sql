-- compatible-with-older-code: yes
--
-- Threads: a message may answer in a thread started by another message of its room
-- (chat/app/service.py checks the root). `thread_id`: the root's id (a reply to a reply
-- names the root), NULL for a message of the main timeline only. `also_to_room`: a
-- thread reply its sender also sent to the main timeline. Both are defaulted, so older
-- code inserts a room message as before and reads neither column: during a rolling
-- upgrade it shows thread replies in the main timeline, as plain messages. No foreign key
-- on thread_id: retention deletes a root's row before its newer replies'.
-- See sql/sqlite/0030_threads.sql, its twin.
ALTER TABLE messages ADD COLUMN thread_id bigint;
ALTER TABLE messages ADD COLUMN also_to_room boolean NOT NULL DEFAULT false;

-- The main timeline's pages: a backwards range scan of a room's messages that are not
-- thread replies (or were also sent to the room), so replies cost its pages nothing.
CREATE INDEX messages_main_timeline ON messages (room_id, id)
    WHERE thread_id IS NULL OR also_to_room;

-- A thread's pages, and its replies counted.
CREATE INDEX messages_by_thread ON messages (thread_id, id) WHERE thread_id IS NOT NULL;
