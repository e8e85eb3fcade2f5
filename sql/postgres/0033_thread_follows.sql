-- compatible-with-older-code: yes
--
-- Following threads: who follows each thread, and how far each has read it. A row is
-- written by the transaction that stores a thread reply (its sender follows, read up to
-- it; the root's author and the people it mentions follow, unless they chose not to), by
-- `PUT`/`DELETE /threads/{id}/follow` and by `PUT /threads/{id}/read`
-- (chat/store/threads.py). `following`: true, following; false, unfollowed by choice
-- (replying follows again, nothing else does); NULL, a reader's marker only. `read_id`:
-- the newest message of the thread read. Older code never reads it.
-- See sql/sqlite/0031_thread_follows.sql, its twin.
CREATE TABLE thread_follows (
    user_id    bigint  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    thread_id  bigint  NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    room_id    bigint  NOT NULL,
    following  boolean,
    read_id    bigint  NOT NULL,
    PRIMARY KEY (user_id, thread_id)
);

-- A thread's followers (its root's row deleted by retention deletes them too).
CREATE INDEX thread_follows_by_thread ON thread_follows (thread_id);
