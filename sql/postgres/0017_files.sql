-- Files shared in messages (chat/files/). A file's record is here; its bytes
-- are in the file storage (a directory or an S3 bucket), keyed by their SHA-256, so
-- several records may share one stored object.
--
-- `id` is the FileID clients see: random and unguessable (URL-safe base64 of 16 random
-- bytes), so that a link says nothing about how many files exist. A file is visible to
-- its uploader alone until a message carries it (`attached_at`); unattached files are
-- removed after 24 hours by the collector.
CREATE TABLE files (
    id              text        PRIMARY KEY,
    uploader_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            text        NOT NULL,
    size            bigint      NOT NULL,
    content_type    text        NOT NULL,
    sha256          text        NOT NULL,
    -- An image's size in pixels after EXIF orientation, and its thumbnail's content
    -- type (stored under `<sha256>.<id>.thumbnail`; NULL: not an image, or no thumbnail
    -- could be made).
    width           integer,
    height          integer,
    thumbnail_type  text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attached_at     timestamptz
);
-- A user's quota is the sum of their files' sizes.
CREATE INDEX files_by_uploader ON files (uploader_id);
-- The collector's scan of files never attached.
CREATE INDEX files_unattached ON files (created_at) WHERE attached_at IS NULL;

-- Which files a message carries, in the order it lists them (at most 10). Deleting a
-- message removes its rows, so its files are then carried by nothing and collected.
CREATE TABLE message_files (
    message_id  bigint  NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    position    integer NOT NULL,
    file_id     text    NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    PRIMARY KEY (message_id, position)
);
-- "May this user read this file": the messages carrying it.
CREATE INDEX message_files_by_file ON message_files (file_id);

-- How many files a message carries (0 for most): readers of messages look up
-- message_files only for the messages that carry some, so history and fan-out of
-- plain text cost no extra query.
ALTER TABLE messages ADD COLUMN file_count integer NOT NULL DEFAULT 0;
