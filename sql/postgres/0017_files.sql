-- Files shared in messages (issue 24; chat/files/). A file's record is here; its bytes
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
    -- An image's size in pixels after EXIF orientation, and its thumbnail's key in
    -- the storage (NULL: not an image, or no thumbnail could be made).
    width           integer,
    height          integer,
    thumbnail_sha256 text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attached_at     timestamptz
);
-- A user's quota is the sum of their files' sizes.
CREATE INDEX files_by_uploader ON files (uploader_id);
-- Whether any record still holds a stored object (before the collector removes it).
CREATE INDEX files_by_sha256 ON files (sha256);
CREATE INDEX files_by_thumbnail ON files (thumbnail_sha256) WHERE thumbnail_sha256 IS NOT NULL;
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
