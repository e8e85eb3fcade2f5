-- How much each user wants to hear of each of their rooms: "all" messages,
-- only "mentions" of them, or "none". No row: the room kind's default (chat/
-- notification_levels.py: "all" for direct conversations and support threads,
-- "mentions" for group rooms and the lobby).
CREATE TABLE notification_levels (
    user_id  bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    room_id  bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    level    text   NOT NULL CHECK (level IN ('all', 'mentions', 'none')),
    PRIMARY KEY (user_id, room_id)
);
