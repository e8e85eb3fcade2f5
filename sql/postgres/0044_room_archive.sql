-- compatible-with-older-code: yes
--
-- Archived rooms: a group room its owners (or an operator) archived is read-only. Every
-- message stored is checked against it in the storing transaction
-- (chat/store/room_rules.py), so a send through an instance that has not heard yet is
-- refused all the same; it leaves the public directory; it can be unarchived. Older code
-- never reads the column (it would let sends through: the flag is new with this
-- release). Deleting a room needs no schema: its messages go first, then its row
-- (chat/store/room_lifecycle.py). See sql/sqlite/0041_room_archive.sql, its twin.
ALTER TABLE rooms ADD COLUMN archived boolean NOT NULL DEFAULT false;
