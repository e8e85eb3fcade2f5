"""The embedded store: a SQLite file, used when no database URL is configured.

sqlite3 blocks, so no call into it runs on the Trio thread. The store keeps a small pool
of connections; a `trio.CapacityLimiter` with one token per connection decides who may
use one, and the call itself runs in `trio.to_thread.run_sync`.

Resource handling: connections are opened and migrated by `open_sqlite_store` and closed
when it exits. Cancellation: a thread cannot be interrupted, so a cancelled call waits
for its statement to finish (Trio's default for `to_thread`) and then raises `Cancelled`;
every method is one transaction, so the database and the connection are left in a
consistent state either way.

Error handling: a database that cannot serve now (locked by another connection for
longer than `BUSY_TIMEOUT_S`, a disk I/O error, a full disk, a file that cannot be
opened) raises `Unavailable`, with the cause in its `detail` and in a WARNING; any other
SQLite error (a wrong statement) is a bug and propagates as it is.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import trio

from ..config import ONE_INSTANCE_ON_SQLITE
from ..errors import AlreadyServed, EmailTaken, Gone, NameTaken, RoomNameTaken, Unavailable
from ..names import name_key
from .migrations import SCHEMA_VERSION_TABLE, Migration, load_migrations
from .records import (
    Added,
    Message,
    NewMessage,
    PoolUsage,
    PublicRoom,
    Room,
    RoomDetails,
    User,
    WaitingThread,
)
from .shared import login_addresses
from .shared.accounts import (
    DELETE_USER_SQL,
    NAME_KEYS,
    USERS_BY_PREFIX_SQL,
    assign_name_keys,
    like_prefix,
    name_keys,
    user_from_row,
)
from .shared.measuring import observed, pool_usage
from .shared.messages import COMMITTED_AFTER_SQL, committed_from_rows, message_from_row
from .shared.rooms import (
    MARK_READ_SQL,
    PUBLIC_ROOMS_SQL,
    ROOM_DETAILS_SQL,
    UNREAD_CAP,
    UNREAD_COUNTS_SQL,
    room_details_from_row,
    room_from_row,
)
from .shared.support import (
    LATEST_SUPPORT_USER_SQL,
    WAITING_SUPPORT_THREADS_SQL,
    waiting_thread_from_row,
)

if TYPE_CHECKING:
    from ..metrics import Observer

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


def _unavailable_detail(error: sqlite3.Error) -> str | None:
    """What an error says about the database, if it means the database cannot serve now
    (None for a statement that is wrong, which is a bug)."""
    code = getattr(error, "sqlite_errorcode", None)
    meaning = None if code is None else _UNAVAILABLE_CODES.get(code & 0xFF)
    if meaning is None:
        return None
    if code & 0xFF == sqlite3.SQLITE_BUSY:
        meaning += f" (waited {BUSY_TIMEOUT_S:g} s)"
    return f"{meaning}: {error} ({error.sqlite_errorname})"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _user(row: sqlite3.Row | None) -> User | None:
    return user_from_row(row, _from_ms)


def _room(row: sqlite3.Row | None) -> Room | None:
    return room_from_row(row, _from_ms)


def _message(row: sqlite3.Row) -> Message:
    return message_from_row(row, _from_ms)


_ROOM_SELECT = (
    "SELECT r.id, r.name, r.kind, r.is_private, r.creator_id, r.created_at,"
    " d.low_user_id, d.high_user_id"
    " FROM rooms AS r LEFT JOIN direct_rooms AS d ON d.room_id = r.id"
)

_NO_UPPER_BOUND = 2**63 - 1

# A resent client_msg_id conflicts with the original and inserts nothing (no row back).
_INSERT_MESSAGE = (
    "INSERT INTO messages (room_id, sender_id, body, created_at, client_msg_id)"
    " VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (room_id, sender_id, client_msg_id) WHERE client_msg_id IS NOT NULL"
    " DO NOTHING"
    " RETURNING id, room_id, sender_id, body, created_at, client_msg_id,"
    " (SELECT name FROM users WHERE users.id = sender_id) AS sender_name"
)

_MESSAGE_SELECT = (
    "SELECT m.id, m.room_id, m.sender_id, u.name AS sender_name, m.body, m.created_at,"
    " m.client_msg_id"
    " FROM messages AS m JOIN users AS u ON u.id = m.sender_id"
)

_ORIGINAL_MESSAGE = (
    f"{_MESSAGE_SELECT} WHERE m.room_id = ? AND m.sender_id = ? AND m.client_msg_id = ?"
)


def _integrity_error(error: sqlite3.IntegrityError, name: str) -> Exception:
    """The domain error for a unique-constraint violation, or the error itself."""
    text = str(error)
    if text.endswith("users.name"):  # the name itself; its keys: `_user_integrity_error`
        return NameTaken(name)
    if "users.email" in text:
        return EmailTaken()
    if "rooms.name" in text:
        return RoomNameTaken(name)
    return error


def _user_integrity_error(
    conn: sqlite3.Connection, error: sqlite3.IntegrityError, name: str, keys: dict[str, str]
) -> Exception:
    """`_integrity_error` for a write of user `name` with name keys `keys`: a taken key
    names the user who holds it."""
    for column, key in keys.items():
        if f"users.{column}" in str(error):
            holder = conn.execute(f"SELECT name FROM users WHERE {column} = ?", (key,)).fetchone()
            return NameTaken(name, None if holder is None else holder[0])
    return _integrity_error(error, name)


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
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


def _migrate(conn: sqlite3.Connection, migrations: list[Migration]) -> list[str]:
    """Apply the migrations this database lacks; returns the names applied."""
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {SCHEMA_VERSION_TABLE} ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
    )
    applied_now = []
    for migration in migrations:
        # BEGIN IMMEDIATE takes the write lock, so two processes starting at once apply
        # each migration exactly once: the second one sees the first one's row.
        with _transaction(conn):
            done = conn.execute(
                f"SELECT 1 FROM {SCHEMA_VERSION_TABLE} WHERE version = ?", (migration.version,)
            ).fetchone()
            if done is None:
                for statement in _split_statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    f"INSERT INTO {SCHEMA_VERSION_TABLE} (version, name, applied_at)"
                    " VALUES (?, ?, ?)",
                    (migration.version, migration.name, _now_ms()),
                )
                applied_now.append(f"{migration.version:04d}_{migration.name}")
    return applied_now


def _fill_in_name_keys(conn: sqlite3.Connection) -> None:
    """Give every user without name keys theirs (see `assign_name_keys`). Under the
    write lock, so no registration can take a key between the plan and the update."""
    with _transaction(conn):
        for column, key_of in NAME_KEYS.items():
            unkeyed = [
                (user_id, name, key_of(name))
                for user_id, name in conn.execute(
                    f"SELECT id, name FROM users WHERE {column} IS NULL ORDER BY id"
                )
            ]
            holders = {}
            for key in {key for _, _, key in unkeyed}:
                holder = conn.execute(
                    f"SELECT name FROM users WHERE {column} = ?", (key,)
                ).fetchone()
                if holder is not None:
                    holders[key] = holder[0]
            conn.executemany(
                f"UPDATE users SET {column} = ? WHERE id = ?",
                [(key, user_id) for user_id, key in assign_name_keys(column, unkeyed, holders)],
            )


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode = WAL")
    # WAL + NORMAL: a commit survives a crash of this process; only a power loss can
    # roll back the very last transactions. The file is never corrupted either way.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


class SQLiteStore:
    """`Store` on a SQLite file. Create it with `open_sqlite_store`."""

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
                detail = _unavailable_detail(error)
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

    async def create_user(
        self, name: str, password_hash: str, *, email: str | None = None, is_admin: bool = False
    ) -> User:
        keys = name_keys(name)

        def insert(conn: sqlite3.Connection) -> User:
            try:
                row = conn.execute(
                    "INSERT INTO users (name, name_key, look_key, email, password_hash,"
                    " is_admin, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
                    (
                        name,
                        keys["name_key"],
                        keys["look_key"],
                        email,
                        password_hash,
                        int(is_admin),
                        _now_ms(),
                    ),
                ).fetchone()
            except sqlite3.IntegrityError as error:
                raise _user_integrity_error(conn, error, name, keys) from None
            user = _user(row)
            assert user is not None
            return user

        return await self._run(insert)

    async def user_by_name(self, name: str) -> User | None:
        return await self._run(
            lambda conn: _user(
                conn.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
            )
        )

    async def user_like_name(self, name: str) -> User | None:
        key = name_key(name)
        return await self._run(
            lambda conn: _user(
                conn.execute(
                    "SELECT * FROM users WHERE name = ? OR name_key = ?"
                    " ORDER BY name = ? DESC LIMIT 1",
                    (name, key, name),
                ).fetchone()
            )
        )

    async def user_by_id(self, user_id: int) -> User | None:
        return await self._run(
            lambda conn: _user(
                conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
            )
        )

    async def user_by_email(self, email: str) -> User | None:
        return await self._run(
            lambda conn: _user(
                conn.execute("SELECT * FROM users WHERE email = ?", (email,)).fetchone()
            )
        )

    async def rename_user(self, user_id: int, name: str) -> User:
        keys = name_keys(name)

        def update(conn: sqlite3.Connection) -> User:
            try:
                row = conn.execute(
                    "UPDATE users SET name = ?, name_key = ?, look_key = ? WHERE id = ?"
                    " RETURNING *",
                    (name, keys["name_key"], keys["look_key"], user_id),
                ).fetchone()
            except sqlite3.IntegrityError as error:
                raise _user_integrity_error(conn, error, name, keys) from None
            user = _user(row)
            if user is None:
                raise Gone("your account")
            return user

        return await self._run(update)

    async def change_password(self, user_id: int, old_hash: str, new_hash: str) -> User | None:
        return await self._run(
            lambda conn: _user(
                conn.execute(
                    "UPDATE users SET password_hash = ?, token_version = token_version + 1"
                    " WHERE id = ? AND password_hash = ? RETURNING *",
                    (new_hash, user_id, old_hash),
                ).fetchone()
            )
        )

    async def revoke_tokens(self, user_id: int) -> int:
        def update(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "UPDATE users SET token_version = token_version + 1 WHERE id = ?"
                " RETURNING token_version",
                (user_id,),
            ).fetchone()
            if row is None:
                raise Gone("your account")
            return row[0]

        return await self._run(update)

    async def token_versions(self, user_ids: Collection[int]) -> dict[int, int]:
        # The ids travel as one JSON array: one parameter however many there are (SQLite
        # limits the number of parameters in a statement).
        ids = json.dumps(list(user_ids))
        return await self._run(
            lambda conn: dict(
                conn.execute(
                    "SELECT id, token_version FROM users"
                    " WHERE id IN (SELECT value FROM json_each(?))",
                    (ids,),
                ).fetchall()
            )
        )

    # --- administration (`chat user`) ---

    async def users(self) -> list[User]:
        def select(conn: sqlite3.Connection) -> list[User]:
            rows = conn.execute("SELECT * FROM users ORDER BY id").fetchall()
            return [user for user in map(_user, rows) if user is not None]

        return await self._run(select)

    async def set_password(self, user_id: int, new_hash: str) -> User | None:
        return await self._run(
            lambda conn: _user(
                conn.execute(
                    "UPDATE users SET password_hash = ?, token_version = token_version + 1"
                    " WHERE id = ? RETURNING *",
                    (new_hash, user_id),
                ).fetchone()
            )
        )

    async def set_admin(self, user_id: int, is_admin: bool) -> User | None:
        return await self._run(
            lambda conn: _user(
                conn.execute(
                    "UPDATE users SET is_admin = ? WHERE id = ? RETURNING *",
                    (int(is_admin), user_id),
                ).fetchone()
            )
        )

    async def delete_user(self, user_id: int) -> bool:
        def delete(conn: sqlite3.Connection) -> bool:
            # BEGIN IMMEDIATE: no other writer (a server storing this user's next
            # message) can slip in between the statements.
            with _transaction(conn):
                for statement in DELETE_USER_SQL:
                    cursor = conn.execute(statement.format(user=":user"), {"user": user_id})
            return cursor.rowcount == 1

        return await self._run(delete)

    # --- rooms ---

    async def create_room(self, name: str, *, is_private: bool, creator_id: int) -> Room:
        def insert(conn: sqlite3.Connection) -> Room:
            now = _now_ms()
            with _transaction(conn):
                try:
                    (room_id,) = conn.execute(
                        "INSERT INTO rooms (name, kind, is_private, creator_id, created_at)"
                        " VALUES (?, 'group', ?, ?, ?) RETURNING id",
                        (name, int(is_private), creator_id, now),
                    ).fetchone()
                except sqlite3.IntegrityError as error:
                    raise _integrity_error(error, name) from None
                conn.execute(
                    "INSERT INTO room_members (room_id, user_id, joined_at) VALUES (?, ?, ?)",
                    (room_id, creator_id, now),
                )
                room = _room(conn.execute(f"{_ROOM_SELECT} WHERE r.id = ?", (room_id,)).fetchone())
            assert room is not None
            return room

        return await self._run(insert)

    async def room_by_id(self, room_id: int) -> Room | None:
        return await self._run(
            lambda conn: _room(
                conn.execute(f"{_ROOM_SELECT} WHERE r.id = ?", (room_id,)).fetchone()
            )
        )

    async def add_member(self, room_id: int, user_id: int) -> None:
        await self._run(
            lambda conn: conn.execute(
                "INSERT INTO room_members (room_id, user_id, joined_at) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (room_id, user_id, _now_ms()),
            )
        )

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

    async def room_details(self, user_id: int, lobby_id: int) -> list[RoomDetails]:
        sql = ROOM_DETAILS_SQL.format(user=":user", lobby=":lobby")
        values = {"user": user_id, "lobby": lobby_id}
        rows = await self._run(lambda conn: conn.execute(sql, values).fetchall())
        return [room_details_from_row(row, _from_ms) for row in rows]

    async def direct_room(self, user_a: int, user_b: int, *, create: bool) -> Room | None:
        low, high = sorted((user_a, user_b))
        find = f"{_ROOM_SELECT} WHERE d.low_user_id = ? AND d.high_user_id = ?"

        def get_or_create(conn: sqlite3.Connection) -> Room | None:
            # A pair's room never changes once made: the usual case is a plain read, with
            # no write lock to contend with the message writer's commits.
            room = _room(conn.execute(find, (low, high)).fetchone())
            if room is not None or not create:
                return room
            # BEGIN IMMEDIATE takes the write lock before looking again, so two callers
            # cannot both miss and both create.
            with _transaction(conn):
                room = _room(conn.execute(find, (low, high)).fetchone())
                if room is None:
                    now = _now_ms()
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
                    room = _room(conn.execute(find, (low, high)).fetchone())
            assert room is not None
            return room

        return await self._run(get_or_create)

    # --- support threads ---

    async def support_room(self, user_id: int, *, create: bool) -> Room | None:
        find = f"{_ROOM_SELECT} WHERE r.kind = 'support' AND r.creator_id = ?"

        def get(conn: sqlite3.Connection) -> Room | None:
            room = _room(conn.execute(find, (user_id,)).fetchone())
            if room is not None or not create:
                return room
            with _transaction(conn):
                now = _now_ms()
                # DO NOTHING: if another connection created it first, use that one.
                created = conn.execute(
                    "INSERT INTO rooms (name, kind, is_private, creator_id, created_at)"
                    " VALUES (NULL, 'support', 1, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
                    (user_id, now),
                ).fetchone()
                if created is not None:
                    conn.execute(
                        "INSERT INTO room_members (room_id, user_id, joined_at) VALUES (?, ?, ?)",
                        (created[0], user_id, now),
                    )
            return _room(conn.execute(find, (user_id,)).fetchone())

        return await self._run(get)

    async def waiting_support_threads(self, limit: int) -> list[WaitingThread]:
        sql = WAITING_SUPPORT_THREADS_SQL.format(limit="?")
        return await self._run(
            lambda conn: [
                waiting_thread_from_row(row, _from_ms)
                for row in conn.execute(sql, (limit,)).fetchall()
            ]
        )

    async def latest_support_user(self, operator_id: int) -> int | None:
        sql = LATEST_SUPPORT_USER_SQL.format(operator="?")
        row = await self._run(lambda conn: conn.execute(sql, (operator_id,)).fetchone())
        return None if row is None else row[0]

    async def public_rooms(self, limit: int) -> list[PublicRoom]:
        sql = PUBLIC_ROOMS_SQL.format(limit="?")
        rows = await self._run(lambda conn: conn.execute(sql, (limit,)).fetchall())
        return [PublicRoom(row["id"], row["name"], row["members"]) for row in rows]

    # --- read markers ---

    async def remember_login_address(self, user_id: int, address: str) -> None:
        if len(address) > login_addresses.MAX_ADDRESS_CHARS:
            return
        values = {"user": user_id, "address": address, "now": int(time.time())}
        remember = login_addresses.REMEMBER_SQL.format(user=":user", address=":address", now=":now")
        prune = login_addresses.PRUNE_SQL.format(user=":user", kept=login_addresses.KEPT_PER_USER)

        def write(conn: sqlite3.Connection) -> None:
            with _transaction(conn):
                conn.execute(remember, values)
                conn.execute(prune, values)

        await self._run(write)

    async def is_login_address(self, user_id: int, address: str) -> bool:
        sql = login_addresses.KNOWN_SQL.format(user="?", address="?")
        row = await self._run(lambda conn: conn.execute(sql, (user_id, address)).fetchone())
        return row is not None

    async def mark_read(self, user_id: int, room_id: int, message_id: int) -> int | None:
        sql = MARK_READ_SQL.format(user=":user", room=":room", message=":message", greatest="max")
        values = {"user": user_id, "room": room_id, "message": message_id}
        row = await self._run(lambda conn: conn.execute(sql, values).fetchone())
        return None if row is None else row[0]

    async def unread_counts(self, user_id: int, lobby_id: int) -> list[tuple[int, int]]:
        sql = UNREAD_COUNTS_SQL.format(user=":user", lobby=":lobby", cap=UNREAD_CAP)
        values = {"user": user_id, "lobby": lobby_id}
        rows = await self._run(lambda conn: conn.execute(sql, values).fetchall())
        return [(row[0], row[1]) for row in rows]

    # --- finding people ---

    async def users_by_prefix(
        self, key_prefix: str, *, caller_id: int, limit: int
    ) -> list[tuple[int, str]]:
        sql = USERS_BY_PREFIX_SQL.format(pattern="?", caller="?", limit="?")
        values = (like_prefix(key_prefix), caller_id, limit)
        rows = await self._run(lambda conn: conn.execute(sql, values).fetchall())
        return [(row[0], row[1]) for row in rows]

    # --- messages ---

    async def add_messages(self, rows: list[NewMessage]) -> list[Added]:
        def insert(conn: sqlite3.Connection) -> list[Added]:
            now = _now_ms()
            added = []
            with _transaction(conn):
                for row in rows:
                    values = (row.room_id, row.sender_id, row.body, now, row.client_msg_id)
                    stored = conn.execute(_INSERT_MESSAGE, values).fetchone()
                    if stored is not None:
                        added.append(Added(_message(stored), new=True))
                        continue
                    # A resend: answer with the original (the write lock is ours, so it
                    # cannot have changed since the conflict).
                    key = (row.room_id, row.sender_id, row.client_msg_id)
                    original = conn.execute(_ORIGINAL_MESSAGE, key).fetchone()
                    added.append(Added(_message(original), new=False))
            return added

        return await self._run(insert)

    async def last_message_id(self) -> int:
        return await self._run(
            lambda conn: conn.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0]
        )

    async def committed_after(
        self, after_id: int, *, before_id: int | None = None, limit: int
    ) -> list[tuple[Message, Room]]:
        sql = COMMITTED_AFTER_SQL.format(after="?", before="?", limit="?")
        below = _NO_UPPER_BOUND if before_id is None else before_id
        return await self._run(
            lambda conn: committed_from_rows(
                conn.execute(sql, (after_id, below, limit)).fetchall(), _from_ms
            )
        )

    async def latest_messages(self, room_id: int, limit: int) -> list[Message]:
        return list(reversed(await self.messages_before(room_id, None, limit)))

    async def messages_before(
        self, room_id: int, before_id: int | None, limit: int, *, after_id: int = 0
    ) -> list[Message]:
        # No `before_id` means "from the newest": every id is below the largest bigint.
        below = _NO_UPPER_BOUND if before_id is None else before_id

        def select(conn: sqlite3.Connection) -> list[Message]:
            rows = conn.execute(
                f"{_MESSAGE_SELECT} WHERE m.room_id = ? AND m.id < ? AND m.id > ?"
                " ORDER BY m.id DESC LIMIT ?",
                (room_id, below, after_id, limit),
            ).fetchall()
            return [_message(row) for row in rows]

        with observed(self.history_seconds):
            return await self._run(select)


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
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
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
async def open_sqlite_store(path: Path, *, connections: int) -> AsyncIterator[SQLiteStore]:
    """Open (creating if needed) and migrate the database at `path`, and give users
    without name keys theirs (`_fill_in_name_keys`); close it on exit."""
    migrations = load_migrations("sqlite")

    def open_all() -> tuple[list[sqlite3.Connection], int, list[str]]:
        path.parent.mkdir(parents=True, exist_ok=True)
        opened = [_connect(path)]
        try:
            applied = _migrate(opened[0], migrations)
            _fill_in_name_keys(opened[0])
            (lobby_id,) = opened[0].execute("SELECT id FROM rooms WHERE kind = 'lobby'").fetchone()
            opened.extend(_connect(path) for _ in range(connections - 1))
        except BaseException:
            for conn in opened:
                conn.close()
            raise
        return opened, lobby_id, applied

    try:
        conns, lobby_id, applied = await trio.to_thread.run_sync(open_all)
    except sqlite3.Error as error:
        detail = _unavailable_detail(error)
        if detail is None:
            raise
        raise Unavailable(f"cannot open the SQLite database at {path}: {detail}") from None
    try:
        yield SQLiteStore(conns, lobby_id, applied)
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(lambda: [conn.close() for conn in conns])
