"""The SQLite store's base: its pool of connections, and running a function on one of
them in a worker thread (`SQLiteBase._run`), with SQLite's errors turned into the
domain's. Each concern's module (accounts, rooms, support, messages) adds its methods
to it; `chat.store.sqlite.store.SQLiteStore` is all of them.

Error handling: a database that cannot serve now (locked by another connection for
longer than `BUSY_TIMEOUT_S`, a disk I/O error, a full disk, a file that cannot be
opened) raises `Unavailable`, with the cause in its `detail` and in a WARNING; any other
SQLite error (a wrong statement) is a bug and propagates as it is.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import trio

from chat.core.errors import EmailTaken, Gone, NameTaken, RoomNameTaken, Unavailable
from chat.core.records import Message, PoolUsage, Room, User
from chat.store.shared.accounts import user_from_row
from chat.store.shared.measuring import pool_usage
from chat.store.shared.messages import message_from_row
from chat.store.shared.rooms import room_from_row

if TYPE_CHECKING:
    from chat.core.observer import Observer

log = logging.getLogger(__name__)


T = TypeVar("T")

# The health check reads a real table, so it fails when the schema is unreadable.
_PING = "SELECT id FROM rooms WHERE kind = 'lobby'"

#: How long a connection waits for another connection's write lock before failing
#: (read when a connection is opened; tests make it short).
BUSY_TIMEOUT_S = 30.0

#: SQLite's primary result codes (https://www.sqlite.org/rescode.html) that mean "the
#: database cannot serve now", not "this statement is wrong", and what each means.
_UNAVAILABLE_CODES = {
    sqlite3.SQLITE_BUSY: "the database is locked by another connection",
    sqlite3.SQLITE_LOCKED: "a table is locked by another statement",
    sqlite3.SQLITE_NOMEM: "SQLite ran out of memory",
    sqlite3.SQLITE_READONLY: "the database file cannot be written",
    sqlite3.SQLITE_IOERR: "the database file cannot be read or written (disk I/O error)",
    sqlite3.SQLITE_CORRUPT: "the database file is corrupt",
    sqlite3.SQLITE_FULL: "the disk holding the database is full",
    sqlite3.SQLITE_CANTOPEN: "the database file cannot be opened",
    sqlite3.SQLITE_NOTADB: "the database file is not a SQLite database",
}


def unavailable_detail(error: sqlite3.Error) -> str | None:
    """What an error says about the database, if it means the database cannot serve now
    (None for a statement that is wrong, which is a bug)."""
    code: int | None = getattr(error, "sqlite_errorcode", None)
    primary = None if code is None else code & 0xFF
    meaning = None if primary is None else _UNAVAILABLE_CODES.get(primary)
    if meaning is None:
        return None
    if primary == sqlite3.SQLITE_BUSY:
        meaning += f" (waited {BUSY_TIMEOUT_S:g} s)"
    return f"{meaning}: {error} ({error.sqlite_errorname})"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def user_of(row: sqlite3.Row | None) -> User | None:
    return user_from_row(row, from_ms)


def room_of(row: sqlite3.Row | None) -> Room | None:
    return room_from_row(row, from_ms)


def message_of(row: sqlite3.Row) -> Message:
    return message_from_row(row, from_ms)


def integrity_error(error: sqlite3.IntegrityError, name: str) -> Exception:
    """The domain error for a unique-constraint violation, or the error itself."""
    text = str(error)
    if text.endswith("users.name"):  # the name itself; its keys: `user_integrity_error`
        return NameTaken(name)
    if "users.email" in text:
        return EmailTaken()
    if "rooms.name" in text:
        return RoomNameTaken(name)
    return error


def user_integrity_error(
    conn: sqlite3.Connection, error: sqlite3.IntegrityError, name: str, keys: dict[str, str]
) -> Exception:
    """`integrity_error` for a write of user `name` with name keys `keys`: a taken key
    names the user who holds it."""
    for column, key in keys.items():
        if f"users.{column}" in str(error):
            holder = conn.execute(f"SELECT name FROM users WHERE {column} = ?", (key,)).fetchone()
            return NameTaken(name, None if holder is None else holder[0])
    return integrity_error(error, name)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error, a failed COMMIT included: the
    connection is never left inside a transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        # After some errors (a full disk, an I/O error) SQLite has rolled back already,
        # and a ROLLBACK would fail and hide the error that matters.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


#: A function every connection has: whether a text contains a word already case-folded,
#: compared as Python folds case (the search's words of one or two characters, which
#: the trigram index cannot find: chat/store/sqlite/search.py).
CONTAINS_FOLDED = "chat_contains_folded"


def _contains_folded(text: str | None, folded_word: str) -> bool:
    return text is not None and folded_word in text.casefold()


def open_connection(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode = WAL")
    # WAL + NORMAL: a commit survives a crash of this process; only a power loss can
    # roll back the very last transactions. The file is never corrupted either way.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.create_function(CONTAINS_FOLDED, 2, _contains_folded, deterministic=True)
    return conn


class SQLiteBase:
    """The connections of a SQLite store, and the `Operations` role on them. Create the
    whole store with `open_sqlite_store`."""

    def __init__(
        self, connections: list[sqlite3.Connection], lobby_id: int, applied: list[str]
    ) -> None:
        self._idle = list(connections)
        # One token per connection: holding a token means one idle connection is ours.
        self._limiter = trio.CapacityLimiter(len(connections))
        self.history_seconds: Observer | None = None
        self.lobby_id = lobby_id
        #: Migrations this process applied when it opened the database.
        self.applied_migrations = applied

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn` on an idle connection, in a worker thread; raises `Gone` for a foreign key
        that no longer holds and `Unavailable` for a database that cannot serve now."""
        async with self._limiter:
            conn = self._idle.pop()
            try:
                return await trio.to_thread.run_sync(fn, conn)
            except sqlite3.IntegrityError as error:
                # A user or room deleted while a request referring to it was under way.
                if "FOREIGN KEY" in str(error):
                    raise Gone() from None
                raise
            except sqlite3.Error as error:
                # Locked for too long, disk full, file gone: not a bug in the request.
                detail = unavailable_detail(error)
                if detail is None:
                    raise
                log.warning("database unavailable: %s", detail)
                raise Unavailable(detail=detail) from error
            finally:
                # Reached after the thread has finished, even when cancelled: the
                # connection is idle again and its last transaction is closed.
                self._idle.append(conn)

    def pool_usage(self) -> PoolUsage:
        # In use: a worker thread is running a statement on that connection.
        return pool_usage(self._limiter)

    async def ping(self) -> None:
        await self._run(lambda conn: conn.execute(_PING).fetchone())
