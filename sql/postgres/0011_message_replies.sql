-- A message may answer an earlier message of the same room ("ReplyTo").
-- No foreign key: the server checks the target is a message of the same room before it
-- stores the reply (a per-row foreign-key check on the batch insert is what
-- 0008_message_references_per_statement.sql removed for the other references), and
-- messages are never deleted as rows (a deletion leaves a tombstone), so the id always
-- names a row. NULL: not a reply. Adding a nullable column without a default rewrites
-- nothing.

ALTER TABLE messages ADD COLUMN reply_to bigint;
