-- Membership in the stream: a member leaving a group room (removed, banned, or leaving
-- themselves) takes a position in the same sequence as messages and changes
-- (0012_message_changes.sql), in the transaction that takes them out. Every instance
-- reads the stream in position order, so each drops the member's connections out of the
-- room before it delivers anything positioned after (chat/store/departures.py).
-- See sql/sqlite/0022_room_departures.sql, its twin.
--
-- `by_id`: who removed or banned them (themselves, when they left); `reason` as they
-- gave it. Rows are never changed; erasing an account deletes its departures.
CREATE TABLE room_departures (
    seq         bigint      PRIMARY KEY DEFAULT nextval('messages_id_seq'),
    room_id     bigint      NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    by_id       bigint      REFERENCES users (id) ON DELETE SET NULL,
    reason      text        NOT NULL DEFAULT '' CHECK (length(reason) <= 500),
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Positions commit in position order (0004_cluster.sql), and every instance is woken with
-- the newest (0012_message_changes.sql's function reads the transition table's `seq`).
CREATE TRIGGER room_departures_commit_in_order BEFORE INSERT ON room_departures
    FOR EACH STATEMENT EXECUTE FUNCTION chat_messages_lock_ids();
CREATE TRIGGER room_departures_wake_instances AFTER INSERT ON room_departures
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION chat_changes_notify();
