-- compatible-with-older-code: yes
--
-- A thread's summary counts its replies up to one of them (`counted_through`, a reply's
-- id; 0: none), and is brought up to its newer replies after they are stored, at most a
-- few times a second for a busy thread (chat/store/thread_summaries.py), instead of by
-- every batch that stores one: a row updated that often is never a HOT update (`seq`
-- is indexed), and its dead versions piled up in the table and its three indexes
-- faster than autovacuum came round. Not compatible with older code: it adds each
-- batch's replies to the summary without moving `counted_through`, and this code would
-- count them again. See sql/sqlite/0033_thread_summaries_counted_through.sql, its twin.
ALTER TABLE thread_summaries ADD COLUMN counted_through bigint NOT NULL DEFAULT 0;

UPDATE thread_summaries AS s
SET counted_through = coalesce((SELECT max(id) FROM messages WHERE thread_id = s.root_id), 0);
