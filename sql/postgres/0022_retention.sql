-- Retention (chat/app/messages/retention.py): how long a room keeps its messages, and the
-- lease that lets one instance at a time delete the expired ones.
--
-- Expired messages are deleted as rows, not left as tombstones: what a room no longer
-- keeps is gone. What refers to them goes with them (ON DELETE CASCADE: their changes,
-- reactions, mentions, reports and file links; the files themselves are then collected
-- by chat/files/collector.py). What refers to them by id without a foreign key stays
-- and stays harmless: a reply's ReplyTo (the client shows its target as gone), a read
-- marker (counts compare ids), an audit entry (names the message it was about).
-- See sql/sqlite/0020_retention.sql, its twin.

-- Days a room keeps its messages (NULL: the server's CHAT_RETENTION_DAYS, or forever).
-- A room's value only ever shortens the server's.
ALTER TABLE rooms ADD COLUMN retention_days integer
    CHECK (retention_days IS NULL OR retention_days BETWEEN 1 AND 36500);

-- Leases of cluster-wide tasks: the row's holder (an instance) runs the task until
-- `expires_at`, and renews the lease while it does; another instance takes the task over
-- once the lease has expired (its holder stopped, or died).
CREATE TABLE task_leases (
    name        text        PRIMARY KEY,
    holder      text        NOT NULL,
    expires_at  timestamptz NOT NULL
);
