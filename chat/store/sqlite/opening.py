"""Opening a SQLite store: creating (mode 0600, `chat.store.private_paths`) and migrating
the file, filling in name keys, and the serving lock that keeps a second `chat serve` off
the same file.

Resource handling: connections are opened and migrated by `open_sqlite_store` and closed
when it exits.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import trio

from chat.core.config import ONE_INSTANCE_ON_SQLITE
from chat.core.errors import AlreadyServed, Unavailable
from chat.store.accounts import fill_in_name_keys
from chat.store.database_store import DatabaseStore
from chat.store.migrations import (
    COMPATIBLE_COLUMN,
    SCHEMA_VERSION_TABLE,
    Migration,
    Recorded,
    check_recorded,
    load_migrations,
    log_applied,
)
from chat.store.private_paths import PRIVATE_FILE, create_private_file, make_private_directory
from chat.store.sqlite.engine import (
    SQLiteConnection,
    SQLiteDatabase,
    open_connection,
    run_to_completion,
    transaction,
    unavailable_detail,
)


def _split_statements(script: str) -> list[str]:
    """Split a script into complete statements (executescript would commit our transaction)."""
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                statements.append(pending)
            pending = ""
    if pending.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in pending.splitlines()
    ):
        raise ValueError(f"incomplete SQL statement at the end of a migration: {pending!r}")
    return statements


def _recorded(conn: sqlite3.Connection) -> list[Recorded]:
    """The database's ``schema_version`` rows (no row says compatible before the column)."""
    columns = {row[1] for row in conn.execute(f"PRAGMA table_info({SCHEMA_VERSION_TABLE})")}
    flag = COMPATIBLE_COLUMN if COMPATIBLE_COLUMN in columns else "0"
    rows = conn.execute(f"SELECT version, name, {flag} FROM {SCHEMA_VERSION_TABLE}")
    return [Recorded(version, name, bool(flag)) for version, name, flag in rows]


def _migrate(conn: sqlite3.Connection, migrations: list[Migration]) -> list[str]:
    """Apply the migrations this database lacks; returns the names applied. Refuses a
    database a newer release migrated (`check_recorded`)."""
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {SCHEMA_VERSION_TABLE} ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
    )
    check_recorded("SQLite", migrations, _recorded(conn))
    applied_now = []
    for migration in migrations:
        took: float | None = None
        keys_off = migration.sql.startswith(FOREIGN_KEYS_OFF)
        if keys_off:
            # Outside any transaction: SQLite ignores this pragma inside one.
            conn.execute("PRAGMA foreign_keys = OFF")
        try:
            # BEGIN IMMEDIATE takes the write lock, so two processes starting at once
            # apply each migration exactly once: the second one sees the first one's row.
            with transaction(conn):
                done = conn.execute(
                    f"SELECT 1 FROM {SCHEMA_VERSION_TABLE} WHERE version = ?",
                    (migration.version,),
                ).fetchone()
                if done is None:
                    started = time.monotonic()
                    for statement in _split_statements(migration.sql):
                        conn.execute(statement)
                    if keys_off:
                        _check_foreign_keys(conn, migration)
                    conn.execute(
                        f"INSERT INTO {SCHEMA_VERSION_TABLE} (version, name, applied_at)"
                        " VALUES (?, ?, ?)",
                        (migration.version, migration.name, time.time_ns() // 1_000_000),
                    )
                    if migration.compatible_with_older_code:
                        conn.execute(
                            f"UPDATE {SCHEMA_VERSION_TABLE} SET {COMPATIBLE_COLUMN} = 1"
                            " WHERE version = ?",
                            (migration.version,),
                        )
                    applied_now.append(migration.label)
                    took = time.monotonic() - started
        finally:
            if keys_off:
                conn.execute("PRAGMA foreign_keys = ON")
        if took is not None:  # committed
            log_applied("sqlite", migration, took)
    return applied_now


#: The first line of a migration that rebuilds a table others refer to: it runs with
#: foreign keys off (SQLite's procedure for changing a table's definition), and commits
#: only if every reference still holds.
FOREIGN_KEYS_OFF = "-- chat: foreign keys off"


def _check_foreign_keys(conn: sqlite3.Connection, migration: Migration) -> None:
    broken = conn.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise ValueError(
            f"migration {migration.version:04d}_{migration.name} would break"
            f" {len(broken)} foreign key reference(s), the first: {tuple(broken[0])}"
        )


def serving_lock_path(path: Path) -> Path:
    """The file a serving process keeps locked next to the database at `path`."""
    return path.with_name(path.name + ".lock")


@contextmanager
def serving_lock(path: Path) -> Iterator[None]:
    """Hold the database at `path` as its one serving process, for the block.

    A SQLite file has no way to tell other servers about new messages, so a second
    `chat serve` on it would be a second, deaf chat. This takes an exclusive `flock` on
    a file beside the database; the kernel releases it when the process ends, however
    it ends. Raises `AlreadyServed`, naming the holder's pid, if another process has it.
    (`chat migrate` and `chat user add` do not take it: they may run beside the server.)
    """
    lock_path = serving_lock_path(path)
    make_private_directory(lock_path.parent)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise AlreadyServed(
                f"{path} is already served by another chat process (pid {holder}): "
                + ONE_INSTANCE_ON_SQLITE
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def sqlite_path_from_url(url: str) -> Path:
    """``sqlite:///relative/path`` or ``sqlite:////absolute/path`` -> a path."""
    return Path(url.removeprefix("sqlite:///"))


@asynccontextmanager
async def open_sqlite_store(path: Path, *, connections: int) -> AsyncIterator[DatabaseStore]:
    """Open (creating if needed) and migrate the database at `path`, and give users
    without name keys theirs (`fill_in_name_keys`); close it on exit."""
    migrations = load_migrations("sqlite")

    def open_all() -> tuple[list[sqlite3.Connection], int, list[str]]:
        # Private from the start: SQLite gives its -wal and -shm the database's mode.
        make_private_directory(path.parent)
        create_private_file(path)
        opened = [open_connection(path)]
        try:
            applied = _migrate(opened[0], migrations)
            with transaction(opened[0]):  # the write lock keeps registrations out
                run_to_completion(fill_in_name_keys(SQLiteConnection(opened[0])))
            (lobby_id,) = opened[0].execute("SELECT id FROM rooms WHERE kind = 'lobby'").fetchone()
            opened.extend(open_connection(path) for _ in range(connections - 1))
        except BaseException:
            for conn in opened:
                conn.close()
            raise
        return opened, lobby_id, applied

    try:
        conns, lobby_id, applied = await trio.to_thread.run_sync(open_all)
    except sqlite3.Error as error:
        detail = unavailable_detail(error)
        if detail is None:
            raise
        raise Unavailable(f"cannot open the SQLite database at {path}: {detail}") from None

    def close_all() -> None:
        for conn in conns:
            conn.close()

    try:
        yield DatabaseStore(SQLiteDatabase(conns), lobby_id=lobby_id, applied=applied)
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(close_all)
