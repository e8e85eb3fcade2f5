"""Rooms: room rows, a user's room list, the directory of public rooms, read markers and
unread counts."""

from __future__ import annotations

from collections.abc import Iterable

from chat.core.records import Room, RoomDetails
from chat.store.shared.rows import Row, ToDatetime

#: A room with its direct_rooms pair, if any (`room_from_row` reads it); add a WHERE.
ROOM_SELECT = (
    "SELECT r.id, r.name, r.kind, r.is_private, r.creator_id, r.created_at,"
    " r.topic, r.slow_mode_seconds, r.retention_days, d.low_user_id, d.high_user_id"
    " FROM rooms AS r LEFT JOIN direct_rooms AS d ON d.room_id = r.id"
)

#: A room ({room}) and whether a user ({user}) is a member of it, in one read: what every
#: request to a room checks first (`Rooms.room_for_member`).
ROOM_FOR_MEMBER_SQL = (
    "SELECT r.id, r.name, r.kind, r.is_private, r.creator_id, r.created_at,"
    " r.topic, r.slow_mode_seconds, r.retention_days, d.low_user_id, d.high_user_id,"
    " EXISTS (SELECT 1 FROM room_members AS m WHERE m.room_id = r.id AND m.user_id = {user})"
    " AS is_member"
    " FROM rooms AS r LEFT JOIN direct_rooms AS d ON d.room_id = r.id WHERE r.id = {room}"
)

#: `ROOM_FOR_MEMBER_SQL` for many pairs at once (`Rooms.rooms_for_members`): {pairs} is
#: a table of (room_id, user_id) rows named q, and {member} a join that names a column
#: ``member`` of room_members' row for the pair (NULL: not a member); each engine's own.
#: `asker` is the pair's user.
ROOMS_FOR_MEMBERS_SQL = (
    "SELECT q.user_id AS asker, r.id, r.name, r.kind, r.is_private, r.creator_id,"
    " r.created_at, r.topic, r.slow_mode_seconds, r.retention_days, d.low_user_id,"
    " d.high_user_id, m.member IS NOT NULL AS is_member"
    " FROM {pairs} JOIN rooms AS r ON r.id = q.room_id"
    " LEFT JOIN direct_rooms AS d ON d.room_id = r.id {member}"
)


def rooms_for_members_from_rows(
    rows: Iterable[Row], to_datetime: ToDatetime
) -> dict[tuple[int, int], tuple[Room, bool]]:
    """What `ROOMS_FOR_MEMBERS_SQL` found, by (room, user)."""
    found: dict[tuple[int, int], tuple[Room, bool]] = {}
    for row in rows:
        room = room_from_row(row, to_datetime)
        assert room is not None  # an inner join: every row has its room
        found[(room.id, row["asker"])] = (room, bool(row["is_member"]))
    return found


def rooms_by_user(rows: Iterable[Row]) -> dict[int, list[int]]:
    """(user_id, room_id) rows, ordered by both, as each user's list of rooms."""
    rooms: dict[int, list[int]] = {}
    for row in rows:
        rooms.setdefault(row["user_id"], []).append(row["room_id"])
    return rooms


def room_from_row(row: Row | None, to_datetime: ToDatetime, prefix: str = "") -> Room | None:
    """From rooms LEFT JOIN direct_rooms (low_user_id, high_user_id); with `prefix`, from
    columns named ``<prefix>id``, ``<prefix>name``, ... (a room joined to something else)."""
    if row is None:
        return None
    low, high = row[prefix + "low_user_id"], row[prefix + "high_user_id"]
    # Topic, slow mode and retention where the select has them (ROOM_SELECT); the stream's rooms
    # leave them out (`Room` says why). keys(): `in` on a sqlite3.Row looks at values.
    has_settings = "topic" in row.keys()  # noqa: SIM118
    settings = (
        (row["topic"], row["slow_mode_seconds"], row["retention_days"])
        if has_settings
        else ("", 0, None)
    )
    return Room(
        id=row[prefix + "id"],
        name=row[prefix + "name"],
        kind=row[prefix + "kind"],
        is_private=bool(row[prefix + "is_private"]),
        creator_id=row[prefix + "creator_id"],
        created_at=to_datetime(row[prefix + "created_at"]),
        pair=None if low is None else (low, high),
        topic=settings[0],
        slow_mode_seconds=settings[1],
        retention_days=settings[2],
    )


#: One page of a room's members by UID, with their names: a range of room_members'
#: primary key (room_id, user_id). {room}, {after} and {limit} are the placeholders.
ROOM_MEMBERS_SQL = """
SELECT u.id, u.name, m.role FROM room_members AS m JOIN users AS u ON u.id = m.user_id
WHERE m.room_id = {room} AND m.user_id > {after}
ORDER BY m.user_id
LIMIT {limit}
"""


#: A user's rooms for their room list, in one query: the lobby first, then every room
#: they are a member of, by id, each with its direct_rooms pair and the pair's names.
#: {user} and {lobby} are the stores' placeholders.
ROOM_DETAILS_SQL = """
SELECT r.id, r.name, r.kind, r.is_private, r.creator_id, r.created_at, r.topic,
       r.slow_mode_seconds, r.retention_days, d.low_user_id, d.high_user_id,
       lo.name AS low_name,
       hi.name AS high_name, n.level AS notification_level, mine.role
FROM (SELECT {lobby} AS room_id, 'member' AS role
      UNION SELECT room_id, role FROM room_members WHERE user_id = {user}) AS mine
JOIN rooms AS r ON r.id = mine.room_id
LEFT JOIN direct_rooms AS d ON d.room_id = r.id
LEFT JOIN users AS lo ON lo.id = d.low_user_id
LEFT JOIN users AS hi ON hi.id = d.high_user_id
LEFT JOIN notification_levels AS n ON n.user_id = {user} AND n.room_id = r.id
ORDER BY r.id <> {lobby}, r.id
"""


def room_details_from_row(row: Row, to_datetime: ToDatetime) -> RoomDetails:
    room = room_from_row(row, to_datetime)
    assert room is not None
    names = None if room.pair is None else (row["low_name"], row["high_name"])
    return RoomDetails(room, names, row["notification_level"], row["role"])


#: A user's notification level in a room, set or replaced ({user}, {room}, {level}).
SET_NOTIFICATION_LEVEL_SQL = """
INSERT INTO notification_levels (user_id, room_id, level) VALUES ({user}, {room}, {level})
ON CONFLICT (user_id, room_id) DO UPDATE SET level = excluded.level
"""

#: A user's notification level in a room, if they set one ({user}, {room}).
NOTIFICATION_LEVEL_SQL = (
    "SELECT level FROM notification_levels WHERE user_id = {user} AND room_id = {room}"
)


#: Group rooms that are not private, with their member counts: the most members first,
#: then the most recent message (rooms never written in last), then by name (case aside).
#: Members first because they are what a crowd of throwaway rooms lacks: one user can
#: post in their own rooms, but only other accounts can join them. The rooms come from
#: the partial index rooms_public (sql/*/*_public_rooms.sql), whatever the number of
#: direct conversations and private rooms; each count is a range of room_members'
#: primary key and each latest message one probe of messages_by_room (room_id, id).
PUBLIC_ROOMS_SQL = """
SELECT r.id, r.name,
       (SELECT count(*) FROM room_members AS m WHERE m.room_id = r.id) AS members,
       (SELECT coalesce(max(g.id), 0) FROM messages AS g WHERE g.room_id = r.id) AS latest
FROM rooms AS r
WHERE r.kind = 'group' AND NOT r.is_private
ORDER BY members DESC, latest DESC, lower(r.name), r.id
LIMIT {limit}
"""


#: Moving a user's read marker in a room forward to a message of that room, in one
#: statement (safe when two connections mark at once: the upsert keeps the greater id).
#: No row comes back when the message is not in the room. {user}, {room}, {message} are
#: the stores' placeholders; {greatest} is GREATEST (PostgreSQL) or MAX (SQLite).
MARK_READ_SQL = """
INSERT INTO read_markers (user_id, room_id, message_id)
SELECT {user}, room_id, id FROM messages WHERE id = {message} AND room_id = {room}
ON CONFLICT (user_id, room_id)
DO UPDATE SET message_id = {greatest}(read_markers.message_id, excluded.message_id)
RETURNING message_id
"""

#: The most messages `UNREAD_COUNTS_SQL` counts in one room: past it, "at least this many".
UNREAD_CAP = 1000

#: Each room of a user's (the lobby and their memberships) with the number of messages
#: others sent there after the user's read marker and did not delete, and how many of
#: those mention the user (by name, or @room), each at most {cap} per room. One query:
#: each unread count is a range scan of messages_by_room (room_id, id) from the marker
#: on; the mentions by name a range of message_mentions' primary key (user, room,
#: message), those of @room a range of the partial index messages_mentioning_room (a
#: message with both counts once). {user} and {lobby} are the stores' placeholders,
#: {whole_room} the test of messages.mentions_room (an integer on SQLite).
UNREAD_COUNTS_SQL = """
SELECT r.room_id,
       (SELECT count(*) FROM (
            SELECT 1 FROM messages AS m
            WHERE m.room_id = r.room_id AND m.id > coalesce(k.message_id, 0)
              AND m.sender_id <> {user} AND m.deleted_at IS NULL
            LIMIT {cap}) AS counted) AS unread,
       (SELECT count(*) FROM (
            SELECT 1 FROM message_mentions AS n JOIN messages AS m ON m.id = n.message_id
            WHERE n.user_id = {user} AND n.room_id = r.room_id
              AND n.message_id > coalesce(k.message_id, 0)
              AND m.sender_id <> {user} AND NOT ({whole_room})
            LIMIT {cap}) AS named)
       + (SELECT count(*) FROM (
            SELECT 1 FROM messages AS m
            WHERE m.room_id = r.room_id AND {whole_room} AND m.id > coalesce(k.message_id, 0)
              AND m.sender_id <> {user} AND m.deleted_at IS NULL
            LIMIT {cap}) AS everyone) AS mentions
FROM (SELECT {lobby} AS room_id
      UNION SELECT room_id FROM room_members WHERE user_id = {user}) AS r
LEFT JOIN read_markers AS k ON k.user_id = {user} AND k.room_id = r.room_id
ORDER BY r.room_id
"""
