-- compatible-with-older-code: yes
--
-- Whether every message of `ids` still shows, looked at under the positions lock
-- (0012_message_changes.sql): the gate of the one statement that stores a batch of
-- replies and thread replies (chat/store/message_batches.py). A deletion takes the lock
-- too, and may commit while the batch's statement waits for it; that statement's own
-- snapshot is older than the commit and would miss it. A VOLATILE function's queries
-- each take a snapshot of their own when they start, here after the lock is held, so
-- this one sees every deletion that can precede the batch, and none can follow it
-- before the batch commits. SQLite needs no twin: its writer holds the one write lock
-- from its first statement on.
CREATE FUNCTION chat_showing_under_lock(ids bigint[]) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    answered bigint;
BEGIN
    PERFORM chat_lock_positions();
    -- A primary key lookup each (a batch answers a message or two): far cheaper than
    -- one query over the array, whose plan is made for ten.
    FOREACH answered IN ARRAY ids LOOP
        PERFORM FROM messages WHERE id = answered AND deleted_at IS NULL;
        IF NOT FOUND THEN
            RETURN false;
        END IF;
    END LOOP;
    RETURN true;
END
$$;
