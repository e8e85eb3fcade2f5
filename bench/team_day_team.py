"""The team bench/team_day.py plays: users, group rooms of many sizes, who is in which,
and some history in every room, written straight into a fresh database.

A team of 10,000 users over HTTP would be 10,000 registrations and some 40,000 joins,
minutes of set-up on PostgreSQL; written in bulk (as bench/search_load.py writes its
corpus) it takes seconds. The schema is the server's own: `chat migrate` makes it
first. Users are logged in with tokens signed with the run's shared secret
(`CHAT_JWT_SECRET`, as bench/run.py signs the peer's), so no bcrypt runs at all; every
user also gets a password hash (cost 4), so that a test can log in as one of them.

The layout comes from a seed. Rooms are sized like a real team's channels, a few large
and many small (member share ``0.5 / k**0.8`` of the team for room ``k``, at least
``MIN_ROOM``): with 40 rooms each user is in about three of them besides the lobby,
which everyone is in. Every room gets ``HISTORY`` older messages (more in the large
ones) from its members, in words from `WORDS`, so that a history page is full, scrolling
back finds more, and a search finds something.
"""

from __future__ import annotations

import asyncio
import datetime
import random
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from search_load import _password_hash, migrate

from chat.store.accounts import name_keys

#: Members of the smallest room.
MIN_ROOM = 8
#: Older messages in a room of MIN_ROOM members; large rooms get up to four times more.
HISTORY = 150
#: The words messages are made of (and searches look for): common ones, and a few
#: rarer ones that make a search find a handful of messages rather than thousands.
WORDS = (  # noqa: SIM905 (a paragraph of words reads better than a column of them)
    "the a to and of in is it for on that this we with be are have deploy build "
    "review merge branch release staging prod ticket meeting standup lunch coffee "
    "docs design test flaky green red fix bug patch rollback metrics latency dashboard "
    "alert oncall pager customer invoice roadmap sprint retro demo kubernetes postgres "
    "cache queue worker timeout retry config secret rotation migration backup restore "
    "quixotrel flumoxide zanderbyte"
).split()
#: Words a search looks for: the common, the middling and the rare.
SEARCH_WORDS = ("deploy", "rollback", "migration", "kubernetes", "quixotrel", "zanderbyte")


@dataclass
class Team:
    """Who is who: user ``i`` is called ``names[i]``; ``members[k]`` are the users (by
    index) of group room ``k``; ``rooms_of[i]`` are user ``i``'s group rooms. Database
    ids (`user_ids`, `room_ids`, `lobby_id`) are filled in by the load."""

    names: list[str]
    members: list[list[int]]
    rooms_of: list[list[int]] = field(default_factory=list)
    user_ids: list[int] = field(default_factory=list)
    room_ids: list[int] = field(default_factory=list)
    lobby_id: int = 0
    messages: int = 0

    def tokens(self, secret: str, ttl_s: int = 86_400) -> list[str]:
        """A token per user, signed as the server signs its own (HS256; `ver` 0, the
        token version of a user who never changed a password)."""
        now = int(time.time())
        return [
            jwt.encode(
                {"sub": str(uid), "name": name, "iat": now, "exp": now + ttl_s, "ver": 0},
                secret,
                algorithm="HS256",
            )
            for uid, name in zip(self.user_ids, self.names, strict=True)
        ]


def make_team(users: int, rooms: int, seed: int) -> Team:
    """The layout of a team of `users` in `rooms` group rooms (and the lobby)."""
    rng = random.Random(seed)
    names = [f"teammate{i}" for i in range(users)]
    members = []
    for k in range(rooms):
        size = max(MIN_ROOM, min(users, round(users * 0.5 / (k + 1) ** 0.8)))
        members.append(sorted(rng.sample(range(users), size)))
    rooms_of: list[list[int]] = [[] for _ in range(users)]
    for k, room in enumerate(members):
        for i in room:
            rooms_of[i].append(k)
    # Everyone has a room of their own team besides the lobby: the smallest rooms
    # take those who drew none.
    for i in range(users):
        if not rooms_of[i]:
            k = rooms - 1 - i % max(1, rooms // 2)
            members[k].append(i)
            rooms_of[i].append(k)
    return Team(names=names, members=[sorted(m) for m in members], rooms_of=rooms_of)


def _history(team: Team, rng: random.Random) -> list[tuple[int, int, str, int]]:
    """(room index or -1 for the lobby, user index, text, seconds ago) of the older
    messages, oldest first within each room."""
    rows = []
    for k in [-1, *range(len(team.members))]:
        room = team.members[k] if k >= 0 else range(len(team.names))
        count = HISTORY * min(4, max(1, len(room) // 500 + 1))
        for n in range(count):
            sender = room[rng.randrange(len(room))]
            words = rng.choices(WORDS, k=rng.randint(3, 40))
            rows.append((k, sender, " ".join(words), (count - n) * 60))
    return rows


def load_sqlite(team: Team, data_dir: Path, env: dict[str, str], password: str, seed: int) -> None:
    """Migrate a fresh data directory and write the team into its chat.sqlite3."""
    migrate({**env, "CHAT_DATA_DIR": str(data_dir)})
    team.user_ids, team.room_ids = [], []  # this database's (the team may be loaded twice)
    rng = random.Random(seed + 1)
    conn = sqlite3.connect(data_dir / "chat.sqlite3", isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")  # the file is thrown away after the run
        now_ms = int(time.time() * 1000)
        hashed = _password_hash(password)
        conn.execute("BEGIN")
        team.lobby_id = conn.execute("SELECT id FROM rooms WHERE kind = 'lobby'").fetchone()[0]
        for name in team.names:
            keys = name_keys(name)
            cursor = conn.execute(
                "INSERT INTO users (name, name_key, look_key, password_hash, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (name, keys["name_key"], keys["look_key"], hashed, now_ms - 86_400_000),
            )
            team.user_ids.append(cursor.lastrowid)
        for k, room in enumerate(team.members):
            cursor = conn.execute(
                "INSERT INTO rooms (name, kind, is_private, creator_id, created_at)"
                " VALUES (?, 'group', 0, ?, ?)",
                (f"team-room-{k}", team.user_ids[room[0]], now_ms - 86_400_000),
            )
            team.room_ids.append(cursor.lastrowid)
            conn.executemany(
                "INSERT INTO room_members (room_id, user_id, joined_at) VALUES (?, ?, ?)",
                [(cursor.lastrowid, team.user_ids[i], now_ms - 86_400_000) for i in room],
            )
        rows = [
            (
                team.room_ids[k] if k >= 0 else team.lobby_id,
                team.user_ids[i],
                text,
                now_ms - ago * 1000,
            )
            for k, i, text, ago in _history(team, rng)
        ]
        conn.executemany(
            "INSERT INTO messages (room_id, sender_id, body, created_at) VALUES (?, ?, ?, ?)",
            rows,
        )
        team.messages = len(rows)
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


async def _load_postgres(team: Team, url: str, password: str, seed: int) -> None:
    import asyncpg

    rng = random.Random(seed + 1)
    team.user_ids, team.room_ids = [], []  # this database's (the team may be loaded twice)
    conn = await asyncpg.connect(url)
    try:
        now = datetime.datetime.now(datetime.UTC)
        then = now - datetime.timedelta(days=1)
        hashed = _password_hash(password)
        async with conn.transaction():
            team.lobby_id = await conn.fetchval("SELECT id FROM rooms WHERE kind = 'lobby'")
            rows = []
            for name in team.names:
                keys = name_keys(name)
                rows.append((name, keys["name_key"], keys["look_key"], hashed, then))
            await conn.copy_records_to_table(
                "users",
                records=rows,
                columns=["name", "name_key", "look_key", "password_hash", "created_at"],
            )
            by_name = dict(await conn.fetch("SELECT name, id FROM users"))
            team.user_ids = [by_name[name] for name in team.names]
            for k, room in enumerate(team.members):
                room_id = await conn.fetchval(
                    "INSERT INTO rooms (name, kind, is_private, creator_id, created_at)"
                    " VALUES ($1, 'group', false, $2, $3) RETURNING id",
                    f"team-room-{k}",
                    team.user_ids[room[0]],
                    then,
                )
                team.room_ids.append(room_id)
                await conn.copy_records_to_table(
                    "room_members",
                    records=[(room_id, team.user_ids[i], then) for i in room],
                    columns=["room_id", "user_id", "joined_at"],
                )
            history = [
                (
                    team.room_ids[k] if k >= 0 else team.lobby_id,
                    team.user_ids[i],
                    text,
                    now - datetime.timedelta(seconds=ago),
                )
                for k, i, text, ago in _history(team, rng)
            ]
            # One COPY: the messages' statement triggers (the position lock, the
            # wake-up) run once, and ids come from the identity sequence.
            await conn.copy_records_to_table(
                "messages", records=history, columns=["room_id", "sender_id", "body", "created_at"]
            )
            team.messages = len(history)
        await conn.execute("VACUUM ANALYZE messages, rooms, room_members, users")
    finally:
        await conn.close()


def load_postgres(team: Team, url: str, env: dict[str, str], password: str, seed: int) -> None:
    """Migrate the (empty) schema `url` names and write the team into it."""
    migrate({**env, "CHAT_DATABASE_URL": url})
    asyncio.run(_load_postgres(team, url, password, seed))
