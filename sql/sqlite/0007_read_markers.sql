-- Read markers: how far each user has read in each room (the id of the newest message
-- they have seen there). A marker only ever moves forward (the store's upsert keeps the
-- greater id). It goes with its user or its room (ON DELETE CASCADE). message_id has no
-- foreign key: deleting a user deletes their messages, and another user's marker may
-- still point past them, which is harmless (counts compare ids, never look them up).

CREATE TABLE read_markers (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    room_id    INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    message_id INTEGER NOT NULL,
    PRIMARY KEY (user_id, room_id)
);
