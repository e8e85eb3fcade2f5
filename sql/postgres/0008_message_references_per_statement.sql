-- A message's room and sender, checked once per statement instead of once per row.
--
-- Messages are the hot table: the message writer inserts a whole batch (dozens of
-- messages) in one statement. Foreign keys check every row on their own, a lookup and a
-- row lock per row and per key: 44% of the database's CPU for a 50-message insert
-- (docs/PERFORMANCE.md, "fanout-100 on PostgreSQL"). These triggers keep the same
-- guarantees, with one lookup and one lock per *distinct* room and sender of the
-- statement:
--
-- - every message's room and sender exist when it is inserted, and cannot be deleted
--   until the inserting transaction ends: each is locked FOR KEY SHARE, the lock a
--   foreign key check takes. A delete under way first (`Store.delete_user` locks the
--   user FOR UPDATE) makes the insert wait, then find the row gone;
-- - a room or user that messages refer to cannot be deleted, or change its id (the
--   constraints' NO ACTION).
--
-- Either way the error is foreign_key_violation (SQLSTATE 23503), as before, so callers
-- tell "deleted meanwhile" (`Gone`) from anything else exactly as they did.

ALTER TABLE messages DROP CONSTRAINT messages_room_id_fkey;
ALTER TABLE messages DROP CONSTRAINT messages_sender_id_fkey;

CREATE FUNCTION chat_messages_check_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    locked bigint;
BEGIN
    PERFORM 1 FROM rooms WHERE id IN (SELECT room_id FROM written) FOR KEY SHARE OF rooms;
    GET DIAGNOSTICS locked = ROW_COUNT;
    IF locked < (SELECT count(DISTINCT room_id) FROM written) THEN
        RAISE EXCEPTION 'a message refers to a room that does not exist'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    PERFORM 1 FROM users WHERE id IN (SELECT sender_id FROM written) FOR KEY SHARE OF users;
    GET DIAGNOSTICS locked = ROW_COUNT;
    IF locked < (SELECT count(DISTINCT sender_id) FROM written) THEN
        RAISE EXCEPTION 'a message refers to a sender that does not exist'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;

-- One trigger per event: PostgreSQL allows transition tables only on single-event triggers.
CREATE TRIGGER messages_references_on_insert AFTER INSERT ON messages
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION chat_messages_check_references();

CREATE TRIGGER messages_references_on_update AFTER UPDATE ON messages
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION chat_messages_check_references();

-- The other side: a row messages refer to stays (deleting a user deletes their messages
-- first, and so does deleting a room, chat/store/base.py's DELETE_USER_SQL). `column`
-- is the messages column that refers to the table the trigger is on.
CREATE FUNCTION chat_messages_keep_referenced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    referenced boolean;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM messages WHERE %I = $1)', TG_ARGV[0])
        INTO referenced USING OLD.id;
    IF referenced THEN
        RAISE EXCEPTION '% % still has messages', TG_TABLE_NAME, OLD.id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER rooms_keep_messages_rooms AFTER DELETE OR UPDATE OF id ON rooms
    FOR EACH ROW EXECUTE FUNCTION chat_messages_keep_referenced('room_id');

CREATE TRIGGER users_keep_messages_senders AFTER DELETE OR UPDATE OF id ON users
    FOR EACH ROW EXECUTE FUNCTION chat_messages_keep_referenced('sender_id');
