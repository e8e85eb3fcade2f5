-- compatible-with-older-code: yes
--
-- What sql/postgres/0036_thread_summaries_counted_through.sql says (its twin).
ALTER TABLE thread_summaries ADD COLUMN counted_through INTEGER NOT NULL DEFAULT 0;

UPDATE thread_summaries
SET counted_through = coalesce((SELECT max(id) FROM messages WHERE thread_id = root_id), 0);
