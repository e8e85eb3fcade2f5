"""The production store: PostgreSQL through asyncpg, driven from Trio with trio-asyncio.

asyncpg only runs on asyncio. `open_postgres_store` starts an asyncio loop inside Trio
(`trio_asyncio.open_loop`, stepped by `chat.store.aio_bridge` so that the callbacks of
one query run together) for the store's lifetime; each store method is a small asyncio
coroutine that Trio awaits through `aio_as_trio`, one bridge crossing per operation.

Fairness: under trio-asyncio, asyncpg's own pool hands connections out unfairly (with 50
callers, some waited 0.8 s while others finished). A `trio.CapacityLimiter` the size of
the pool sits in front of it, so callers queue in Trio, first come first served, and the
pool never has more callers than connections.

Cancellation: a Trio cancellation cancels the asyncio task, and asyncpg cancels the
running statement on the server; the connection is reset before the pool hands it out
again (tests/test_store.py checks the pool still serves every connection afterwards).

Error handling: every way the database can be away (refused or lost connections, a server
shutting down, starting up or out of connection slots, a statement or a connection that
takes too long) raises `Unavailable`, in one place (`PostgresStore._call`; `connect` and
`open_postgres_store` for their own connections), with the cause in its `detail` and in a
WARNING, never a traceback. Every wait is bounded: for a free connection
(`ACQUIRE_TIMEOUT_S`), for a new one (`CONNECT_TIMEOUT_S`), for a statement and for the
reset of its connection (`QUERY_TIMEOUT_S`, asyncpg's ``command_timeout``), so a database
that stops answering holds no request for long. Nothing needs restarting when it is back:
asyncpg's pool replaces connections it lost on their next use.

`trio_asyncio` is imported inside `open_postgres_store` only: importing it changes what
`asyncio.run()` does for the whole process, which a SQLite-only server should not pay for.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from ..errors import EmailTaken, Gone, NameTaken, RoomNameTaken, Unavailable
from ..names import name_key
from .aio_bridge import open_aio_loop
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
    import asyncpg

    from ..metrics import Observer

log = logging.getLogger(__name__)

T = TypeVar("T")

# pg_advisory_xact_lock key that serialises migrations (and filling in name keys) between
# instances starting at once.
_MIGRATION_LOCK = 0x63686174  # "chat"

_POOL_CLOSE_TIMEOUT_S = 5.0

#: The longest a caller waits for a free connection of the pool before it is told the
#: database is unavailable (every connection is busy with statements that do not finish).
ACQUIRE_TIMEOUT_S = 10.0
#: The longest opening a connection may take.
CONNECT_TIMEOUT_S = 10.0
#: The longest one statement may run, and a connection take to be cancelled or reset
#: (asyncpg's ``command_timeout``). Migrations have no limit: they run on a connection of
#: their own, and one on a big table may take minutes.
QUERY_TIMEOUT_S = 15.0

_USER_COLUMNS = "id, name, email, password_hash, is_admin, created_at, token_version"
_MESSAGE_COLUMNS = (
    "m.id, m.room_id, m.sender_id, u.name AS sender_name, m.body, m.created_at, m.client_msg_id"
)
_ROOM_SELECT = (
    "SELECT r.id, r.name, r.kind, r.is_private, r.creator_id, r.created_at,"
    " d.low_user_id, d.high_user_id"
    " FROM rooms AS r LEFT JOIN direct_rooms AS d ON d.room_id = r.id"
)
_NO_UPPER_BOUND = 2**63 - 1

# Unique constraints, by the name PostgreSQL gives them, and the domain error for each.
# (users_name_key is the UNIQUE on users.name; the indexes on the name keys are
# `_aio_write_user`'s.)
_UNIQUE_ERRORS: dict[str, Callable[[str], Exception]] = {
    "users_name_key": NameTaken,
    "users_email_key": lambda _name: EmailTaken(),
    "rooms_name_key": RoomNameTaken,
}


def _as_is(moment: datetime) -> datetime:
    return moment  # asyncpg already returns aware datetimes for timestamptz


def _user(row: Any) -> User | None:
    return user_from_row(row, _as_is)


def _room(row: Any) -> Room | None:
    return room_from_row(row, _as_is)


def _message(row: Any) -> Message:
    return message_from_row(row, _as_is)


def _database_away() -> tuple[type[BaseException], ...]:
    """The errors that mean "the database cannot serve now", not "this request is wrong"."""
    import asyncpg

    return (
        # Refused, reset or unreachable; TimeoutError (a connection or a statement that
        # took too long: CONNECT_TIMEOUT_S, QUERY_TIMEOUT_S) is an OSError too.
        OSError,
        # Class 08: the connection failed or is gone (ConnectionDoesNotExistError).
        asyncpg.PostgresConnectionError,
        # Class 57: the server is shutting down (57P01 AdminShutdownError, 57P02
        # CrashShutdownError), starting up or recovering (57P03 CannotConnectNowError),
        # or an operator cancelled the statement (57014).
        asyncpg.OperatorInterventionError,
        # Class 53: too many connections (53300), disk full, out of memory.
        asyncpg.InsufficientResourcesError,
        # Class 58: an I/O error on the server.
        asyncpg.PostgresSystemError,
        # The client's side of a lost connection ("connection is closed").
        asyncpg.InterfaceError,
        # A connection the server ended between two calls: asyncpg may read the server's
        # last word (57P01, "terminating connection") before it sees the socket close,
        # and then refuses the next statement with "cannot switch to state ...".
        asyncpg.InternalClientError,
    )


def _describe(error: BaseException) -> str:
    """What went wrong, for the log: the server's message and its SQLSTATE if any."""
    text = str(error) or ("no answer in time" if isinstance(error, TimeoutError) else "")
    sqlstate = getattr(error, "sqlstate", None)
    kind = type(error).__name__
    return f"{text} ({kind}, SQLSTATE {sqlstate})" if sqlstate else f"{text} ({kind})"


def _unavailable(detail: str) -> Unavailable:
    """The error a client gets, the cause logged once (WARNING: an outage, not a bug)."""
    log.warning("database unavailable: %s", detail)
    return Unavailable(detail=detail)


# --- asyncio side: each function runs on the asyncio loop, called through aio_as_trio ---


async def _keep_session(connection: asyncpg.Connection) -> None:
    """The pool's reset hook: nothing to reset.

    By default asyncpg sends ``RESET ALL; UNLISTEN *; ...`` each time a connection goes
    back to the pool: a second round trip for every query. Our statements leave no
    session state behind (no SET, LISTEN, cursors or session-level locks), and asyncpg
    still rolls back a transaction left open (after a cancellation, say) before calling
    this hook.
    """


async def _aio_prepare(
    conn: asyncpg.Connection, migrations: list[Migration]
) -> tuple[list[str], int, str]:
    """Apply the migrations the database lacks, give users without name keys theirs,
    then read what the store needs to know: (the migrations applied, the lobby's id, the
    cluster id)."""
    applied = await _aio_migrate(conn, migrations)
    await _aio_fill_in_name_keys(conn)
    lobby_id = await conn.fetchval("SELECT id FROM rooms WHERE kind = 'lobby'")
    cluster_id = await conn.fetchval("SELECT id FROM cluster")
    return applied, lobby_id, cluster_id


async def _aio_migrate(conn: asyncpg.Connection, migrations: list[Migration]) -> list[str]:
    async with conn.transaction():
        # One migrating instance at a time; the lock is released at commit.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {SCHEMA_VERSION_TABLE} ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {
            row["version"]
            for row in await conn.fetch(f"SELECT version FROM {SCHEMA_VERSION_TABLE}")
        }
        applied = []
        for migration in migrations:
            if migration.version in done:
                continue
            await conn.execute(migration.sql)
            await conn.execute(
                f"INSERT INTO {SCHEMA_VERSION_TABLE} (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
            applied.append(f"{migration.version:04d}_{migration.name}")
        return applied


def _unique_violation(error: Exception, name: str) -> Exception:
    make = _UNIQUE_ERRORS.get(getattr(error, "constraint_name", None) or "")
    return error if make is None else make(name)


async def _aio_remember_login_address(pool: asyncpg.Pool, user_id: int, address: str) -> None:
    remember = login_addresses.REMEMBER_SQL.format(user="$1", address="$2", now="now()")
    prune = login_addresses.PRUNE_SQL.format(user="$1", kept=login_addresses.KEPT_PER_USER)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(remember, user_id, address)
        await conn.execute(prune, user_id)


async def _aio_write_user(
    pool: asyncpg.Pool, name: str, keys: dict[str, str], sql: str, *args: Any
) -> Any:
    """fetchrow for a statement that writes user `name` with name keys `keys`, with
    unique violations turned into domain errors; a taken key names who holds it."""
    import asyncpg

    try:
        return await pool.fetchrow(sql, *args)
    except asyncpg.UniqueViolationError as error:
        column = (error.constraint_name or "").removeprefix("users_unique_")
        if column not in keys:
            raise _unique_violation(error, name) from None
    holder = await pool.fetchval(f"SELECT name FROM users WHERE {column} = $1", keys[column])
    raise NameTaken(name, holder)


_FILL_IN_ATTEMPTS = 3


async def _aio_fill_in_name_keys(conn: asyncpg.Connection) -> None:
    """Give every user without name keys theirs (see `assign_name_keys`).

    Under the migration lock, so instances starting at once take turns (the second
    finds the keys set). Instances already serving may register users meanwhile; if one
    takes a key this plan gave away, the UPDATE fails, the transaction rolls back, and
    the plan is made again.
    """
    import asyncpg

    for attempt in range(1, _FILL_IN_ATTEMPTS + 1):
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
                await _aio_fill_in_name_keys_once(conn)
            return
        except asyncpg.UniqueViolationError:
            if attempt == _FILL_IN_ATTEMPTS:
                raise


async def _aio_fill_in_name_keys_once(conn: asyncpg.Connection) -> None:
    for column, key_of in NAME_KEYS.items():
        rows = await conn.fetch(f"SELECT id, name FROM users WHERE {column} IS NULL ORDER BY id")
        if not rows:
            continue
        unkeyed = [(row["id"], row["name"], key_of(row["name"])) for row in rows]
        holders = {
            row["key"]: row["name"]
            for row in await conn.fetch(
                f"SELECT {column} AS key, name FROM users WHERE {column} = ANY($1::text[])",
                list({key for _, _, key in unkeyed}),
            )
        }
        assigned = assign_name_keys(column, unkeyed, holders)
        await conn.execute(
            f"UPDATE users SET {column} = t.key"
            " FROM unnest($1::bigint[], $2::text[]) AS t(id, key) WHERE users.id = t.id",
            [user_id for user_id, _ in assigned],
            [key for _, key in assigned],
        )


async def _aio_create_room(
    pool: asyncpg.Pool, name: str, is_private: bool, creator_id: int
) -> Room | None:
    import asyncpg

    async with pool.acquire() as conn, conn.transaction():
        try:
            room_id = await conn.fetchval(
                "INSERT INTO rooms (name, kind, is_private, creator_id)"
                " VALUES ($1, 'group', $2, $3) RETURNING id",
                name,
                is_private,
                creator_id,
            )
        except asyncpg.UniqueViolationError as error:
            raise _unique_violation(error, name) from None
        await conn.execute(
            "INSERT INTO room_members (room_id, user_id) VALUES ($1, $2)", room_id, creator_id
        )
        return _room(await conn.fetchrow(f"{_ROOM_SELECT} WHERE r.id = $1", room_id))


async def _aio_direct_room(
    pool: asyncpg.Pool, low: int, high: int, creator: int, create: bool
) -> Room | None:
    find = f"{_ROOM_SELECT} WHERE d.low_user_id = $1 AND d.high_user_id = $2"
    async with pool.acquire() as conn:
        room = _room(await conn.fetchrow(find, low, high))
        if room is not None or not create:
            return room
        async with conn.transaction():
            # Serialise creators of this one pair (the lock ends with the transaction),
            # then look again: another instance may have just created it.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended('direct:' || $1 || ':' || $2, 0))",
                str(low),
                str(high),
            )
            room = _room(await conn.fetchrow(find, low, high))
            if room is not None:
                return room
            room_id = await conn.fetchval(
                "INSERT INTO rooms (name, kind, is_private, creator_id)"
                " VALUES (NULL, 'direct', true, $1) RETURNING id",
                creator,
            )
            await conn.execute(
                "INSERT INTO direct_rooms (room_id, low_user_id, high_user_id) VALUES ($1, $2, $3)",
                room_id,
                low,
                high,
            )
            await conn.execute(
                "INSERT INTO room_members (room_id, user_id) VALUES ($1, $2), ($1, $3)"
                " ON CONFLICT DO NOTHING",
                room_id,
                low,
                high,
            )
            return _room(await conn.fetchrow(find, low, high))


async def _aio_delete_user(pool: asyncpg.Pool, user_id: int) -> bool:
    async with pool.acquire() as conn, conn.transaction():
        # Locking the row first makes a concurrent insert of this user's message (which
        # takes a key-share lock on it) either finish before we start, so its message
        # is deleted with the rest, or wait for our commit and then fail as `Gone`.
        if await conn.fetchval("SELECT id FROM users WHERE id = $1 FOR UPDATE", user_id) is None:
            return False
        for statement in DELETE_USER_SQL:
            await conn.execute(statement.format(user="$1"), user_id)
        return True


async def _aio_support_room(pool: asyncpg.Pool, user_id: int, create: bool) -> Room | None:
    find = f"{_ROOM_SELECT} WHERE r.kind = 'support' AND r.creator_id = $1"
    async with pool.acquire() as conn:
        room = _room(await conn.fetchrow(find, user_id))
        if room is not None or not create:
            return room
        async with conn.transaction():
            # DO NOTHING: if another instance created it first, use that one.
            room_id = await conn.fetchval(
                "INSERT INTO rooms (name, kind, is_private, creator_id)"
                " VALUES (NULL, 'support', true, $1) ON CONFLICT DO NOTHING RETURNING id",
                user_id,
            )
            if room_id is not None:
                await conn.execute(
                    "INSERT INTO room_members (room_id, user_id) VALUES ($1, $2)", room_id, user_id
                )
        return _room(await conn.fetchrow(find, user_id))


# One statement for the whole batch. Rows are inserted in the order the SELECT produces
# them (ORDER BY ord), so their ids increase in the order of the batch. A resent
# client_msg_id conflicts with its original and is skipped (no row back).
_INSERT_MESSAGES = (
    "WITH m AS (INSERT INTO messages (room_id, sender_id, body, client_msg_id)"
    " SELECT r, s, b, c FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[])"
    " WITH ORDINALITY AS t(r, s, b, c, ord) ORDER BY ord"
    " ON CONFLICT (room_id, sender_id, client_msg_id) WHERE client_msg_id IS NOT NULL"
    " DO NOTHING RETURNING *)"
    f" SELECT {_MESSAGE_COLUMNS} FROM m JOIN users AS u ON u.id = m.sender_id ORDER BY m.id"
)

_ORIGINAL_MESSAGES = (
    f"SELECT {_MESSAGE_COLUMNS} FROM messages AS m JOIN users AS u ON u.id = m.sender_id"
    " WHERE (m.room_id, m.sender_id, m.client_msg_id) IN"
    " (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[]))"
)


async def _aio_add_messages(pool: asyncpg.Pool, rows: list[NewMessage]) -> list[Added]:
    async with pool.acquire() as conn:
        inserted = await conn.fetch(
            _INSERT_MESSAGES,
            [row.room_id for row in rows],
            [row.sender_id for row in rows],
            [row.body for row in rows],
            [row.client_msg_id for row in rows],
        )
        # Match rows to what came back, in order: a row without a client id is always
        # stored; one with a client id is stored unless it was a resend.
        added: list[Added | NewMessage] = []
        fresh = iter(inserted)
        candidate = next(fresh, None)
        for row in rows:
            if candidate is not None and (
                row.client_msg_id is None
                or (candidate["room_id"], candidate["sender_id"], candidate["client_msg_id"])
                == (row.room_id, row.sender_id, row.client_msg_id)
            ):
                added.append(Added(_message(candidate), new=True))
                candidate = next(fresh, None)
            else:
                added.append(row)
        resent = [row for row in added if isinstance(row, NewMessage)]
        if not resent:
            return added  # type: ignore[return-value]
        # A second statement, so it sees originals that committed while this insert
        # waited for the id lock (the insert's own snapshot is older than that).
        originals = {
            (record["room_id"], record["sender_id"], record["client_msg_id"]): _message(record)
            for record in await conn.fetch(
                _ORIGINAL_MESSAGES,
                [row.room_id for row in resent],
                [row.sender_id for row in resent],
                [row.client_msg_id for row in resent],
            )
        }
        return [
            Added(originals[(item.room_id, item.sender_id, item.client_msg_id)], new=False)
            if isinstance(item, NewMessage)
            else item
            for item in added
        ]


class PostgresStore:
    """`Store` on PostgreSQL. Create it with `open_postgres_store`."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        pool_size: int,
        aio_as_trio: Callable[..., Any],
        lobby_id: int,
        applied: list[str],
        *,
        url: str,
        cluster_id: str,
    ) -> None:
        self._pool = pool
        self._limiter = trio.CapacityLimiter(pool_size)
        self.history_seconds: Observer | None = None
        self._aio_as_trio = aio_as_trio
        self._url = url
        self.lobby_id = lobby_id
        #: Which chat this database is (sql/postgres/0004_cluster.sql): the same for
        #: every instance on it, different for every other chat.
        self.cluster_id = cluster_id
        #: Migrations this process applied when it opened the database.
        self.applied_migrations = applied

    async def _call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run an asyncio coroutine function with a pool connection's worth of capacity.

        Raises `Unavailable` if no connection is free within `ACQUIRE_TIMEOUT_S`, or if
        the database is away (see `_database_away`); any other error is the caller's.
        """
        import asyncpg

        # A free connection and nobody queued before us (acquire_nowait refuses when
        # someone waits, so the queue stays first come first served): take it without a
        # checkpoint, which would cost a pass of Trio's scheduler. The crossing below
        # is the checkpoint: a cancellation already pending cancels the asyncio task
        # before it starts, and `finally` gives the token back.
        try:
            self._limiter.acquire_nowait()
        except trio.WouldBlock:
            await self._wait_for_capacity()
        try:
            return await self._aio_as_trio(fn)(*args)
        except _database_away() as error:
            raise _unavailable(_describe(error)) from error
        except asyncpg.ForeignKeyViolationError:
            # A user or room deleted while a request referring to it was under way.
            raise Gone() from None
        finally:
            self._limiter.release()

    async def _wait_for_capacity(self) -> None:
        """Queue for a connection's worth of capacity, or raise `Unavailable`."""
        # Waiting for a connection is bounded: if every one is stuck in a statement the
        # server does not answer, later callers are told so instead of queueing forever.
        # A cancelled `acquire` holds no token, so there is nothing to give back here.
        with trio.move_on_after(ACQUIRE_TIMEOUT_S) as waiting:
            await self._limiter.acquire()
        if waiting.cancelled_caught:
            raise _unavailable(f"no connection free within {ACQUIRE_TIMEOUT_S} s")

    def pool_usage(self) -> PoolUsage:
        # The limiter, not asyncpg's pool: it is what callers queue on (see `_call`).
        return pool_usage(self._limiter)

    async def _fetchval(self, sql: str, *args: Any) -> Any:
        """One value from an arbitrary query. For diagnostics and tests only."""
        return await self._call(self._pool.fetchval, sql, *args)

    @property
    def aio_as_trio(self) -> Callable[..., Any]:
        """trio-asyncio's bridge into the store's asyncio loop (for the bus's listener)."""
        return self._aio_as_trio

    async def connect(self, *, application_name: str) -> asyncpg.Connection:
        """A connection of its own, outside the pool, for a long-lived job (the bus's
        LISTEN); `application_name` names it in pg_stat_activity. The caller closes it."""
        import asyncpg

        with _unavailable_on(_connect_errors(), "cannot connect to PostgreSQL"):
            return await self._aio_as_trio(asyncpg.connect)(
                self._url,
                timeout=CONNECT_TIMEOUT_S,
                server_settings={"application_name": application_name},
            )

    async def notify(self, channel: str, payload: str) -> None:
        """NOTIFY `channel` with `payload` (at most 8000 bytes), through the pool."""
        await self._call(self._pool.execute, "SELECT pg_notify($1, $2)", channel, payload)

    async def ping(self) -> None:
        # A real table, so the check fails when the schema is unreadable or locked.
        await self._call(self._pool.fetchval, "SELECT id FROM rooms WHERE kind = 'lobby'")

    async def create_user(
        self, name: str, password_hash: str, *, email: str | None = None, is_admin: bool = False
    ) -> User:
        keys = name_keys(name)
        row = await self._call(
            _aio_write_user,
            self._pool,
            name,
            keys,
            "INSERT INTO users (name, name_key, look_key, email, password_hash, is_admin)"
            f" VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_USER_COLUMNS}",
            name,
            keys["name_key"],
            keys["look_key"],
            email,
            password_hash,
            is_admin,
        )
        user = _user(row)
        assert user is not None
        return user

    async def user_by_name(self, name: str) -> User | None:
        row = await self._call(
            self._pool.fetchrow, f"SELECT {_USER_COLUMNS} FROM users WHERE name = $1", name
        )
        return _user(row)

    async def user_like_name(self, name: str) -> User | None:
        row = await self._call(
            self._pool.fetchrow,
            f"SELECT {_USER_COLUMNS} FROM users WHERE name = $1 OR name_key = $2"
            " ORDER BY name = $1 DESC LIMIT 1",
            name,
            name_key(name),
        )
        return _user(row)

    async def user_by_id(self, user_id: int) -> User | None:
        row = await self._call(
            self._pool.fetchrow, f"SELECT {_USER_COLUMNS} FROM users WHERE id = $1", user_id
        )
        return _user(row)

    async def user_by_email(self, email: str) -> User | None:
        row = await self._call(
            self._pool.fetchrow, f"SELECT {_USER_COLUMNS} FROM users WHERE email = $1", email
        )
        return _user(row)

    async def rename_user(self, user_id: int, name: str) -> User:
        keys = name_keys(name)
        row = await self._call(
            _aio_write_user,
            self._pool,
            name,
            keys,
            "UPDATE users SET name = $2, name_key = $3, look_key = $4 WHERE id = $1"
            f" RETURNING {_USER_COLUMNS}",
            user_id,
            name,
            keys["name_key"],
            keys["look_key"],
        )
        user = _user(row)
        if user is None:
            raise Gone("your account")
        return user

    async def change_password(self, user_id: int, old_hash: str, new_hash: str) -> User | None:
        row = await self._call(
            self._pool.fetchrow,
            "UPDATE users SET password_hash = $3, token_version = token_version + 1"
            f" WHERE id = $1 AND password_hash = $2 RETURNING {_USER_COLUMNS}",
            user_id,
            old_hash,
            new_hash,
        )
        return _user(row)

    async def revoke_tokens(self, user_id: int) -> int:
        version = await self._call(
            self._pool.fetchval,
            "UPDATE users SET token_version = token_version + 1 WHERE id = $1"
            " RETURNING token_version",
            user_id,
        )
        if version is None:
            raise Gone("your account")
        return version

    async def token_versions(self, user_ids: Collection[int]) -> dict[int, int]:
        rows = await self._call(
            self._pool.fetch,
            "SELECT id, token_version FROM users WHERE id = ANY($1::bigint[])",
            list(user_ids),
        )
        return {row["id"]: row["token_version"] for row in rows}

    # --- administration (`chat user`) ---

    async def users(self) -> list[User]:
        rows = await self._call(self._pool.fetch, f"SELECT {_USER_COLUMNS} FROM users ORDER BY id")
        return [user for user in map(_user, rows) if user is not None]

    async def set_password(self, user_id: int, new_hash: str) -> User | None:
        row = await self._call(
            self._pool.fetchrow,
            "UPDATE users SET password_hash = $2, token_version = token_version + 1"
            f" WHERE id = $1 RETURNING {_USER_COLUMNS}",
            user_id,
            new_hash,
        )
        return _user(row)

    async def set_admin(self, user_id: int, is_admin: bool) -> User | None:
        row = await self._call(
            self._pool.fetchrow,
            f"UPDATE users SET is_admin = $2 WHERE id = $1 RETURNING {_USER_COLUMNS}",
            user_id,
            is_admin,
        )
        return _user(row)

    async def delete_user(self, user_id: int) -> bool:
        return await self._call(_aio_delete_user, self._pool, user_id)

    # --- rooms ---

    async def create_room(self, name: str, *, is_private: bool, creator_id: int) -> Room:
        room = await self._call(_aio_create_room, self._pool, name, is_private, creator_id)
        assert room is not None
        return room

    async def room_by_id(self, room_id: int) -> Room | None:
        return _room(
            await self._call(self._pool.fetchrow, f"{_ROOM_SELECT} WHERE r.id = $1", room_id)
        )

    async def add_member(self, room_id: int, user_id: int) -> None:
        await self._call(
            self._pool.execute,
            "INSERT INTO room_members (room_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            room_id,
            user_id,
        )

    async def is_member(self, room_id: int, user_id: int) -> bool:
        found = await self._call(
            self._pool.fetchval,
            "SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = $2",
            room_id,
            user_id,
        )
        return found is not None

    async def rooms_of(self, user_id: int) -> list[int]:
        rows = await self._call(
            self._pool.fetch,
            "SELECT room_id FROM room_members WHERE user_id = $1 ORDER BY room_id",
            user_id,
        )
        return [row["room_id"] for row in rows]

    async def room_details(self, user_id: int, lobby_id: int) -> list[RoomDetails]:
        sql = ROOM_DETAILS_SQL.format(user="$1", lobby="$2::bigint")
        rows = await self._call(self._pool.fetch, sql, user_id, lobby_id)
        return [room_details_from_row(row, _as_is) for row in rows]

    async def direct_room(self, user_a: int, user_b: int, *, create: bool) -> Room | None:
        low, high = sorted((user_a, user_b))
        return await self._call(_aio_direct_room, self._pool, low, high, user_a, create)

    # --- support threads ---

    async def support_room(self, user_id: int, *, create: bool) -> Room | None:
        return await self._call(_aio_support_room, self._pool, user_id, create)

    async def waiting_support_threads(self, limit: int) -> list[WaitingThread]:
        rows = await self._call(
            self._pool.fetch, WAITING_SUPPORT_THREADS_SQL.format(limit="$1"), limit
        )
        return [waiting_thread_from_row(row, _as_is) for row in rows]

    async def latest_support_user(self, operator_id: int) -> int | None:
        sql = LATEST_SUPPORT_USER_SQL.format(operator="$1")
        return await self._call(self._pool.fetchval, sql, operator_id)

    async def public_rooms(self, limit: int) -> list[PublicRoom]:
        rows = await self._call(self._pool.fetch, PUBLIC_ROOMS_SQL.format(limit="$1"), limit)
        return [PublicRoom(row["id"], row["name"], row["members"]) for row in rows]

    # --- read markers ---

    async def remember_login_address(self, user_id: int, address: str) -> None:
        if len(address) > login_addresses.MAX_ADDRESS_CHARS:
            return
        await self._call(_aio_remember_login_address, self._pool, user_id, address)

    async def is_login_address(self, user_id: int, address: str) -> bool:
        sql = login_addresses.KNOWN_SQL.format(user="$1", address="$2")
        return await self._call(self._pool.fetchval, sql, user_id, address) is not None

    async def mark_read(self, user_id: int, room_id: int, message_id: int) -> int | None:
        sql = MARK_READ_SQL.format(user="$1", room="$2", message="$3", greatest="greatest")
        return await self._call(self._pool.fetchval, sql, user_id, room_id, message_id)

    async def unread_counts(self, user_id: int, lobby_id: int) -> list[tuple[int, int]]:
        sql = UNREAD_COUNTS_SQL.format(user="$1", lobby="$2::bigint", cap=UNREAD_CAP)
        rows = await self._call(self._pool.fetch, sql, user_id, lobby_id)
        return [(row[0], row[1]) for row in rows]

    # --- finding people ---

    async def users_by_prefix(
        self, key_prefix: str, *, caller_id: int, limit: int
    ) -> list[tuple[int, str]]:
        sql = USERS_BY_PREFIX_SQL.format(pattern="$1", caller="$2", limit="$3")
        rows = await self._call(self._pool.fetch, sql, like_prefix(key_prefix), caller_id, limit)
        return [(row[0], row[1]) for row in rows]

    # --- messages ---

    async def add_messages(self, rows: list[NewMessage]) -> list[Added]:
        return await self._call(_aio_add_messages, self._pool, rows)

    async def last_message_id(self) -> int:
        return await self._call(self._pool.fetchval, "SELECT coalesce(max(id), 0) FROM messages")

    async def committed_after(
        self, after_id: int, *, before_id: int | None = None, limit: int
    ) -> list[tuple[Message, Room]]:
        rows = await self._call(
            self._pool.fetch,
            COMMITTED_AFTER_SQL.format(after="$1", before="$2", limit="$3"),
            after_id,
            _NO_UPPER_BOUND if before_id is None else before_id,
            limit,
        )
        return committed_from_rows(rows, _as_is)

    async def latest_messages(self, room_id: int, limit: int) -> list[Message]:
        return list(reversed(await self.messages_before(room_id, None, limit)))

    async def messages_before(
        self, room_id: int, before_id: int | None, limit: int, *, after_id: int = 0
    ) -> list[Message]:
        with observed(self.history_seconds):
            rows = await self._call(
                self._pool.fetch,
                f"SELECT {_MESSAGE_COLUMNS} FROM messages AS m"
                " JOIN users AS u ON u.id = m.sender_id"
                " WHERE m.room_id = $1 AND m.id < $2 AND m.id > $3 ORDER BY m.id DESC LIMIT $4",
                room_id,
                _NO_UPPER_BOUND if before_id is None else before_id,
                after_id,
                limit,
            )
        return [_message(row) for row in rows]


def _connect_errors() -> tuple[type[BaseException], ...]:
    """What connecting can fail with: the database being away, and also a wrong password,
    a database that does not exist, and so on (none of them a bug in this program)."""
    import asyncpg

    return (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


@contextmanager
def _unavailable_on(errors: tuple[type[BaseException], ...], doing: str) -> Iterator[None]:
    """Turn `errors` into `Unavailable`, saying what failed: for opening connections,
    where the message is for the operator (`chat serve` prints it and exits)."""
    try:
        yield
    except errors as error:
        raise Unavailable(f"{doing}: {_describe(error)}") from None


async def _close_connection(aio_as_trio: Callable[..., Any], conn: asyncpg.Connection) -> None:
    """Close a connection of our own: politely if the server answers in time, else drop it.
    Shielded, since it is also reached on cancellation, and bounded."""
    with trio.move_on_after(_POOL_CLOSE_TIMEOUT_S, shield=True):
        with contextlib.suppress(*_database_away()):
            await aio_as_trio(conn.close)()
    if not conn.is_closed():
        conn.terminate()


@asynccontextmanager
async def open_postgres_store(url: str, *, pool_size: int) -> AsyncIterator[PostgresStore]:
    """Migrate the database at `url` and give users without name keys theirs
    (`_aio_fill_in_name_keys`), connect a pool to it, and close the pool on exit.

    Raises `Unavailable` when the server cannot be reached, refuses the connection, or
    goes away while the database is being opened.
    """
    import asyncpg
    import trio_asyncio

    migrations = load_migrations("postgres")
    aio_as_trio = trio_asyncio.aio_as_trio
    # The asyncio loop runs as long as this block: every pool call happens inside it.
    async with open_aio_loop():
        # Migrations run first, on a connection of their own: the pool's connections have
        # a statement timeout, and a migration on a big table may take minutes.
        with _unavailable_on(_connect_errors(), "cannot connect to PostgreSQL"):
            conn = await aio_as_trio(asyncpg.connect)(url, timeout=CONNECT_TIMEOUT_S)
        try:
            with _unavailable_on(_database_away(), "PostgreSQL went away while opening it"):
                applied, lobby_id, cluster_id = await aio_as_trio(_aio_prepare)(conn, migrations)
        finally:
            await _close_connection(aio_as_trio, conn)
        with _unavailable_on(_connect_errors(), "cannot connect to PostgreSQL"):
            # No floor (min_size=0): with one, asyncpg would keep reconnecting in the
            # background while the database is away, logging a traceback each time.
            # Connections are opened when a caller needs one instead.
            pool = await aio_as_trio(asyncpg.create_pool)(
                url,
                min_size=0,
                max_size=pool_size,
                timeout=CONNECT_TIMEOUT_S,
                command_timeout=QUERY_TIMEOUT_S,
                reset=_keep_session,
            )
        try:
            yield PostgresStore(
                pool, pool_size, aio_as_trio, lobby_id, applied, url=url, cluster_id=cluster_id
            )
        finally:
            with trio.move_on_after(_POOL_CLOSE_TIMEOUT_S, shield=True) as scope:
                await aio_as_trio(pool.close)()
            if scope.cancelled_caught:
                pool.terminate()
