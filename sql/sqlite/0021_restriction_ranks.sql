-- Lifting a ban or a mute needs what placing it needed: a rank above the person's. Each
-- restriction keeps the rank its person had when it was placed (see the PostgreSQL
-- migration, 0023_restriction_ranks.sql, for the full story).
ALTER TABLE room_bans ADD COLUMN target_rank INTEGER NOT NULL DEFAULT 0
    CHECK (target_rank BETWEEN 0 AND 4);
ALTER TABLE room_mutes ADD COLUMN target_rank INTEGER NOT NULL DEFAULT 0
    CHECK (target_rank BETWEEN 0 AND 4);

UPDATE room_mutes SET target_rank = coalesce(
    (SELECT CASE m.role WHEN 'owner' THEN 3 WHEN 'moderator' THEN 2 ELSE 1 END
     FROM room_members AS m
     WHERE m.room_id = room_mutes.room_id AND m.user_id = room_mutes.user_id),
    0);
