-- compatible-with-older-code: yes
--
-- Group direct conversations: a room of kind 'direct' for 3 to 10 people, with no pair in
-- direct_rooms (its people are its members, in room_members) and a row here. member_key
-- is its current members' UIDs, sorted and joined by commas ("3,7,12"): POST /dm finds
-- the conversation of exactly a set by it. It follows the members (an addition, a
-- leave) and is unique: when a change makes a set another conversation holds already,
-- it is NULL (that one keeps answering for the set). Older code reads such a room as a
-- direct conversation without a pair, and writes none. See
-- sql/postgres/0031_group_direct.sql, its twin.
CREATE TABLE direct_groups (
    room_id     INTEGER PRIMARY KEY REFERENCES rooms (id) ON DELETE CASCADE,
    member_key  TEXT    UNIQUE CHECK (member_key IS NULL OR length(member_key) <= 400)
);
