-- Idempotent sends: a client may give a message its own id; the same id resent by the
-- same sender to the same room stores nothing new (the original is answered instead).
-- (SQLite serves one instance, so it needs none of PostgreSQL's cluster machinery.)

ALTER TABLE messages ADD COLUMN client_msg_id TEXT
    CHECK (client_msg_id IS NULL OR length(client_msg_id) BETWEEN 1 AND 64);

CREATE UNIQUE INDEX messages_client_msg_id ON messages (room_id, sender_id, client_msg_id)
    WHERE client_msg_id IS NOT NULL;
