"""The PostgreSQL side of `chat copy-database` (chat/server/copy_database/command.py): its
connection,
and what runs on trio-asyncio's loop, one round trip or one transaction at a time.

Resource handling: `open_target` owns the asyncio loop and the connection, and closes
both when its block ends.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from chat.server.copy_database.tables import TablePlan, Tally
from chat.store.moderation import INSERT_AUDIT

if TYPE_CHECKING:
    import asyncpg

T = TypeVar("T")

#: The table in the target that says what copy-database did there: 'copying' while a
#: copy runs (or after one was interrupted), 'copied' once one was verified.
MARKER_TABLE = "copy_database"

#: Rows the migrations or a server's first start put in an empty database: they do not
#: make the target one that "holds chat data". (`rooms`: the lobby.)
_SEEDED_ROWS = {"rooms": "kind <> 'lobby'", "vapid_key": "false"}


class Target:
    """One PostgreSQL connection; `call` runs an asyncio function of it."""

    def __init__(self, conn: asyncpg.Connection, aio_as_trio: Callable[..., Any]) -> None:
        self._conn = conn
        self._aio_as_trio = aio_as_trio

    async def call(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        result: T = await self._aio_as_trio(function)(self._conn, *args)
        return result


@asynccontextmanager
async def open_target(url: str) -> AsyncIterator[Target]:
    import asyncpg
    import trio_asyncio

    from chat.store.postgres.aio_bridge import open_aio_loop
    from chat.store.postgres.engine import CONNECT_TIMEOUT_S, connect_errors, unavailable_on

    aio_as_trio = trio_asyncio.aio_as_trio
    # The asyncio loop runs as long as this block: every call on the connection is in it.
    async with open_aio_loop():
        with unavailable_on(connect_errors(), "cannot connect to PostgreSQL"):
            conn = await aio_as_trio(asyncpg.connect)(url, timeout=CONNECT_TIMEOUT_S)
        try:
            yield Target(conn, aio_as_trio)
        finally:
            with trio.move_on_after(5, shield=True):
                await aio_as_trio(conn.close)()
            if not conn.is_closed():
                conn.terminate()


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def aio_schema(
    conn: asyncpg.Connection,
) -> tuple[dict[str, dict[str, str]], dict[str, set[str]]]:
    """The target schema's tables (column -> type) and foreign keys (table -> parents)."""
    columns: dict[str, dict[str, str]] = {}
    for row in await conn.fetch(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema()"
    ):
        columns.setdefault(row["table_name"], {})[row["column_name"]] = row["data_type"]
    parents: dict[str, set[str]] = {}
    for row in await conn.fetch(
        "SELECT child.relname AS child, parent.relname AS parent FROM pg_constraint"
        " JOIN pg_class child ON child.oid = conrelid"
        " JOIN pg_class parent ON parent.oid = confrelid"
        " WHERE contype = 'f' AND connamespace = current_schema()::regnamespace"
    ):
        parents.setdefault(row["child"], set()).add(row["parent"])
    return columns, parents


#: pg_try_advisory_lock's first key for "a copy into this schema runs" (the second is
#: the schema's hash): "copy".
COPY_LOCK = 0x636F7079


async def aio_lock_target(conn: asyncpg.Connection) -> bool:
    """Take the target schema for this copy alone, until the connection closes; False if
    another copy has it (two copies into one schema would empty each other's tables)."""
    return bool(
        await conn.fetchval(
            "SELECT pg_try_advisory_lock($1, hashtext(current_schema()))", COPY_LOCK
        )
    )


async def aio_foreign_tables(conn: asyncpg.Connection) -> tuple[str | None, list[str]]:
    """(the target's schema or None if its search_path names none that exists, the
    tables in it if it is not a chat database: one without `schema_version`)."""
    schema = await conn.fetchval("SELECT current_schema()")
    if schema is None:
        return None, []
    tables = [
        row["table_name"]
        for row in await conn.fetch(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() ORDER BY table_name"
        )
    ]
    return schema, [] if "schema_version" in tables else tables


async def aio_target_state(
    conn: asyncpg.Connection, plans: list[TablePlan]
) -> tuple[str | None, list[str]]:
    """(the marker's state or None, the tables holding rows beyond the seeded ones)."""
    state = None
    if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", MARKER_TABLE):
        state = await conn.fetchval(f"SELECT state FROM {MARKER_TABLE}")
    holding = []
    for plan in plans:
        condition = _SEEDED_ROWS.get(plan.name, "true")
        if await conn.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {_quoted(plan.name)} WHERE {condition})"
        ):
            holding.append(plan.name)
    return state, holding


async def aio_start(conn: asyncpg.Connection, plans: list[TablePlan], source: str) -> None:
    """Mark the target as being copied into and empty the tables to copy, at once."""
    async with conn.transaction():
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} ("
            " one boolean PRIMARY KEY DEFAULT true CHECK (one),"
            " state text NOT NULL, source text NOT NULL,"
            " started_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz)"
        )
        await conn.execute(f"DELETE FROM {MARKER_TABLE}")
        await conn.execute(
            f"INSERT INTO {MARKER_TABLE} (state, source) VALUES ('copying', $1)", source
        )
        # TRUNCATE fires no row or DELETE triggers (audit_log refuses DELETE only).
        tables = ", ".join(_quoted(plan.name) for plan in plans)
        await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        await conn.execute("DELETE FROM server_secrets WHERE name = 'jwt'")


async def aio_insert(conn: asyncpg.Connection, plan: TablePlan, rows: list[Any]) -> None:
    async with conn.transaction():
        await conn.copy_records_to_table(plan.name, records=rows, columns=list(plan.columns))


#: A column default drawing from a sequence: nextval('messages_id_seq'::regclass).
_NEXTVAL = re.compile(r"^nextval\('(.+)'::regclass\)$")


async def aio_set_sequences(
    conn: asyncpg.Connection, plans: list[TablePlan], issued: Mapping[str, int]
) -> None:
    """Make every sequence continue after the ids copied and the ids SQLite issued.

    A sequence may feed several columns (message_changes.seq draws from messages'
    ids: one stream of positions), so each is set past the largest value of every
    column it feeds. `issued` is SQLite's AUTOINCREMENT counter per table
    (sqlite_sequence): an id SQLite gave out to a row since removed is not given again.
    """
    newest: dict[str, int] = {}
    for plan in plans:
        for row in await conn.fetch(
            "SELECT column_name, column_default,"
            " pg_get_serial_sequence($1, column_name) AS sequence"
            " FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = $2",
            _quoted(plan.name),
            plan.name,
        ):
            default = _NEXTVAL.match(row["column_default"] or "")
            sequence = row["sequence"] or (default.group(1) if default else None)
            if sequence is None:
                continue
            # One name per sequence: a default may name it without its schema.
            sequence = await conn.fetchval("SELECT $1::regclass::text", sequence)
            largest = await conn.fetchval(
                f"SELECT COALESCE(max({_quoted(row['column_name'])}), 0) FROM {_quoted(plan.name)}"
            )
            newest[sequence] = max(newest.get(sequence, 0), largest, issued.get(plan.name, 0))
    for sequence, value in newest.items():
        await conn.execute("SELECT setval($1::regclass, $2, false)", sequence, value + 1)


async def aio_store_secret(conn: asyncpg.Connection, secret: str | None) -> None:
    """Keep the SQLite server's signing key as the cluster's, so its tokens still work."""
    if secret is None:
        return
    await conn.execute(
        "INSERT INTO server_secrets (name, value) VALUES ('jwt', $1)"
        " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
        secret,
    )


async def aio_mark(conn: asyncpg.Connection, state: str) -> None:
    await conn.execute(f"UPDATE {MARKER_TABLE} SET state = $1, finished_at = now()", state)


async def aio_finish(conn: asyncpg.Connection, audit: Sequence[object]) -> int:
    """Mark the target "copied" and write the copy's audit entry (`audit`: the values
    of `INSERT_AUDIT`), in one transaction; the entry's id."""
    async with conn.transaction():
        audit_id = await conn.fetchval(INSERT_AUDIT + " RETURNING id", *audit)
        await aio_mark(conn, "copied")
    return int(audit_id)


async def aio_tally(conn: asyncpg.Connection, plan: TablePlan, batch_size: int) -> Tally:
    """The target table's count and checksum, read through a cursor (memory bounded)."""
    tally = Tally()
    columns = ", ".join(_quoted(column) for column in plan.columns)
    async with conn.transaction(readonly=True):
        cursor = await conn.cursor(f"SELECT {columns} FROM {_quoted(plan.name)}")
        while rows := await cursor.fetch(batch_size):
            tally.add(rows)
    return tally
