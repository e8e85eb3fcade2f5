"""Rooms (`Rooms` role): rooms, membership, direct conversations, the public directory,
notification levels, read markers and unread counts.

A direct room is made once per pair: creators of one pair are serialised (SQLite's write
lock, a PostgreSQL advisory lock on the pair) and look again before they insert.

A member is added only where no ban is in force, in the statement that adds them, under
the room's lock (shared with other joins, exclusive of bans): a ban and a join at the
same moment leave the user banned and out, whichever commits first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import cast

from chat.core.errors import RoomNameTaken
from chat.core.records import PublicRoom, Room, RoomDetails
from chat.store.base import StoreBase
from chat.store.database import Connection, Row, UniqueViolation
from chat.store.dialect import Dialect
from chat.store.message_rows import MAIN_TIMELINE_SQL

_ROOM_COLUMNS = (
    "r.id, r.name, r.kind, r.is_private, r.creator_id, r.created_at,"
    " r.topic, r.slow_mode_seconds, r.retention_days, r.link_previews, r.archived,"
    " d.low_user_id, d.high_user_id"
)

#: A room with its direct_rooms pair, if any (`room_from_row` reads it); add a WHERE.
ROOM_SELECT = (
    f"SELECT {_ROOM_COLUMNS} FROM rooms AS r LEFT JOIN direct_rooms AS d ON d.room_id = r.id"
)

ROOM_BY_ID = f"{ROOM_SELECT} WHERE r.id = $1"
_INSERT_ROOM = (
    "INSERT INTO rooms (name, kind, is_private, creator_id, created_at)"
    " VALUES ($1, $2, $3, $4, $5) RETURNING id"
)
_INSERT_OWNER = (
    "INSERT INTO room_members (room_id, user_id, joined_at, role) VALUES ($1, $2, $3, 'owner')"
)
#: A ban from room $1 in force for user $2 at $3.
_BAN_IN_FORCE = (
    "SELECT 1 FROM room_bans AS b WHERE b.room_id = $1 AND b.user_id = $2"
    " AND (b.until IS NULL OR b.until > $3)"
)
#: Add user $2 to room $1 (at $3) unless a ban is in force: the check and the insert one
#: statement, so that no ban commits between them unseen (with `_SHARE_ROOM` first).
_ADD_MEMBER = f"""
INSERT INTO room_members (room_id, user_id, joined_at)
SELECT $1, $2, $3 WHERE NOT EXISTS ({_BAN_IN_FORCE})
ON CONFLICT DO NOTHING
"""
#: PostgreSQL: hold the room's row against a ban (which locks it FOR UPDATE,
#: chat.store.moderation) until the join commits. A join waits for a ban under way and
#: then sees it (each statement reads anew); a ban waits for a join under way and then
#: removes the member it added. Joins do not wait for each other, nor messages (FOR KEY
#: SHARE) for joins.
_SHARE_ROOM = "SELECT id FROM rooms WHERE id = $1 FOR SHARE"
_IS_MEMBER = "SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = $2"

#: A room ($1) and whether a user ($2) is a member of it, in one read.
_ROOM_FOR_MEMBER = f"""
SELECT {_ROOM_COLUMNS},
       EXISTS (SELECT 1 FROM room_members AS m WHERE m.room_id = r.id AND m.user_id = $2)
       AS is_member
FROM rooms AS r LEFT JOIN direct_rooms AS d ON d.room_id = r.id WHERE r.id = $1
"""

#: `_ROOM_FOR_MEMBER` for many pairs: {pairs}, a table q of (room_id, user_id); {member},
#: a join giving column ``member`` (NULL: not a member). `asker`: the pair's user.
_ROOMS_FOR_MEMBERS = f"""
SELECT q.user_id AS asker, {_ROOM_COLUMNS}, m.member IS NOT NULL AS is_member
FROM {{pairs}} JOIN rooms AS r ON r.id = q.room_id
LEFT JOIN direct_rooms AS d ON d.room_id = r.id {{member}}
"""

#: SQLite: the pairs as a JSON array of [room_id, user_id] arrays ($1).
_ROOMS_FOR_MEMBERS_SQLITE = _ROOMS_FOR_MEMBERS.format(
    pairs="(SELECT json_extract(value, '$[0]') AS room_id,"
    " json_extract(value, '$[1]') AS user_id FROM json_each($1)) AS q",
    member="LEFT JOIN (SELECT room_id, user_id, 1 AS member FROM room_members) AS m"
    " ON m.room_id = q.room_id AND m.user_id = q.user_id",
)

#: PostgreSQL: rooms ($1) and users ($2) as two arrays. LATERAL, so that the planner
#: cannot hash the whole of room_members for a handful of pairs: it did, for an EXISTS,
#: on a table not yet analyzed (1-2 ms a batch, in bench/reconnect_storm.py).
_ROOMS_FOR_MEMBERS_POSTGRES = _ROOMS_FOR_MEMBERS.format(
    pairs="unnest($1::bigint[], $2::bigint[]) AS q (room_id, user_id)",
    member="LEFT JOIN LATERAL (SELECT 1 AS member FROM room_members"
    " WHERE room_id = q.room_id AND user_id = q.user_id) AS m ON true",
)


def _pairs_as_json(pairs: Sequence[tuple[int, int]]) -> tuple[str]:
    return (json.dumps([list(pair) for pair in pairs]),)


def _pairs_as_arrays(pairs: Sequence[tuple[int, int]]) -> tuple[list[int], list[int]]:
    return [room for room, _ in pairs], [user for _, user in pairs]


_ROOMS_OF_USERS = (
    "SELECT user_id, room_id FROM room_members WHERE {users} ORDER BY user_id, room_id"
)
_ROOMS_OF = "SELECT room_id FROM room_members WHERE user_id = $1 ORDER BY room_id"

_ROOM_MEMBERS = """
SELECT u.id, u.name, m.role FROM room_members AS m JOIN users AS u ON u.id = m.user_id
WHERE m.room_id = $1 AND m.user_id > $2
ORDER BY m.user_id
LIMIT $3
"""

#: The lobby's members: every user (erased accounts aside), each a member there.
_LOBBY_MEMBERS = """
SELECT u.id, u.name, 'member' AS role FROM users AS u
WHERE u.id > $1 AND u.erased_at IS NULL
ORDER BY u.id
LIMIT $2
"""

#: A user's ($1) rooms: the lobby ($2) first, then their memberships, by id. (The CAST
#: gives PostgreSQL the lobby's type in the UNION.)
_ROOM_DETAILS = f"""
SELECT {_ROOM_COLUMNS}, lo.name AS low_name, hi.name AS high_name,
       n.level AS notification_level, mine.role,
       (lo.erased_at IS NOT NULL OR hi.erased_at IS NOT NULL) AS closed
FROM (SELECT CAST($2 AS bigint) AS room_id, 'member' AS role
      UNION SELECT room_id, role FROM room_members WHERE user_id = $1) AS mine
JOIN rooms AS r ON r.id = mine.room_id
LEFT JOIN direct_rooms AS d ON d.room_id = r.id
LEFT JOIN users AS lo ON lo.id = d.low_user_id
LEFT JOIN users AS hi ON hi.id = d.high_user_id
LEFT JOIN notification_levels AS n ON n.user_id = $1 AND n.room_id = r.id
ORDER BY r.id <> $2, r.id
"""

_FIND_DIRECT = f"{ROOM_SELECT} WHERE d.low_user_id = $1 AND d.high_user_id = $2"
#: PostgreSQL: serialise the creators of one pair's room (until the transaction ends).
_LOCK_PAIR = "SELECT pg_advisory_xact_lock(hashtextextended('direct:' || $1 || ':' || $2, 0))"
_INSERT_PAIR = "INSERT INTO direct_rooms (room_id, low_user_id, high_user_id) VALUES ($1, $2, $3)"
_ADD_PAIR = (
    "INSERT INTO room_members (room_id, user_id, joined_at) VALUES ($1, $2, $4), ($1, $3, $4)"
    " ON CONFLICT DO NOTHING"
)

#: Members first because they are what a crowd of throwaway rooms lacks: one user can
#: post in their own rooms, but only other accounts can join them. The rooms come from
#: the partial index rooms_public (sql/*/*_public_rooms.sql); each count is a range of
#: room_members' primary key, each latest message one probe of messages_by_room. The
#: rooms user $2 is banned from at $3 are left out (a room they cannot join), and
#: archived ones (read-only: nobody joins them).
_PUBLIC_ROOMS = """
SELECT r.id, r.name,
       (SELECT count(*) FROM room_members AS m WHERE m.room_id = r.id) AS members,
       (SELECT coalesce(max(g.id), 0) FROM messages AS g WHERE g.room_id = r.id) AS latest
FROM rooms AS r
WHERE r.kind = 'group' AND NOT r.is_private AND NOT r.archived
  AND NOT EXISTS (SELECT 1 FROM room_bans AS b WHERE b.room_id = r.id AND b.user_id = $2
                  AND (b.until IS NULL OR b.until > $3))
ORDER BY members DESC, latest DESC, lower(r.name), r.id
LIMIT $1
"""

_SET_NOTIFICATION_LEVEL = """
INSERT INTO notification_levels (user_id, room_id, level) VALUES ($1, $2, $3)
ON CONFLICT (user_id, room_id) DO UPDATE SET level = excluded.level
"""
_NOTIFICATION_LEVEL = "SELECT level FROM notification_levels WHERE user_id = $1 AND room_id = $2"

#: Safe when two connections mark at once: the upsert keeps the greater id. No row comes
#: back when message $3 is not in room $2.
_MARK_READ = """
INSERT INTO read_markers (user_id, room_id, message_id)
SELECT $1, room_id, id FROM messages WHERE id = $3 AND room_id = $2
ON CONFLICT (user_id, room_id)
DO UPDATE SET message_id = {greatest}(read_markers.message_id, excluded.message_id)
RETURNING message_id
"""
_MARK_READ_SQLITE = _MARK_READ.format(greatest="max")
_MARK_READ_POSTGRES = _MARK_READ.format(greatest="greatest")

#: The most messages `unread_counts` counts in one room: past it, "at least this many".
UNREAD_CAP = 1000

#: Each unread count is a range scan of messages_by_room from the marker on; the mentions
#: by name a range of message_mentions' primary key, those of @room a range of the
#: partial index messages_mentioning_room (a message with both counts once). Each counts
#: the room's main timeline only: a thread's replies, unless also sent to the room, are
#: the thread's unread, not the room's. {whole_room} is that index's condition, as each
#: engine wrote it (an integer on SQLite).
_UNREAD_COUNTS = f"""
SELECT r.room_id,
       (SELECT count(*) FROM (
            SELECT 1 FROM messages AS m
            WHERE m.room_id = r.room_id AND m.id > coalesce(k.message_id, 0)
              AND {MAIN_TIMELINE_SQL}
              AND m.sender_id <> $1 AND m.deleted_at IS NULL
            LIMIT {UNREAD_CAP}) AS counted) AS unread,
       (SELECT count(*) FROM (
            SELECT 1 FROM message_mentions AS n JOIN messages AS m ON m.id = n.message_id
            WHERE n.user_id = $1 AND n.room_id = r.room_id
              AND n.message_id > coalesce(k.message_id, 0) AND {MAIN_TIMELINE_SQL}
              AND m.sender_id <> $1 AND NOT ({{whole_room}})
            LIMIT {UNREAD_CAP}) AS named)
       + (SELECT count(*) FROM (
            SELECT 1 FROM messages AS m
            WHERE m.room_id = r.room_id AND {{whole_room}} AND m.id > coalesce(k.message_id, 0)
              AND {MAIN_TIMELINE_SQL} AND m.sender_id <> $1 AND m.deleted_at IS NULL
            LIMIT {UNREAD_CAP}) AS everyone) AS mentions
FROM (SELECT CAST($2 AS bigint) AS room_id
      UNION SELECT room_id FROM room_members WHERE user_id = $1) AS r
LEFT JOIN read_markers AS k ON k.user_id = $1 AND k.room_id = r.room_id
ORDER BY r.room_id
"""
_UNREAD_COUNTS_SQLITE = _UNREAD_COUNTS.format(whole_room="m.mentions_room <> 0")
_UNREAD_COUNTS_POSTGRES = _UNREAD_COUNTS.format(whole_room="m.mentions_room")


def room_from_row(row: Row | None, dialect: Dialect, prefix: str = "") -> Room | None:
    """From rooms LEFT JOIN direct_rooms (low_user_id, high_user_id); with `prefix`, from
    columns named ``<prefix>id``, ``<prefix>name``, ... (a room joined to something else)."""
    if row is None:
        return None
    low, high = row[prefix + "low_user_id"], row[prefix + "high_user_id"]
    # Topic, slow mode and retention where the select has them (ROOM_SELECT); the stream's
    # rooms leave them out (`Room` says why). keys(): `in` on a sqlite3.Row looks at values.
    settings = "topic" in row.keys()  # noqa: SIM118
    return Room(
        id=row[prefix + "id"],
        name=row[prefix + "name"],
        kind=row[prefix + "kind"],
        is_private=bool(row[prefix + "is_private"]),
        creator_id=row[prefix + "creator_id"],
        created_at=dialect.moment(row[prefix + "created_at"]),
        pair=None if low is None else (low, high),
        topic=row["topic"] if settings else "",
        slow_mode_seconds=row["slow_mode_seconds"] if settings else 0,
        retention_days=row["retention_days"] if settings else None,
        link_previews=bool(row["link_previews"]) if settings else True,
        archived=bool(row["archived"]) if settings else False,
    )


def stored_room(row: Row | None, dialect: Dialect) -> Room:
    """A room that must be there (read in the transaction that made or changed it)."""
    room = room_from_row(row, dialect)
    assert room is not None
    return room


async def _create_room(conn: Connection, name: str, is_private: bool, creator_id: int) -> Room:
    now = conn.dialect.now()
    room_id = await conn.fetchval(_INSERT_ROOM, name, "group", is_private, creator_id, now)
    await conn.execute(_INSERT_OWNER, room_id, creator_id, now)
    return stored_room(await conn.fetchrow(ROOM_BY_ID, room_id), conn.dialect)


async def _direct_room(
    conn: Connection, low: int, high: int, creator_id: int, create: bool
) -> Room | None:
    dialect = conn.dialect
    # A pair's room never changes once made: the usual case is a plain read, with no
    # write lock to contend with the message writer's commits.
    room = room_from_row(await conn.fetchrow(_FIND_DIRECT, low, high), dialect)
    if room is not None or not create:
        return room
    async with conn.transaction():
        # Serialise the creators of this pair, then look again: another connection (or
        # instance) may have just made it. SQLite's writing transaction holds the write
        # lock already; PostgreSQL takes a lock on the pair, ending with the transaction.
        lock = dialect.pick(sqlite=None, postgres=_LOCK_PAIR)
        if lock is not None:
            await conn.execute(lock, str(low), str(high))
        room = room_from_row(await conn.fetchrow(_FIND_DIRECT, low, high), dialect)
        if room is not None:
            return room
        now = dialect.now()
        room_id = await conn.fetchval(_INSERT_ROOM, None, "direct", True, creator_id, now)
        await conn.execute(_INSERT_PAIR, room_id, low, high)
        await conn.execute(_ADD_PAIR, room_id, low, high, now)
        return stored_room(await conn.fetchrow(_FIND_DIRECT, low, high), dialect)


async def _add_member(conn: Connection, room_id: int, user_id: int) -> bool:
    share = conn.dialect.pick(sqlite=None, postgres=_SHARE_ROOM)
    if share is not None:
        await conn.execute(share, room_id)
    now = conn.dialect.now()
    if await conn.execute(_ADD_MEMBER, room_id, user_id, now):
        return True
    return await conn.fetchval(_BAN_IN_FORCE, room_id, user_id, now) is None  # or a member


class StoredRooms(StoreBase):
    """`Rooms`: rooms and who is in them."""

    async def create_room(self, name: str, *, is_private: bool, creator_id: int) -> Room:
        try:
            return await self.db.transaction(_create_room, name, is_private, creator_id)
        except UniqueViolation as error:
            if error.on("rooms.name"):
                raise RoomNameTaken(name) from None
            raise

    async def room_by_id(self, room_id: int) -> Room | None:
        return room_from_row(await self.db.fetchrow(ROOM_BY_ID, room_id), self.dialect)

    async def add_member(self, room_id: int, user_id: int) -> bool:
        return await self.db.transaction(_add_member, room_id, user_id)

    async def room_for_member(self, room_id: int, user_id: int) -> tuple[Room | None, bool]:
        row = await self.db.fetchrow(_ROOM_FOR_MEMBER, room_id, user_id)
        return room_from_row(row, self.dialect), row is not None and bool(row["is_member"])

    async def is_member(self, room_id: int, user_id: int) -> bool:
        return await self.db.fetchval(_IS_MEMBER, room_id, user_id) is not None

    async def rooms_for_members(
        self, pairs: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], tuple[Room, bool]]:
        # One statement on both engines (a hot path: every `enter` of a reconnect storm).
        sql, encode = self.dialect.pick(
            sqlite=(_ROOMS_FOR_MEMBERS_SQLITE, _pairs_as_json),
            postgres=(_ROOMS_FOR_MEMBERS_POSTGRES, _pairs_as_arrays),
        )
        rows = await self.db.fetch(sql, *encode(pairs))
        # An inner join: every row has its room.
        return {
            (row["id"], row["asker"]): (stored_room(row, self.dialect), bool(row["is_member"]))
            for row in rows
        }

    async def rooms_of_users(self, user_ids: Sequence[int]) -> dict[int, list[int]]:
        sql = _ROOMS_OF_USERS.format(users=self.dialect.is_among("user_id", 1))
        rooms: dict[int, list[int]] = {}
        for row in await self.db.fetch(sql, self.dialect.list_param(user_ids)):
            rooms.setdefault(row["user_id"], []).append(row["room_id"])
        return rooms

    async def rooms_of(self, user_id: int) -> list[int]:
        return [row["room_id"] for row in await self.db.fetch(_ROOMS_OF, user_id)]

    async def room_members(
        self, room_id: int, *, after: int, limit: int
    ) -> list[tuple[int, str, str]]:
        if room_id == self.lobby_id:
            rows = await self.db.fetch(_LOBBY_MEMBERS, after, limit)
        else:
            rows = await self.db.fetch(_ROOM_MEMBERS, room_id, after, limit)
        return [(row[0], row[1], row[2]) for row in rows]

    async def room_details(self, user_id: int, lobby_id: int) -> list[RoomDetails]:
        details = []
        for row in await self.db.fetch(_ROOM_DETAILS, user_id, lobby_id):
            room = stored_room(row, self.dialect)
            names = None if room.pair is None else (row["low_name"], row["high_name"])
            details.append(
                RoomDetails(
                    room,
                    names,
                    row["notification_level"],
                    row["role"],
                    closed=bool(row["closed"]),
                )
            )
        return details

    async def direct_room(self, user_a: int, user_b: int, *, create: bool) -> Room | None:
        low, high = sorted((user_a, user_b))
        return await self.db.run(_direct_room, low, high, user_a, create)

    async def public_rooms(self, limit: int, *, user_id: int = 0) -> list[PublicRoom]:
        rows = await self.db.fetch(_PUBLIC_ROOMS, limit, user_id, self.dialect.now())
        return [PublicRoom(row["id"], row["name"], row["members"]) for row in rows]

    async def set_notification_level(self, user_id: int, room_id: int, level: str) -> None:
        await self.db.execute(_SET_NOTIFICATION_LEVEL, user_id, room_id, level)

    async def notification_level(self, user_id: int, room_id: int) -> str | None:
        level = await self.db.fetchval(_NOTIFICATION_LEVEL, user_id, room_id)
        return None if level is None else str(level)

    async def mark_read(self, user_id: int, room_id: int, message_id: int) -> int | None:
        sql = self.dialect.pick(sqlite=_MARK_READ_SQLITE, postgres=_MARK_READ_POSTGRES)
        return cast("int | None", await self.db.fetchval(sql, user_id, room_id, message_id))

    async def unread_counts(self, user_id: int, lobby_id: int) -> list[tuple[int, int, int]]:
        sql = self.dialect.pick(sqlite=_UNREAD_COUNTS_SQLITE, postgres=_UNREAD_COUNTS_POSTGRES)
        rows = await self.db.fetch(sql, user_id, lobby_id)
        return [(row[0], row[1], row[2]) for row in rows]
