"""Opening a PostgreSQL store: the asyncio loop it runs on, migrating the database,
filling in name keys, and the pool.

`trio_asyncio` is imported inside `open_postgres_store` only: importing it changes what
`asyncio.run()` does for the whole process, which a SQLite-only server should not pay for."""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio

from chat.core.errors import MissingSchema
from chat.store.accounts import fill_in_name_keys
from chat.store.database import UniqueViolation
from chat.store.migrations import (
    COMPATIBLE_COLUMN,
    SCHEMA_VERSION_TABLE,
    Migration,
    Recorded,
    check_recorded,
    load_migrations,
    log_applied,
)
from chat.store.postgres import engine  # its timeouts are read at call time (tests shorten them)
from chat.store.postgres.aio_bridge import open_aio_loop
from chat.store.postgres.engine import (
    PostgresConnection,
    PostgresDatabase,
    connect_errors,
    database_away,
    unavailable_on,
)
from chat.store.postgres.pool import ConnectionPool
from chat.store.postgres.store import PostgresStore

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger("chat.store")


# pg_advisory_xact_lock key that serialises migrations (and filling in name keys) between
# instances starting at once.
_MIGRATION_LOCK = 0x63686174  # "chat"

_POOL_CLOSE_TIMEOUT_S = 5.0


async def _aio_prepare(
    conn: asyncpg.Connection, migrations: list[Migration], create_schema: bool
) -> tuple[list[str], int, str]:
    """Apply the migrations the database lacks, give users without name keys theirs,
    then read what the store needs to know: (the migrations applied, the lobby's id, the
    cluster id)."""
    await _aio_require_schema(conn, create_schema)
    applied = await _aio_migrate(conn, migrations)
    await _aio_fill_in_name_keys(conn)
    lobby_id = await conn.fetchval("SELECT id FROM rooms WHERE kind = 'lobby'")
    cluster_id = await conn.fetchval("SELECT id FROM cluster")
    return applied, lobby_id, cluster_id


def _search_path_schemas(search_path: str) -> list[str]:
    """The schema names of a ``SHOW search_path`` answer, ``$user`` left out."""
    names = []
    for part in search_path.split(","):
        name = part.strip()
        if name.startswith('"') and name.endswith('"') and len(name) >= 2:
            name = name[1:-1].replace('""', '"')
        if name and name != "$user":
            names.append(name)
    return names


async def _aio_require_schema(conn: asyncpg.Connection, create_schema: bool) -> None:
    """Make sure the tables have a schema to go to: without one, PostgreSQL's own answer
    ("no schema has been selected to create in") tells an operator nothing."""
    if await conn.fetchval("SELECT current_schema()") is not None:
        return
    search_path = str(await conn.fetchval("SHOW search_path"))
    database = str(await conn.fetchval("SELECT current_database()"))
    wanted = _search_path_schemas(search_path)
    if not wanted:
        raise MissingSchema(
            f"PostgreSQL: the search_path ({search_path}) names no schema to create the "
            f"tables in; name one in the database URL (?search_path=chat) or leave it out"
        )
    if create_schema:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_quoted(wanted[0])}")
        log.info("created schema %s in database %s", wanted[0], database)
        return
    raise MissingSchema(
        f"PostgreSQL: database {database!r} has no schema {wanted[0]!r} (the search_path is "
        f"{search_path}); create it with `chat migrate --create-schema`, or in psql: "
        f"CREATE SCHEMA {_quoted(wanted[0])};"
    )


def _quoted(identifier: str) -> str:
    """`identifier` as a PostgreSQL quoted identifier."""
    return '"' + identifier.replace('"', '""') + '"'


async def _aio_migrate(conn: asyncpg.Connection, migrations: list[Migration]) -> list[str]:
    async with conn.transaction():
        # One migrating instance at a time; the lock is released at commit.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {SCHEMA_VERSION_TABLE} ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        # The flag is NULL (false) where the column is not there yet.
        recorded = [
            Recorded(row["version"], row["name"], bool(row["compatible"]))
            for row in await conn.fetch(
                f"SELECT version, name, (to_jsonb(s) ->> '{COMPATIBLE_COLUMN}')::boolean"
                f" AS compatible FROM {SCHEMA_VERSION_TABLE} s"
            )
        ]
        check_recorded("PostgreSQL", migrations, recorded)
        done = {row.version for row in recorded}
        applied: list[Migration] = []
        took: list[float] = []
        for migration in migrations:
            if migration.version in done:
                continue
            started = time.monotonic()
            await conn.execute(migration.sql)
            await conn.execute(
                f"INSERT INTO {SCHEMA_VERSION_TABLE} (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
            if migration.compatible_with_older_code:
                await conn.execute(
                    f"UPDATE {SCHEMA_VERSION_TABLE} SET {COMPATIBLE_COLUMN} = true"
                    " WHERE version = $1",
                    migration.version,
                )
            applied.append(migration)
            took.append(time.monotonic() - started)
    # Logged once committed (all together, in one transaction under the lock).
    for migration, seconds in zip(applied, took, strict=True):
        log_applied("postgres", migration, seconds)
    return [migration.label for migration in applied]


_FILL_IN_ATTEMPTS = 3


async def _aio_fill_in_name_keys(conn: asyncpg.Connection) -> None:
    """Give every user without name keys theirs (see `assign_name_keys`).

    Under the migration lock, so instances starting at once take turns (the second
    finds the keys set). Instances already serving may register users meanwhile; if one
    takes a key this plan gave away, the UPDATE fails, the transaction rolls back, and
    the plan is made again.
    """

    for attempt in range(1, _FILL_IN_ATTEMPTS + 1):
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
                await fill_in_name_keys(PostgresConnection(conn))
            return
        except UniqueViolation:
            if attempt == _FILL_IN_ATTEMPTS:
                raise


async def _close_connection(aio_as_trio: Callable[..., Any], conn: asyncpg.Connection) -> None:
    """Close a connection of our own: politely if the server answers in time, else drop it.
    Shielded, since it is also reached on cancellation, and bounded."""
    with trio.move_on_after(_POOL_CLOSE_TIMEOUT_S, shield=True):
        with contextlib.suppress(*database_away()):
            await aio_as_trio(conn.close)()
    if not conn.is_closed():
        conn.terminate()


@asynccontextmanager
async def open_postgres_store(
    url: str, *, pool_size: int, create_schema: bool = False
) -> AsyncIterator[PostgresStore]:
    """Migrate the database at `url` and give users without name keys theirs
    (`_aio_fill_in_name_keys`), connect a pool to it, and close the pool on exit.
    `create_schema` creates the search_path's first schema if none exists
    (`chat migrate --create-schema`); otherwise that raises `MissingSchema`.

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
        with unavailable_on(connect_errors(), "cannot connect to PostgreSQL"):
            conn = await aio_as_trio(asyncpg.connect)(url, timeout=engine.CONNECT_TIMEOUT_S)
        try:
            with unavailable_on(database_away(), "PostgreSQL went away while opening it"):
                applied, lobby_id, cluster_id = await aio_as_trio(_aio_prepare)(
                    conn, migrations, create_schema
                )
        finally:
            await _close_connection(aio_as_trio, conn)
        # Connections are opened when a caller needs one (nothing reconnects in the
        # background while the database is away, logging each failure).
        pool = ConnectionPool(
            functools.partial(
                asyncpg.connect,
                url,
                timeout=engine.CONNECT_TIMEOUT_S,
                command_timeout=engine.QUERY_TIMEOUT_S,
            ),
            pool_size,
            reset_grace_s=engine.CANCEL_GRACE_S,
        )
        try:
            yield PostgresStore(
                PostgresDatabase(pool, aio_as_trio),
                lobby_id=lobby_id,
                applied=applied,
                url=url,
                cluster_id=cluster_id,
            )
        finally:
            with trio.move_on_after(_POOL_CLOSE_TIMEOUT_S, shield=True) as scope:
                await aio_as_trio(pool.close)()
            if scope.cancelled_caught:
                pool.terminate()
