-- Files shared in messages (chat/files/). Times are Unix milliseconds. See
-- the PostgreSQL migration, 0017_files.sql, for the full story.
CREATE TABLE files (
    id              TEXT    PRIMARY KEY,
    uploader_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    size            INTEGER NOT NULL,
    content_type    TEXT    NOT NULL,
    sha256          TEXT    NOT NULL,
    width           INTEGER,
    height          INTEGER,
    thumbnail_type  TEXT,
    created_at      INTEGER NOT NULL,
    attached_at     INTEGER
);
CREATE INDEX files_by_uploader ON files (uploader_id);
CREATE INDEX files_unattached ON files (created_at) WHERE attached_at IS NULL;

CREATE TABLE message_files (
    message_id  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    file_id     TEXT    NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    PRIMARY KEY (message_id, position)
);
CREATE INDEX message_files_by_file ON message_files (file_id);

-- How many files a message carries (0 for most): readers of messages look up
-- message_files only for the messages that carry some, so history and fan-out of
-- plain text cost no extra query.
ALTER TABLE messages ADD COLUMN file_count INTEGER NOT NULL DEFAULT 0;
