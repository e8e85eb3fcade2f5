-- Files shared in messages (issue 24; chat/files/). Times are Unix milliseconds. See
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
    thumbnail_sha256 TEXT,
    created_at      INTEGER NOT NULL,
    attached_at     INTEGER
);
CREATE INDEX files_by_uploader ON files (uploader_id);
CREATE INDEX files_by_sha256 ON files (sha256);
CREATE INDEX files_by_thumbnail ON files (thumbnail_sha256) WHERE thumbnail_sha256 IS NOT NULL;
CREATE INDEX files_unattached ON files (created_at) WHERE attached_at IS NULL;

CREATE TABLE message_files (
    message_id  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    file_id     TEXT    NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    PRIMARY KEY (message_id, position)
);
CREATE INDEX message_files_by_file ON message_files (file_id);
