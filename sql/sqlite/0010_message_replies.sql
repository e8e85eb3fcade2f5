-- A message may answer an earlier message of the same room ("ReplyTo").
-- No foreign key: the server checks the target is a message of the same room before it
-- stores the reply, and messages are never deleted as rows (a deletion leaves a
-- tombstone), so the id always names a row. NULL: not a reply.

ALTER TABLE messages ADD COLUMN reply_to INTEGER;
