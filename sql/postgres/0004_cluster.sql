-- Several instances as one chat (docs/DESIGN.md, "Several instances").

-- Idempotent sends: a client may give a message its own id; the same id resent by the
-- same sender to the same room stores nothing new (the original is answered instead).
ALTER TABLE messages ADD COLUMN client_msg_id text
    CHECK (client_msg_id IS NULL OR length(client_msg_id) BETWEEN 1 AND 64);
CREATE UNIQUE INDEX messages_client_msg_id ON messages (room_id, sender_id, client_msg_id)
    WHERE client_msg_id IS NOT NULL;

-- Which chat this database is. Every instance on it reads the same id and names its bus
-- channels after it, so two chats that share a Redis (or a database, in two schemas)
-- never wake each other.
CREATE TABLE cluster (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    id  text    NOT NULL DEFAULT replace(gen_random_uuid()::text, '-', '')
);
INSERT INTO cluster DEFAULT VALUES;

-- Message ids commit in id order. Every statement that inserts messages first takes
-- this lock, before any row takes an id from the sequence, and holds it until its
-- transaction ends. So a transaction can only take ids once every transaction that
-- took lower ones has committed or rolled back: a reader that has seen message N has
-- seen, or will never see, every message below N, and "everything after the last id I
-- delivered" never skips a late commit. (The two-key lock is one per schema, apart
-- from the one-key lock migrations take.)
CREATE FUNCTION chat_messages_lock_ids() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1667785076, hashtext(TG_TABLE_SCHEMA));
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_commit_in_id_order BEFORE INSERT ON messages
    FOR EACH STATEMENT EXECUTE FUNCTION chat_messages_lock_ids();

-- The wake-up: when a statement's messages commit, every listening instance hears
-- "<cluster id> <newest id>" on channel chat_messages (NOTIFY is delivered at commit,
-- and not at all on rollback). It only wakes them: they read the messages themselves
-- from this table, so a notification missed while a listener reconnects loses nothing.
CREATE FUNCTION chat_messages_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    newest bigint;
BEGIN
    SELECT max(id) INTO newest FROM inserted;
    IF newest IS NOT NULL THEN
        PERFORM pg_notify('chat_messages', (SELECT id FROM cluster) || ' ' || newest);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_wake_instances AFTER INSERT ON messages
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION chat_messages_notify();
