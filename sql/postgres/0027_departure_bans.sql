-- compatible-with-older-code: yes
--
-- A departure says whether it was a ban, and until when (NULL: until lifted), so the
-- member taken out hears "banned from <room> until <time>" rather than "removed", on
-- every instance, whether the bus carried the departure or the table was read
-- (chat/store/departures.py). Older code writes none (a ban read as a removal, as it
-- always was) and reads none.
-- See sql/sqlite/0024_departure_bans.sql, its twin.
ALTER TABLE room_departures ADD COLUMN banned boolean NOT NULL DEFAULT false;
ALTER TABLE room_departures ADD COLUMN until timestamptz;
