-- compatible-with-older-code: yes
--
-- Following threads: who follows each thread, and how far each has read it (see the
-- PostgreSQL migration, 0033_thread_follows.sql, its twin). `following`: 1, following;
-- 0, unfollowed by choice; NULL, a reader's marker only. `read_id`: the newest message of
-- the thread read.
CREATE TABLE thread_follows (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    thread_id  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    room_id    INTEGER NOT NULL,
    following  INTEGER,
    read_id    INTEGER NOT NULL,
    PRIMARY KEY (user_id, thread_id)
);
CREATE INDEX thread_follows_by_thread ON thread_follows (thread_id);
