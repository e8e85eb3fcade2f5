-- Direct conversations: exactly one room (kind 'direct') per pair of users, found by
-- the pair. The lower user id always comes first, so (a, b) and (b, a) are one row.

CREATE TABLE direct_rooms (
    room_id       INTEGER NOT NULL UNIQUE REFERENCES rooms (id) ON DELETE CASCADE,
    low_user_id   INTEGER NOT NULL REFERENCES users (id),
    high_user_id  INTEGER NOT NULL REFERENCES users (id),
    PRIMARY KEY (low_user_id, high_user_id),
    CHECK (low_user_id <= high_user_id)
);
