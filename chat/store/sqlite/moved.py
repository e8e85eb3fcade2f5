"""The mark `chat copy-database` leaves on a SQLite database it has copied to PostgreSQL,
and audit entries written into a SQLite file that no store has open (the source of a
copy, a database `chat restore` puts back).

The mark is one row of ``database_moved``: where the chat went (the target's URL
without its password), when, and which operator ran the copy. A `chat serve` on a marked
file, or a `chat user` command that changes users, would split the chat in two (people
on the old server, people on the new one), so they refuse, naming the new database
(`refuse_if_moved`), unless run with ``--force-moved``. A later copy to another target
replaces the row. The table is made by the copy, not by a migration: it exists only in a
database that was moved, and is never copied (`SKIPPED_TABLES`).

Every function here blocks (sqlite3): callers run them in a worker thread.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chat.core.errors import DatabaseMoved
from chat.core.moderation_records import AuditEntry
from chat.store.moderation import INSERT_AUDIT, audit_values
from chat.store.sqlite.engine import sqlite_sql

#: The table of the mark (one row at most).
MOVED_TABLE = "database_moved"

_CREATE = f"""
CREATE TABLE IF NOT EXISTS {MOVED_TABLE} (
    one      INTEGER PRIMARY KEY CHECK (one = 1),
    target   TEXT    NOT NULL,
    moved_at INTEGER NOT NULL,
    moved_by TEXT    NOT NULL
)
"""
_MARK = f"""
INSERT INTO {MOVED_TABLE} (one, target, moved_at, moved_by) VALUES (1, ?, ?, ?)
ON CONFLICT (one) DO UPDATE SET target = excluded.target, moved_at = excluded.moved_at,
    moved_by = excluded.moved_by
"""
#: `INSERT_AUDIT` with the entry's id given (the id its copy in PostgreSQL got).
_INSERT_AUDIT_WITH_ID = sqlite_sql(
    INSERT_AUDIT.replace("(room_id,", "(id, room_id,").replace("VALUES ($1,", "VALUES ($11, $1,")
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def moment_of_ms(ms: int) -> datetime:
    """The moment SQLite keeps as `ms` (milliseconds since the epoch), exactly."""
    return _EPOCH + timedelta(milliseconds=ms)


@dataclass(frozen=True, slots=True)
class Moved:
    """Where a moved database went, when, and who moved it."""

    target: str
    at: datetime
    by: str


def moved_to(path: Path) -> Moved | None:
    """The mark on the SQLite database at `path`, or None (no mark, or no file)."""
    if not path.exists():
        return None
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        table = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        if conn.execute(table, (MOVED_TABLE,)).fetchone() is None:
            return None
        row = conn.execute(f"SELECT target, moved_at, moved_by FROM {MOVED_TABLE}").fetchone()
    finally:
        conn.close()
    return None if row is None else Moved(row[0], moment_of_ms(row[1]), row[2])


def refuse_if_moved(path: Path) -> None:
    """Raise `DatabaseMoved`, naming the new database, if `path` was moved."""
    moved = moved_to(path)
    if moved is None:
        return
    when = moved.at.strftime("%Y-%m-%d %H:%M UTC")
    raise DatabaseMoved(
        f"{path} was moved to {moved.target} by chat copy-database ({moved.by}, {when}):"
        " serving it or changing its users would split the chat in two. Set"
        f" CHAT_DATABASE_URL to the new database, or, to use this file anyway (going back"
        " to SQLite), run the command with --force-moved"
    )


def mark_moved(conn: sqlite3.Connection, target: str, at_ms: int, by: str) -> None:
    """Mark the database moved to `target`, in the caller's transaction."""
    conn.execute(_CREATE)
    conn.execute(_MARK, (target, at_ms, by))


def append_audit(
    conn: sqlite3.Connection, entry: AuditEntry, at_ms: int, audit_id: int | None = None
) -> None:
    """Append `entry` as the store would (`chat.store.moderation.insert_audit`), with
    the id `audit_id` if given, in the caller's transaction."""
    if audit_id is None:
        conn.execute(sqlite_sql(INSERT_AUDIT), audit_values(entry, at_ms))
    else:
        conn.execute(_INSERT_AUDIT_WITH_ID, (*audit_values(entry, at_ms), audit_id))


def has_audit_log(conn: sqlite3.Connection) -> bool:
    """Whether the database has its audit log (every schema since the log came)."""
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'")
    return found.fetchone() is not None
