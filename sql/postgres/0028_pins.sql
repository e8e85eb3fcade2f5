-- compatible-with-older-code: yes
--
-- Pinned messages: a room's moderators and owners pin up to 50 of its messages
-- (chat/app/messages/pins.py), and every member hears of each pin and unpin as a `pins`
-- change, at a position of the same sequence as messages and changes
-- (0012_message_changes.sql), in the transaction that makes it (chat/store/pins.py).
-- See sql/sqlite/0026_pins.sql, its twin.
--
-- The pin changes have a table of their own rather than a new kind of message_changes
-- row: the release before reads message_changes and knows no such kind, but never reads
-- this table (an instance of it skips these positions as any gap), so it runs on this
-- schema unharmed during a rolling upgrade.
CREATE TABLE pin_changes (
    seq         bigint      PRIMARY KEY DEFAULT nextval('messages_id_seq'),
    room_id     bigint      NOT NULL,
    message_id  bigint      NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    pinned      boolean     NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Resuming a room reads its changes after a position.
CREATE INDEX pin_changes_by_room ON pin_changes (room_id, seq);

-- Positions commit in position order (0004_cluster.sql), and every instance is woken with
-- the newest (0012_message_changes.sql's function reads the transition table's `seq`).
CREATE TRIGGER pin_changes_commit_in_order BEFORE INSERT ON pin_changes
    FOR EACH STATEMENT EXECUTE FUNCTION chat_messages_lock_ids();
CREATE TRIGGER pin_changes_wake_instances AFTER INSERT ON pin_changes
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION chat_changes_notify();

-- One row per pinned message (a message is pinned once, in its own room). `seq`: the
-- position of the change that pinned it; a room's pins are listed by it, newest first.
-- `pinned_by`: who pinned it (NULL once that account is deleted). Deleting a message
-- deletes its pin (chat/store/changes.py); so does deleting its row (retention).
CREATE TABLE message_pins (
    message_id  bigint      PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    room_id     bigint      NOT NULL,
    seq         bigint      NOT NULL,
    pinned_by   bigint      REFERENCES users (id) ON DELETE SET NULL,
    pinned_at   timestamptz NOT NULL
);

-- A room's pins, newest first; and how many it has (the limit).
CREATE INDEX message_pins_by_room ON message_pins (room_id, seq);
