"""The SQLite store's `Rooms`: group rooms, membership, direct conversations, the
directory, room lists, read markers and unread counts."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from chat.core.records import PublicRoom, Room, RoomDetails
from chat.store.shared.mentions import MEMBER_COUNT_SQL, MENTION_CANDIDATES_SQL, candidate_from_row
from chat.store.shared.rooms import (
    MARK_READ_SQL,
    NOTIFICATION_LEVEL_SQL,
    PUBLIC_ROOMS_SQL,
    ROOM_DETAILS_SQL,
    ROOM_FOR_MEMBER_SQL,
    ROOM_MEMBERS_SQL,
    ROOM_SELECT,
    ROOMS_FOR_MEMBERS_SQL,
    SET_NOTIFICATION_LEVEL_SQL,
    UNREAD_CAP,
    UNREAD_COUNTS_SQL,
    room_details_from_row,
    rooms_by_user,
    rooms_for_members_from_rows,
)
from chat.store.sqlite.base import (
    SQLiteBase,
    from_ms,
    integrity_error,
    now_ms,
    room_of,
    transaction,
)

#: `ROOMS_FOR_MEMBERS_SQL`'s pairs: a JSON array of [room_id, user_id] arrays (:pairs).
_PAIRS = (
    "(SELECT json_extract(value, '$[0]') AS room_id, json_extract(value, '$[1]') AS user_id"
    " FROM json_each(:pairs)) AS q"
)
#: Its membership: the primary key's row for the pair, if any.
_MEMBER = (
    "LEFT JOIN (SELECT room_id, user_id, 1 AS member FROM room_members) AS m"
    " ON m.room_id = q.room_id AND m.user_id = q.user_id"
)
#: Each user's rooms, for many users at once: a JSON array of user ids (?).
_ROOMS_OF_USERS = (
    "SELECT user_id, room_id FROM room_members"
    " WHERE user_id IN (SELECT value FROM json_each(?)) ORDER BY user_id, room_id"
)


class SQLiteRooms(SQLiteBase):
    """`Rooms` on SQLite."""

    async def create_room(self, name: str, *, is_private: bool, creator_id: int) -> Room:
        def insert(conn: sqlite3.Connection) -> Room:
            now = now_ms()
            with transaction(conn):
                try:
                    (room_id,) = conn.execute(
                        "INSERT INTO rooms (name, kind, is_private, creator_id, created_at)"
                        " VALUES (?, 'group', ?, ?, ?) RETURNING id",
                        (name, int(is_private), creator_id, now),
                    ).fetchone()
                except sqlite3.IntegrityError as error:
                    raise integrity_error(error, name) from None
                conn.execute(
                    "INSERT INTO room_members (room_id, user_id, joined_at, role)"
                    " VALUES (?, ?, ?, 'owner')",
                    (room_id, creator_id, now),
                )
                room = room_of(conn.execute(f"{ROOM_SELECT} WHERE r.id = ?", (room_id,)).fetchone())
            assert room is not None
            return room

        return await self._run(insert)

    async def room_by_id(self, room_id: int) -> Room | None:
        return await self._run(
            lambda conn: room_of(
                conn.execute(f"{ROOM_SELECT} WHERE r.id = ?", (room_id,)).fetchone()
            )
        )

    async def add_member(self, room_id: int, user_id: int) -> None:
        await self._run(
            lambda conn: conn.execute(
                "INSERT INTO room_members (room_id, user_id, joined_at) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (room_id, user_id, now_ms()),
            )
        )

    async def room_for_member(self, room_id: int, user_id: int) -> tuple[Room | None, bool]:
        sql = ROOM_FOR_MEMBER_SQL.format(room=":room", user=":user")

        def select(conn: sqlite3.Connection) -> tuple[Room | None, bool]:
            row = conn.execute(sql, {"room": room_id, "user": user_id}).fetchone()
            return room_of(row), row is not None and bool(row["is_member"])

        return await self._run(select)

    async def is_member(self, room_id: int, user_id: int) -> bool:
        return await self._run(
            lambda conn: (
                conn.execute(
                    "SELECT 1 FROM room_members WHERE room_id = ? AND user_id = ?",
                    (room_id, user_id),
                ).fetchone()
                is not None
            )
        )

    async def rooms_for_members(
        self, pairs: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], tuple[Room, bool]]:
        sql = ROOMS_FOR_MEMBERS_SQL.format(pairs=_PAIRS, member=_MEMBER)
        pairs_json = json.dumps([list(pair) for pair in pairs])
        return await self._run(
            lambda conn: rooms_for_members_from_rows(
                conn.execute(sql, {"pairs": pairs_json}), from_ms
            )
        )

    async def rooms_of_users(self, user_ids: Sequence[int]) -> dict[int, list[int]]:
        ids = json.dumps(list(user_ids))
        return await self._run(lambda conn: rooms_by_user(conn.execute(_ROOMS_OF_USERS, (ids,))))

    async def rooms_of(self, user_id: int) -> list[int]:
        return await self._run(
            lambda conn: [
                row[0]
                for row in conn.execute(
                    "SELECT room_id FROM room_members WHERE user_id = ? ORDER BY room_id",
                    (user_id,),
                )
            ]
        )

    async def room_members(
        self, room_id: int, *, after: int, limit: int
    ) -> list[tuple[int, str, str]]:
        sql = ROOM_MEMBERS_SQL.format(room="?", after="?", limit="?")
        rows = await self._run(lambda conn: conn.execute(sql, (room_id, after, limit)).fetchall())
        return [(row[0], row[1], row[2]) for row in rows]

    async def room_details(self, user_id: int, lobby_id: int) -> list[RoomDetails]:
        sql = ROOM_DETAILS_SQL.format(user=":user", lobby=":lobby")
        values = {"user": user_id, "lobby": lobby_id}
        rows = await self._run(lambda conn: conn.execute(sql, values).fetchall())
        return [room_details_from_row(row, from_ms) for row in rows]

    async def direct_room(self, user_a: int, user_b: int, *, create: bool) -> Room | None:
        low, high = sorted((user_a, user_b))
        find = f"{ROOM_SELECT} WHERE d.low_user_id = ? AND d.high_user_id = ?"

        def get_or_create(conn: sqlite3.Connection) -> Room | None:
            # A pair's room never changes once made: the usual case is a plain read, with
            # no write lock to contend with the message writer's commits.
            room = room_of(conn.execute(find, (low, high)).fetchone())
            if room is not None or not create:
                return room
            # BEGIN IMMEDIATE takes the write lock before looking again, so two callers
            # cannot both miss and both create.
            with transaction(conn):
                room = room_of(conn.execute(find, (low, high)).fetchone())
                if room is None:
                    now = now_ms()
                    (room_id,) = conn.execute(
                        "INSERT INTO rooms (name, kind, is_private, creator_id, created_at)"
                        " VALUES (NULL, 'direct', 1, ?, ?) RETURNING id",
                        (user_a, now),
                    ).fetchone()
                    conn.execute(
                        "INSERT INTO direct_rooms (room_id, low_user_id, high_user_id)"
                        " VALUES (?, ?, ?)",
                        (room_id, low, high),
                    )
                    conn.executemany(
                        "INSERT INTO room_members (room_id, user_id, joined_at) VALUES (?, ?, ?)"
                        " ON CONFLICT DO NOTHING",
                        [(room_id, low, now), (room_id, high, now)],
                    )
                    room = room_of(conn.execute(find, (low, high)).fetchone())
            assert room is not None
            return room

        return await self._run(get_or_create)

    async def public_rooms(self, limit: int) -> list[PublicRoom]:
        sql = PUBLIC_ROOMS_SQL.format(limit="?")
        rows = await self._run(lambda conn: conn.execute(sql, (limit,)).fetchall())
        return [PublicRoom(row["id"], row["name"], row["members"]) for row in rows]

    # --- notification levels ---

    async def set_notification_level(self, user_id: int, room_id: int, level: str) -> None:
        sql = SET_NOTIFICATION_LEVEL_SQL.format(user=":user", room=":room", level=":level")
        values = {"user": user_id, "room": room_id, "level": level}
        await self._run(lambda conn: conn.execute(sql, values))

    async def notification_level(self, user_id: int, room_id: int) -> str | None:
        sql = NOTIFICATION_LEVEL_SQL.format(user="?", room="?")
        row = await self._run(lambda conn: conn.execute(sql, (user_id, room_id)).fetchone())
        return None if row is None else str(row[0])

    # --- read markers ---

    async def mark_read(self, user_id: int, room_id: int, message_id: int) -> int | None:
        sql = MARK_READ_SQL.format(user=":user", room=":room", message=":message", greatest="max")
        values = {"user": user_id, "room": room_id, "message": message_id}
        row = await self._run(lambda conn: conn.execute(sql, values).fetchone())
        return None if row is None else row[0]

    async def unread_counts(self, user_id: int, lobby_id: int) -> list[tuple[int, int, int]]:
        sql = UNREAD_COUNTS_SQL.format(
            user=":user", lobby=":lobby", cap=UNREAD_CAP, whole_room="m.mentions_room <> 0"
        )
        values = {"user": user_id, "lobby": lobby_id}
        rows = await self._run(lambda conn: conn.execute(sql, values).fetchall())
        return [(row[0], row[1], row[2]) for row in rows]

    # --- mentions ---

    async def mention_candidates(
        self, room_id: int, keys: list[str]
    ) -> list[tuple[str, int, bool]]:
        # Positional marks: the room twice (as the query names it), then the keys.
        sql = MENTION_CANDIDATES_SQL.format(room="?", keys=", ".join("?" * len(keys)))
        values = [room_id, room_id, *keys]
        rows = await self._run(lambda conn: conn.execute(sql, values).fetchall())
        return [candidate_from_row(row) for row in rows]

    async def member_count(self, room_id: int) -> int:
        sql = MEMBER_COUNT_SQL.format(room="?")
        row = await self._run(lambda conn: conn.execute(sql, (room_id,)).fetchone())
        return 0 if row is None else int(row[0])
