"""The production store: PostgreSQL through asyncpg, driven from Trio with trio-asyncio.

asyncpg only runs on asyncio. `open_postgres_store` starts an asyncio loop inside Trio
(`trio_asyncio.open_loop`) for the store's lifetime; each store method is a small asyncio
coroutine that Trio awaits through `aio_as_trio`, one bridge crossing per operation.

Fairness: under trio-asyncio, asyncpg's own pool hands connections out unfairly (with 50
callers, some waited 0.8 s while others finished). A `trio.CapacityLimiter` the size of
the pool sits in front of it, so callers queue in Trio, first come first served, and the
pool never has more callers than connections.

Cancellation: a Trio cancellation cancels the asyncio task, and asyncpg cancels the
running statement on the server; the connection is reset before the pool hands it out
again (tests/test_store.py checks the pool still serves every connection afterwards).

`trio_asyncio` is imported inside `open_postgres_store` only: importing it changes what
`asyncio.run()` does for the whole process, which a SQLite-only server should not pay for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from ..errors import EmailTaken, Gone, NameTaken, RoomNameTaken, Unavailable
from .base import (
    COMMITTED_AFTER_SQL,
    WAITING_SUPPORT_THREADS_SQL,
    Added,
    Message,
    NewMessage,
    Room,
    User,
    WaitingThread,
    committed_from_rows,
    message_from_row,
    room_from_row,
    user_from_row,
    waiting_thread_from_row,
)
from .migrations import SCHEMA_VERSION_TABLE, Migration, load_migrations

if TYPE_CHECKING:
    import asyncpg

T = TypeVar("T")

# pg_advisory_xact_lock key that serialises migrations between instances starting at once.
_MIGRATION_LOCK = 0x63686174  # "chat"

_POOL_CLOSE_TIMEOUT_S = 5.0

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


# --- asyncio side: each function runs on the asyncio loop, called through aio_as_trio ---


async def _keep_session(connection: asyncpg.Connection) -> None:
    """The pool's reset hook: nothing to reset.

    By default asyncpg sends ``RESET ALL; UNLISTEN *; ...`` each time a connection goes
    back to the pool: a second round trip for every query. Our statements leave no
    session state behind (no SET, LISTEN, cursors or session-level locks), and asyncpg
    still rolls back a transaction left open (after a cancellation, say) before calling
    this hook.
    """


async def _aio_migrate(pool: asyncpg.Pool, migrations: list[Migration]) -> list[str]:
    async with pool.acquire() as conn, conn.transaction():
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


async def _aio_fetchrow_unique(pool: asyncpg.Pool, name: str, sql: str, *args: Any) -> Any:
    """fetchrow, with unique violations turned into domain errors."""
    import asyncpg

    try:
        return await pool.fetchrow(sql, *args)
    except asyncpg.UniqueViolationError as error:
        raise _unique_violation(error, name) from None


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
        self._aio_as_trio = aio_as_trio
        self._url = url
        self.lobby_id = lobby_id
        #: Which chat this database is (sql/postgres/0004_cluster.sql): the same for
        #: every instance on it, different for every other chat.
        self.cluster_id = cluster_id
        #: Migrations this process applied when it opened the database.
        self.applied_migrations = applied

    async def _call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run an asyncio coroutine function with a pool connection's worth of capacity."""
        import asyncpg

        async with self._limiter:
            try:
                return await self._aio_as_trio(fn)(*args)
            except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as error:
                raise Unavailable(f"database unavailable: {error}") from error
            except asyncpg.ForeignKeyViolationError:
                # A user or room deleted while a request referring to it was under way.
                raise Gone() from None

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

        try:
            return await self._aio_as_trio(asyncpg.connect)(
                self._url, timeout=10, server_settings={"application_name": application_name}
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise Unavailable(f"cannot connect to PostgreSQL: {error}") from None

    async def notify(self, channel: str, payload: str) -> None:
        """NOTIFY `channel` with `payload` (at most 8000 bytes), through the pool."""
        await self._call(self._pool.execute, "SELECT pg_notify($1, $2)", channel, payload)

    async def ping(self) -> None:
        # A real table, so the check fails when the schema is unreadable or locked.
        await self._call(self._pool.fetchval, "SELECT id FROM rooms WHERE kind = 'lobby'")

    async def create_user(
        self, name: str, password_hash: str, *, email: str | None = None, is_admin: bool = False
    ) -> User:
        row = await self._call(
            _aio_fetchrow_unique,
            self._pool,
            name,
            "INSERT INTO users (name, email, password_hash, is_admin) VALUES ($1, $2, $3, $4)"
            f" RETURNING {_USER_COLUMNS}",
            name,
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
        row = await self._call(
            _aio_fetchrow_unique,
            self._pool,
            name,
            f"UPDATE users SET name = $2 WHERE id = $1 RETURNING {_USER_COLUMNS}",
            user_id,
            name,
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

    # --- messages ---

    async def add_message(self, room_id: int, sender_id: int, body: str) -> Message:
        (added,) = await self.add_messages([NewMessage(room_id, sender_id, body)])
        return added.message

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
        rows = await self._call(
            self._pool.fetch,
            f"SELECT {_MESSAGE_COLUMNS} FROM messages AS m JOIN users AS u ON u.id = m.sender_id"
            " WHERE m.room_id = $1 AND m.id < $2 AND m.id > $3 ORDER BY m.id DESC LIMIT $4",
            room_id,
            _NO_UPPER_BOUND if before_id is None else before_id,
            after_id,
            limit,
        )
        return [_message(row) for row in rows]


@asynccontextmanager
async def open_postgres_store(url: str, *, pool_size: int) -> AsyncIterator[PostgresStore]:
    """Connect a pool to `url`, migrate the database, and close the pool on exit.

    Raises `Unavailable` when the server cannot be reached or refuses the connection.
    """
    import asyncpg
    import trio_asyncio

    migrations = load_migrations("postgres")
    aio_as_trio = trio_asyncio.aio_as_trio
    # The asyncio loop runs as long as this block: every pool call happens inside it.
    async with trio_asyncio.open_loop():
        try:
            pool = await aio_as_trio(asyncpg.create_pool)(
                url, min_size=1, max_size=pool_size, timeout=10, reset=_keep_session
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise Unavailable(f"cannot connect to PostgreSQL: {error}") from None
        try:
            applied = await aio_as_trio(_aio_migrate)(pool, migrations)
            lobby_id = await aio_as_trio(pool.fetchval)("SELECT id FROM rooms WHERE kind = 'lobby'")
            cluster_id = await aio_as_trio(pool.fetchval)("SELECT id FROM cluster")
            yield PostgresStore(
                pool, pool_size, aio_as_trio, lobby_id, applied, url=url, cluster_id=cluster_id
            )
        finally:
            with trio.move_on_after(_POOL_CLOSE_TIMEOUT_S, shield=True) as scope:
                await aio_as_trio(pool.close)()
            if scope.cancelled_caught:
                pool.terminate()
