-- compatible-with-older-code: yes
--
-- Thread summaries: each thread's root carries how many replies show, when the newest
-- was sent and who replied (the first 10, in the order each first replied), kept by the
-- transaction that stores a thread reply or deletes one (chat/store/thread_summaries.py).
-- A row is also the thread's latest `thread` change: `seq` is its position, in the same
-- sequence as messages and changes (0012_message_changes.sql), taken anew each time the
-- summary changes, so a resume after position N brings the summary of every thread that
-- changed since, once. `changed_at`: when it last changed. A root deleted by retention
-- takes its row with it. Older code never reads this table (it skips its positions as
-- any gap). See sql/sqlite/0032_thread_summaries.sql, its twin.
CREATE TABLE thread_summaries (
    root_id       bigint      PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    room_id       bigint      NOT NULL,
    seq           bigint      NOT NULL DEFAULT nextval('messages_id_seq'),
    replies       integer     NOT NULL,
    last_reply_at timestamptz,
    participants  text        NOT NULL,
    changed_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- A resume reads a room's changes after a position; every instance reads the stream.
CREATE INDEX thread_summaries_by_room ON thread_summaries (room_id, seq);
CREATE INDEX thread_summaries_by_seq ON thread_summaries (seq);

-- Positions commit in position order, and every instance is woken with the newest, on
-- an insert and on an update alike (a trigger with a transition table has one event).
CREATE TRIGGER thread_summaries_commit_in_order BEFORE INSERT OR UPDATE ON thread_summaries
    FOR EACH STATEMENT EXECUTE FUNCTION chat_messages_lock_ids();
CREATE TRIGGER thread_summaries_wake_on_insert AFTER INSERT ON thread_summaries
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION chat_changes_notify();
CREATE TRIGGER thread_summaries_wake_on_update AFTER UPDATE ON thread_summaries
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION chat_changes_notify();

-- The threads made before this table: their summaries now, at position 0 (no resume
-- needs them: history reads them with their roots).
INSERT INTO thread_summaries (root_id, room_id, seq, replies, last_reply_at, participants)
SELECT r.id, r.room_id, 0, s.replies, s.last_reply_at,
       coalesce((SELECT json_agg(p.sender_id ORDER BY p.first_id)::text FROM (
                     SELECT sender_id, min(id) AS first_id FROM messages
                     WHERE thread_id = r.id AND deleted_at IS NULL
                     GROUP BY sender_id ORDER BY first_id LIMIT 10) AS p), '[]')
FROM messages AS r
JOIN (SELECT thread_id, count(*) AS replies, max(created_at) AS last_reply_at
      FROM messages WHERE thread_id IS NOT NULL AND deleted_at IS NULL
      GROUP BY thread_id) AS s ON s.thread_id = r.id;
