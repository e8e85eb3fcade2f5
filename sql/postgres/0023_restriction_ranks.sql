-- Lifting a ban or a mute needs what placing it needed: a rank above the person's
-- (chat/app/rooms/moderation.py). A ban takes its person out of the room, and with them
-- their role, so each restriction keeps the rank its person had when it was placed
-- (chat/core/room_permissions.py: 0 not a member, 1 member, 2 moderator, 3 owner).
-- See sql/sqlite/0021_restriction_ranks.sql, its twin.
ALTER TABLE room_bans ADD COLUMN target_rank smallint NOT NULL DEFAULT 0
    CHECK (target_rank BETWEEN 0 AND 4);
ALTER TABLE room_mutes ADD COLUMN target_rank smallint NOT NULL DEFAULT 0
    CHECK (target_rank BETWEEN 0 AND 4);

-- A mute's person is still a member: their rank is their role's. A ban placed before
-- this migration keeps 0 (who they were is gone with their membership).
UPDATE room_mutes AS x SET target_rank = CASE m.role
    WHEN 'owner' THEN 3 WHEN 'moderator' THEN 2 ELSE 1 END
FROM room_members AS m
WHERE m.room_id = x.room_id AND m.user_id = x.user_id;
