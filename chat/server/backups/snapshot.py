"""A consistent copy of a SQLite database that a server may be writing, made with
SQLite's online backup API (https://www.sqlite.org/backup.html).

The copy goes `PAGES_PER_STEP` pages at a time with a pause between steps, so that it
never holds the database for long. In WAL mode (the server's) a step is a short read
transaction, which writers do not wait for; but a write by another process between two
steps makes SQLite start the copy again from the first page. A server busy enough to
restart it `MAX_RESTARTS` times gets the rest copied in one step: still a single read
transaction, which its writers do not wait for either (only checkpoints stop at the
page it reads, until it ends).

Resource handling: blocking; run `take_snapshot` in a worker thread started by Trio
(`trio.to_thread.run_sync`): between steps it checks whether that Trio task was
cancelled, and stops if so.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import trio

from chat.server.backups.archive import BackupError
from chat.store.migrations import SCHEMA_VERSION_TABLE

#: Pages copied per step (4 KiB each: 4 MiB per step).
PAGES_PER_STEP = 1024
#: The pause between steps, which lets the server's writers in.
PAUSE_S = 0.005
#: Restarts (writes between steps) tolerated before copying the rest in one step.
MAX_RESTARTS = 8
#: How long a step waits for a lock it needs (a checkpoint, a migration) before failing.
BUSY_TIMEOUT_S = 30.0


class _TooBusy(Exception):
    """The copy restarted `MAX_RESTARTS` times: copy the rest in one step."""


def open_live(path: Path) -> sqlite3.Connection:
    """A connection to the server's database at `path`, which must exist (never creates
    one: a wrong data directory is an error, not a new empty database)."""
    if not path.is_file():
        raise BackupError(f"{path}: no database there (is CHAT_DATA_DIR right?)")
    try:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=rw",
            uri=True,
            timeout=BUSY_TIMEOUT_S,
            check_same_thread=False,  # used from one worker thread at a time
        )
        try:
            known = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                (SCHEMA_VERSION_TABLE,),
            ).fetchone()
        except BaseException:
            conn.close()
            raise
    except sqlite3.Error as error:
        raise BackupError(f"{path}: cannot read the database: {error}") from None
    if known is None:
        conn.close()
        raise BackupError(f"{path} is not a chat database (no {SCHEMA_VERSION_TABLE} table)")
    return conn


def take_snapshot(source: sqlite3.Connection, target_path: Path) -> int:
    """Copy the database on `source` to a new file at `target_path`, consistent as of
    the end of the copy, in rollback-journal mode (one file, nothing beside it); how many
    times writes restarted the copy."""
    restarts = 0
    last_remaining: int | None = None

    def between_steps(status: int, remaining: int, total: int) -> None:
        nonlocal restarts, last_remaining
        trio.from_thread.check_cancelled()
        if last_remaining is not None and remaining > last_remaining:
            restarts += 1
            if restarts >= MAX_RESTARTS:
                raise _TooBusy
        last_remaining = remaining
        time.sleep(PAUSE_S)

    target_path.unlink(missing_ok=True)
    target = sqlite3.connect(target_path, isolation_level=None)
    try:
        try:
            source.backup(target, pages=PAGES_PER_STEP, progress=between_steps)
        except _TooBusy:
            source.backup(target, pages=-1)
        # The copy has the source's WAL mode in its header: back to one file.
        target.execute("PRAGMA journal_mode = DELETE")
    except sqlite3.Error as error:
        raise BackupError(f"cannot copy the database: {error}") from None
    finally:
        target.close()
    return restarts
