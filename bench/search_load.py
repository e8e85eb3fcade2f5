"""Fill a fresh chat database with a search benchmark's corpus (bench/search_text.py).

The schema is the server's own: `chat migrate` makes it first, then the users, group
rooms, memberships and messages are written in bulk (SQLite: large transactions of
`executemany`; PostgreSQL: `COPY`). The search index the migrations made is taken away
for the load and built again once at the end, as a database that grew message by
message would hold it, only sooner: its triggers (SQLite) or its index (PostgreSQL)
are dropped, and their own definitions, read back from the schema, re-created; on
SQLite the FTS5 table is rebuilt and the server's indexer told it holds every loaded
message (`message_search_state`, as the migration does after its own rebuild).

Message ids are positions the change stream shares (docs/DESIGN.md, "Changes join the
same stream"), so they are left to the database: AUTOINCREMENT (sqlite_sequence) and
the identity sequence move past the loaded ids, and `check_positions` says so.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import bcrypt
from search_text import Corpus

from chat.store.accounts import name_keys

#: Messages written per transaction (SQLite) or per COPY (PostgreSQL).
BATCH = 50_000


@dataclass
class LoadReport:
    """How long each step took (seconds) and what the database holds afterwards."""

    seconds: dict[str, float] = field(default_factory=dict)
    messages: int = 0
    first_message_id: int = 0
    index: list[str] = field(default_factory=list)  # what was dropped and rebuilt

    def timed(self, step: str, started: float) -> None:
        self.seconds[step] = round(time.monotonic() - started, 1)


def migrate(env: dict[str, str]) -> None:
    """`chat migrate` with the server's own migrations, on the database `env` names."""
    subprocess.run(
        [sys.executable, "-m", "chat", "migrate"], env=env, check=True, capture_output=True
    )


def _batches(rows: Iterator[tuple], size: int = BATCH) -> Iterator[list[tuple]]:
    while batch := list(islice(rows, size)):
        yield batch


def _password_hash(password: str) -> str:
    # One hash for every user (cost 4: the benchmark logs in, it does not measure bcrypt).
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()


# --- SQLite ---


def sqlite_search_triggers(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(name, SQL) of the triggers on `messages` that keep an FTS5 table: the index."""
    fts = [
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%USING fts5%'"
        )
    ]
    triggers = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'messages'"
    ).fetchall()
    return [(name, sql) for name, sql in triggers if any(table in sql for table in fts)]


def sqlite_fts_tables(conn: sqlite3.Connection) -> list[str]:
    return [
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%USING fts5%'"
        )
    ]


def load_sqlite(corpus: Corpus, data_dir: Path, password: str, env: dict[str, str]) -> LoadReport:
    """Migrate a fresh data directory, then load `corpus` into its chat.sqlite3."""
    if data_dir.exists() and any(data_dir.iterdir()):
        raise RuntimeError(f"{data_dir} is not empty: the load needs a fresh data directory")
    report = LoadReport()
    started = time.monotonic()
    migrate({**env, "CHAT_DATA_DIR": str(data_dir)})
    report.timed("migrate", started)
    conn = sqlite3.connect(data_dir / "chat.sqlite3", isolation_level=None)
    try:
        # For the load only: nothing to lose if it crashes half-way (the file is thrown
        # away), and the server sets its own settings when it opens the file.
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -262144")
        triggers = sqlite_search_triggers(conn)
        report.index = [name for name, _sql in triggers]
        for name, _sql in triggers:
            conn.execute(f"DROP TRIGGER {name}")

        started = time.monotonic()
        now_ms = int(time.time() * 1000)
        start_ms = now_ms - corpus.days * 86_400_000
        hashed = _password_hash(password)
        conn.execute("BEGIN")
        user_ids = []
        for name in corpus.user_names():
            keys = name_keys(name)
            cursor = conn.execute(
                "INSERT INTO users (name, name_key, look_key, password_hash, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (name, keys["name_key"], keys["look_key"], hashed, start_ms),
            )
            user_ids.append(cursor.lastrowid)
        room_ids = []
        for room, name in enumerate(corpus.room_names()):
            creator = user_ids[corpus.members[room][0]]
            cursor = conn.execute(
                "INSERT INTO rooms (name, kind, is_private, creator_id, created_at)"
                " VALUES (?, 'group', 0, ?, ?)",
                (name, creator, start_ms),
            )
            room_ids.append(cursor.lastrowid)
            conn.executemany(
                "INSERT INTO room_members (room_id, user_id, joined_at) VALUES (?, ?, ?)",
                [(room_ids[room], user_ids[u], start_ms) for u in corpus.members[room]],
            )
        conn.execute("COMMIT")
        report.timed("users and rooms", started)

        started = time.monotonic()
        rows = (
            (room_ids[room], user_ids[sender], text, start_ms + at * 1000)
            for room, sender, text, at in corpus.messages()
        )
        for batch in _batches(rows):
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO messages (room_id, sender_id, body, created_at) VALUES (?, ?, ?, ?)",
                batch,
            )
            conn.execute("COMMIT")
            report.messages += len(batch)
        report.timed("messages", started)

        started = time.monotonic()
        conn.execute("BEGIN")
        for table in sqlite_fts_tables(conn):
            conn.execute(f"INSERT INTO {table} ({table}) VALUES ('rebuild')")
        for _name, sql in triggers:
            conn.execute(sql)
        _sqlite_mark_indexed(conn, "(SELECT max(id) FROM messages)")
        conn.execute("COMMIT")
        report.timed("search index", started)
        report.first_message_id = _sqlite_check_positions(conn, report.messages)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return report


def _sqlite_check_positions(conn: sqlite3.Connection, count: int) -> int:
    """The first loaded message's id, once the ids are known to be contiguous and the
    AUTOINCREMENT counter (which the change stream also draws from) past them."""
    low, high, rows = conn.execute("SELECT min(id), max(id), count(*) FROM messages").fetchone()
    (seq,) = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'messages'").fetchone()
    if rows != count or high - low + 1 != count or seq < high:
        raise RuntimeError(f"messages {low}..{high} ({rows} rows), sqlite_sequence at {seq}")
    return low


def sqlite_sizes(path: Path) -> dict[str, int]:
    """Bytes of the messages table (with its own indexes) and of the search index (the
    FTS5 table's shadow tables), from dbstat."""
    conn = sqlite3.connect(path)
    try:
        sizes = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
        fts = sqlite_fts_tables(conn)
        messages_indexes = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages'"
            )
        ]
    finally:
        conn.close()
    index = sum(size for name, size in sizes.items() if any(name.startswith(t + "_") for t in fts))
    return {
        "messages_table_bytes": sizes.get("messages", 0),
        "messages_indexes_bytes": sum(sizes.get(name, 0) for name in messages_indexes),
        "search_index_bytes": index,
        "database_bytes": sum(sizes.values()),
    }


#: Where the server's indexer records how far the index goes (sql/sqlite/0017_search.sql):
#: every message up to `indexed_up_to` is in the index, none above it.
_SQLITE_INDEX_STATE = "message_search_state"


def _sqlite_mark_indexed(conn: sqlite3.Connection, up_to: str) -> None:
    """Tell the server's indexer the index goes up to `up_to` (an SQL expression), as the
    migration does after its own 'rebuild'; without it the indexer would add every
    loaded message a second time."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (_SQLITE_INDEX_STATE,)
    ).fetchone()
    if exists:
        conn.execute(f"UPDATE {_SQLITE_INDEX_STATE} SET indexed_up_to = {up_to}")


def sqlite_drop_index(path: Path) -> list[tuple[str, str]]:
    """Bench only: stop keeping the search index, so that what the index costs a write
    can be measured on the same database without it: the triggers that change it are
    dropped, and the server's indexer is told the index is already past every id (it
    then finds nothing to add). Returns the triggers, for `sqlite_restore_index`."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        triggers = sqlite_search_triggers(conn)
        for name, _sql in triggers:
            conn.execute(f"DROP TRIGGER {name}")
        _sqlite_mark_indexed(conn, str(2**63 - 1))
    finally:
        conn.close()
    return triggers


def sqlite_restore_index(path: Path, triggers: list[tuple[str, str]]) -> None:
    """Keep the index again from here: the triggers back, and the indexer told the
    index goes up to the newest message. The messages written meanwhile stay out of it
    (bench only; nothing measured reads them)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for _name, sql in triggers:
            conn.execute(sql)
        _sqlite_mark_indexed(conn, "(SELECT max(id) FROM messages)")
    finally:
        conn.close()


# --- PostgreSQL ---


async def _pg_search_indexes(conn) -> list[tuple[str, str]]:
    """(name, definition) of the trigram or full-text indexes on `messages`."""
    rows = await conn.fetch(
        "SELECT indexname, indexdef FROM pg_indexes"
        " WHERE schemaname = current_schema() AND tablename = 'messages'"
        " AND (indexdef ILIKE '%gin%' OR indexdef ILIKE '%gist%')"
    )
    return [(row["indexname"], row["indexdef"]) for row in rows]


async def _pg_load(corpus: Corpus, url: str, password: str, report: LoadReport) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        indexes = await _pg_search_indexes(conn)
        report.index = [name for name, _def in indexes]
        for name, _def in indexes:
            await conn.execute(f"DROP INDEX {name}")

        started = time.monotonic()
        now = datetime.datetime.now(datetime.UTC)
        start = now - datetime.timedelta(days=corpus.days)
        hashed = _password_hash(password)
        async with conn.transaction():
            user_ids = []
            for name in corpus.user_names():
                keys = name_keys(name)
                user_ids.append(
                    await conn.fetchval(
                        "INSERT INTO users (name, name_key, look_key, password_hash, created_at)"
                        " VALUES ($1, $2, $3, $4, $5) RETURNING id",
                        name,
                        keys["name_key"],
                        keys["look_key"],
                        hashed,
                        start,
                    )
                )
            room_ids = []
            for room, name in enumerate(corpus.room_names()):
                room_ids.append(
                    await conn.fetchval(
                        "INSERT INTO rooms (name, kind, is_private, creator_id, created_at)"
                        " VALUES ($1, 'group', false, $2, $3) RETURNING id",
                        name,
                        user_ids[corpus.members[room][0]],
                        start,
                    )
                )
                await conn.executemany(
                    "INSERT INTO room_members (room_id, user_id, joined_at) VALUES ($1, $2, $3)",
                    [(room_ids[room], user_ids[u], start) for u in corpus.members[room]],
                )
        report.timed("users and rooms", started)

        started = time.monotonic()
        rows = (
            (room_ids[room], user_ids[sender], text, start + datetime.timedelta(seconds=at))
            for room, sender, text, at in corpus.messages()
        )
        for batch in _batches(rows):
            # One COPY a batch: the messages' statement triggers (the position lock, the
            # wake-up) run once per batch, and ids come from the identity sequence.
            await conn.copy_records_to_table(
                "messages",
                records=batch,
                columns=["room_id", "sender_id", "body", "created_at"],
            )
            report.messages += len(batch)
        report.timed("messages", started)

        started = time.monotonic()
        # Bench only: memory for the one-off build (the migration builds it on an empty
        # table; an index grown message by message is the same index).
        await conn.execute("SET maintenance_work_mem = '512MB'")
        for _name, definition in indexes:
            await conn.execute(definition)
        report.timed("search index", started)

        started = time.monotonic()
        # What autovacuum does soon after such a load anyway: the planner's statistics
        # and the visibility map (this schema's tables only: the database is shared).
        await conn.execute("VACUUM ANALYZE messages, rooms, room_members, users")
        # And write the load out now, not during the first measurement.
        await conn.execute("CHECKPOINT")
        report.timed("vacuum analyze, checkpoint", started)
        report.first_message_id = await _pg_check_positions(conn, report.messages)
    finally:
        await conn.close()


async def _pg_check_positions(conn, count: int) -> int:
    low, high, rows = await conn.fetchrow("SELECT min(id), max(id), count(*) FROM messages")
    sequence = await conn.fetchval("SELECT pg_get_serial_sequence('messages', 'id')")
    last = await conn.fetchval(f"SELECT last_value FROM {sequence}")
    if rows != count or high - low + 1 != count or last < high:
        raise RuntimeError(f"messages {low}..{high} ({rows} rows), {sequence} at {last}")
    return low


def load_postgres(corpus: Corpus, url: str, password: str, env: dict[str, str]) -> LoadReport:
    """Migrate the (empty) schema `url` names, then load `corpus` into it."""
    report = LoadReport()
    started = time.monotonic()
    migrate({**env, "CHAT_DATABASE_URL": url})
    report.timed("migrate", started)
    asyncio.run(_pg_load(corpus, url, password, report))
    return report


async def _pg_sizes(url: str) -> dict[str, int]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        indexes = await _pg_search_indexes(conn)
        index = sum(
            [await conn.fetchval("SELECT pg_relation_size($1::regclass)", n) for n, _ in indexes]
        )
        return {
            "messages_table_bytes": await conn.fetchval(
                "SELECT pg_table_size('messages'::regclass)"
            ),
            "messages_indexes_bytes": await conn.fetchval(
                "SELECT pg_indexes_size('messages'::regclass)"
            )
            - index,
            "search_index_bytes": index,
            "database_bytes": await conn.fetchval(
                "SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'm')"
            ),
        }
    finally:
        await conn.close()


def postgres_sizes(url: str) -> dict[str, int]:
    """Bytes of the messages table (with TOAST), its other indexes and the search index."""
    return asyncio.run(_pg_sizes(url))


async def _pg_drop(url: str) -> list[tuple[str, str]]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        indexes = await _pg_search_indexes(conn)
        for name, _def in indexes:
            await conn.execute(f"DROP INDEX {name}")
        return indexes
    finally:
        await conn.close()


def postgres_drop_index(url: str) -> list[tuple[str, str]]:
    """Bench only: drop the search index, to measure writes without it. Returns the
    indexes' definitions, for `postgres_restore_index`."""
    return asyncio.run(_pg_drop(url))


async def _pg_restore(url: str, indexes: list[tuple[str, str]]) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET maintenance_work_mem = '512MB'")
        for _name, definition in indexes:
            await conn.execute(definition)
    finally:
        await conn.close()


def postgres_restore_index(url: str, indexes: list[tuple[str, str]]) -> None:
    """The indexes built again (about as long as at the load)."""
    asyncio.run(_pg_restore(url, indexes))


class IndexSwitch:
    """Bench only: the search index of one database taken away and put back, to measure
    what keeping it costs the writes (`where`: the SQLite file, or PostgreSQL's URL)."""

    def __init__(self, backend: str, where: str) -> None:
        self.backend, self.where = backend, where
        self.saved: list[tuple[str, str]] = []

    def drop(self) -> list[str]:
        """Take the index away; the names of what was dropped."""
        if self.backend == "sqlite":
            self.saved = sqlite_drop_index(Path(self.where))
        else:
            self.saved = postgres_drop_index(self.where)
        return [name for name, _definition in self.saved]

    def restore(self) -> None:
        if self.backend == "sqlite":
            sqlite_restore_index(Path(self.where), self.saved)
        else:
            postgres_restore_index(self.where, self.saved)


def environment() -> dict[str, str]:
    """The caller's environment without the settings the benchmark decides."""
    env = dict(os.environ)
    for name in ("CHAT_DATABASE_URL", "CHAT_BUS_URL", "CHAT_WORKERS", "CHAT_DATA_DIR"):
        env.pop(name, None)
    return env
