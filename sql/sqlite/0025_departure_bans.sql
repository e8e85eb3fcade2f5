-- compatible-with-older-code: yes
--
-- A departure says whether it was a ban, and until when (see the PostgreSQL migration,
-- 0026_departure_bans.sql). `until`: Unix milliseconds, NULL until lifted.
ALTER TABLE room_departures ADD COLUMN banned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE room_departures ADD COLUMN until INTEGER;
