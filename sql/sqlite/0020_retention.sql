-- Retention (chat/app/messages/retention.py): how long a room keeps its messages, and the
-- lease that lets one instance at a time delete the expired ones. See the PostgreSQL
-- migration, 0022_retention.sql, for the full story. Times are Unix milliseconds.

-- Days a room keeps its messages (NULL: the server's CHAT_RETENTION_DAYS, or forever).
-- A room's value only ever shortens the server's.
ALTER TABLE rooms ADD COLUMN retention_days INTEGER
    CHECK (retention_days IS NULL OR retention_days BETWEEN 1 AND 36500);

-- Leases of cluster-wide tasks: the row's holder runs the task until `expires_at`, and
-- renews the lease while it does.
CREATE TABLE task_leases (
    name        TEXT    PRIMARY KEY,
    holder      TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL
);
