-- compatible-with-older-code: yes
--
-- Archived rooms (see the PostgreSQL migration, 0044_room_archive.sql, for the full
-- story): a read-only group room, out of the public directory, until unarchived.
ALTER TABLE rooms ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
