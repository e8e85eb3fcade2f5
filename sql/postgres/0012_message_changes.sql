-- Messages people can fix, remove and react to: edits, deletions and
-- reactions, and the change stream that carries them to every instance.
--
-- A message row shows the present: `body` is the current text, `edited_at` the time of
-- the last edit, `deleted_at` marks a tombstone (its body is '' and every earlier
-- version is erased), `reactions` is the current reaction state as the protocol sends
-- it (JSON, NULL when none), `original_body` the text as first sent, kept once the
-- message is edited (for its list of versions). All nullable without a default: adding
-- them rewrites nothing.
ALTER TABLE messages
    ADD COLUMN edited_at     timestamptz,
    ADD COLUMN deleted_at    timestamptz,
    ADD COLUMN reactions     text,
    ADD COLUMN original_body text;

-- The change stream: one row per edit, deletion or reaction change. A change's position
-- (`seq`) comes from the messages' own id sequence, so messages and changes are one
-- sequence of positions: a later change or message always has a higher number. Rows are
-- immutable, except that deleting a message deletes its earlier changes (an edit row
-- holds a version of its text, which a deletion erases).
--   edited:    body = the new text
--   deleted:   nothing more
--   reactions: reactions = the message's whole reaction state after the change (JSON)
CREATE TABLE message_changes (
    seq         bigint      PRIMARY KEY DEFAULT nextval('messages_id_seq'),
    room_id     bigint      NOT NULL,
    message_id  bigint      NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    kind        text        NOT NULL CHECK (kind IN ('edited', 'deleted', 'reactions')),
    body        text,
    reactions   text,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Resuming a room reads its changes after a position; a message's versions are its
-- edit rows in order.
CREATE INDEX message_changes_by_room ON message_changes (room_id, seq);
CREATE INDEX message_changes_by_message ON message_changes (message_id, seq);

-- Who reacted with what: one row per (message, emoji, user), so reacting twice is a
-- no-op. `messages.reactions` is derived from it in the same transaction.
CREATE TABLE message_reactions (
    message_id  bigint      NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    emoji       text        NOT NULL CHECK (length(emoji) BETWEEN 1 AND 64),
    user_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (message_id, emoji, user_id)
);

-- Positions commit in position order, changes included (0004_cluster.sql explains why).
-- The lock is now a function of its own, so that a change can take it first, before it
-- reads the message it changes: every writer of positions takes it before anything else,
-- which serialises changes with each other and with message inserts (no row locks, so
-- no deadlock between the two kinds of lock).
CREATE FUNCTION chat_lock_positions() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1667785076, hashtext(current_schema()));
END
$$;

CREATE OR REPLACE FUNCTION chat_messages_lock_ids() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM chat_lock_positions();
    RETURN NULL;
END
$$;

CREATE TRIGGER message_changes_commit_in_order BEFORE INSERT ON message_changes
    FOR EACH STATEMENT EXECUTE FUNCTION chat_messages_lock_ids();

-- The same wake-up as for messages (0004_cluster.sql), with the newest position.
CREATE FUNCTION chat_changes_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    newest bigint;
BEGIN
    SELECT max(seq) INTO newest FROM inserted;
    IF newest IS NOT NULL THEN
        PERFORM pg_notify('chat_messages', (SELECT id FROM cluster) || ' ' || newest);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER message_changes_wake_instances AFTER INSERT ON message_changes
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION chat_changes_notify();
