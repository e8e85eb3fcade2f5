-- compatible-with-older-code: yes
--
-- Thread summaries, as sql/postgres/0034_thread_summaries.sql says (its twin). `seq`
-- is taken from the messages' counter by the transaction that writes the row (SQLite
-- has one writer); times are milliseconds, participants a JSON array.
CREATE TABLE thread_summaries (
    root_id       INTEGER PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    room_id       INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    replies       INTEGER NOT NULL,
    last_reply_at INTEGER,
    participants  TEXT    NOT NULL,
    changed_at    INTEGER NOT NULL
);

CREATE INDEX thread_summaries_by_room ON thread_summaries (room_id, seq);
CREATE INDEX thread_summaries_by_seq ON thread_summaries (seq);

INSERT INTO thread_summaries
    (root_id, room_id, seq, replies, last_reply_at, participants, changed_at)
SELECT r.id, r.room_id, 0, s.replies, s.last_reply_at,
       (SELECT json_group_array(p.sender_id) FROM (
            SELECT sender_id, min(id) AS first_id FROM messages
            WHERE thread_id = r.id AND deleted_at IS NULL
            GROUP BY sender_id ORDER BY first_id LIMIT 10) AS p),
       CAST(strftime('%s', 'now') AS INTEGER) * 1000
FROM messages AS r
JOIN (SELECT thread_id, count(*) AS replies, max(created_at) AS last_reply_at
      FROM messages WHERE thread_id IS NOT NULL AND deleted_at IS NULL
      GROUP BY thread_id) AS s ON s.thread_id = r.id;
