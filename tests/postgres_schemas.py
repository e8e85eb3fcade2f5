"""Migrated PostgreSQL schemas for tests: made once per test process, then recycled.

Creating a schema and running every migration into it was most of a PostgreSQL test's
set-up (about 0.3 s on a quiet machine, twice that beside the other worker), and the
suite has some 1,700 such tests. So a test process keeps the schemas its tests are done
with: after a test, its schema is put back as the migrations left it (every row deleted,
the migrations' own rows put back, every sequence set back, in one transaction: about
10 ms) and the next test gets it. A test cannot tell it from a new one: what it could
change that a reset does not undo (a table, a column, a trigger, a policy, a grant...)
is fingerprinted, and a schema whose fingerprint moved is dropped, as is one that another
session still holds a lock in, or whose reset failed.

Tests of the migrations themselves (an empty schema to migrate) take
`support.throwaway_postgres_schema` instead, or the `unmigrated` mark (tests/conftest.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio
from support import _create_throwaway_schema, _schema_url, pg_connection, postgres_url_or_skip

from chat.store.postgres.opening import open_postgres_store

#: What a schema holds that deleting its rows would not put back, as one text per
#: object: relations (with row security and grants), columns (with defaults), functions,
#: triggers, policies, constraints and types. Compared before a schema is reused.
_FINGERPRINT = """
SELECT md5(coalesce(string_agg(x, ',' ORDER BY x), '')) FROM (
  SELECT concat_ws(' ', 'c', c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity,
                   c.relacl)
    FROM pg_class c WHERE c.relnamespace = $1::regnamespace
  UNION ALL
  SELECT concat_ws(' ', 'a', c.relname, a.attname, a.atttypid, a.attnotnull, a.attisdropped,
                   pg_get_expr(d.adbin, d.adrelid))
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE c.relnamespace = $1::regnamespace AND a.attnum > 0
  UNION ALL
  SELECT concat_ws(' ', 'f', p.proname, md5(p.prosrc)) FROM pg_proc p
   WHERE p.pronamespace = $1::regnamespace
  UNION ALL
  SELECT concat_ws(' ', 't', t.tgname, t.tgenabled) FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = $1::regnamespace
  UNION ALL
  SELECT concat_ws(' ', 'p', p.polname) FROM pg_policy p
    JOIN pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = $1::regnamespace
  UNION ALL
  SELECT concat_ws(' ', 'k', k.conname, k.contype) FROM pg_constraint k
   WHERE k.connamespace = $1::regnamespace
  UNION ALL
  SELECT concat_ws(' ', 'y', y.typname) FROM pg_type y WHERE y.typnamespace = $1::regnamespace
) AS objects(x)
"""

#: Locks on the schema's relations held by other sessions: a server of the test that has
#: not let go yet. Such a schema is not reused (nor waited for: it is dropped at exit).
_LOCKS_HELD_ELSEWHERE = """
SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
 WHERE c.relnamespace = $1::regnamespace AND l.pid <> pg_backend_pid()
"""


@dataclass(frozen=True)
class _Table:
    name: str  # quoted
    columns: str  # quoted, comma separated: the ones an INSERT may set
    rows: str | None  # the migrations' rows, as a JSON array, or None


@dataclass(frozen=True)
class _Pristine:
    """A schema as the migrations left it, and the transaction that puts it back so."""

    name: str
    fingerprint: str
    reset_sql: str


#: This process's schemas waiting for a test, and every schema it made (on `base`), for
#: `drop_made_schemas` at the end of the session.
_free: list[_Pristine] = []
_made: list[tuple[str, str]] = []


@asynccontextmanager
async def migrated_postgres_schema() -> AsyncIterator[str]:
    """A schema as `chat migrate` leaves it, for one test; yields a database URL whose
    search_path is that schema. Skips (fails under CI=true) without PostgreSQL."""
    base = postgres_url_or_skip()
    pristine = _free.pop() if _free else await _make(base)
    try:
        yield _schema_url(base, pristine.name)
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(10):
            if await _reset(base, pristine):
                _free.append(pristine)


async def _make(base: str) -> _Pristine:
    """A new schema, migrated by the server's own code, and its pristine state."""
    import trio_asyncio

    name = await _create_throwaway_schema(base)
    _made.append((base, name))
    url = _schema_url(base, name)
    async with open_postgres_store(url, pool_size=1):
        pass
    async with pg_connection(url) as conn:
        fetch = trio_asyncio.aio_as_trio(conn.fetch)
        fetchval = trio_asyncio.aio_as_trio(conn.fetchval)
        tables = []
        for (table,) in await fetch(
            "SELECT quote_ident(relname) FROM pg_class WHERE relnamespace = $1::regnamespace"
            " AND relkind IN ('r', 'p') ORDER BY relname",
            name,
        ):
            columns = ", ".join(
                column
                for (column,) in await fetch(
                    "SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = $1::regclass"
                    " AND attnum > 0 AND NOT attisdropped AND attgenerated = ''"
                    " ORDER BY attnum",
                    f"{name}.{table}",
                )
            )
            rows = await fetchval(
                f"SELECT json_agg(t)::text FROM (SELECT {columns} FROM {table}) t"
            )
            tables.append(_Table(table, columns, rows))
        sequences = tuple(
            (sequence, value, called)
            for sequence, value, called in await fetch(
                "SELECT quote_ident(sequencename), coalesce(last_value, start_value),"
                " last_value IS NOT NULL FROM pg_sequences WHERE schemaname = $1",
                name,
            )
        )
        fingerprint = await fetchval(_FINGERPRINT, name)
    return _Pristine(name, fingerprint, _reset_sql(tables, sequences))


async def _reset(base: str, pristine: _Pristine) -> bool:
    """Put the schema back as the migrations left it; False (and the schema is left for
    `drop_made_schemas`) if it cannot be, or should not be, reused."""
    import trio_asyncio

    try:
        async with pg_connection(_schema_url(base, pristine.name)) as conn:
            fetchval = trio_asyncio.aio_as_trio(conn.fetchval)
            if await fetchval(_LOCKS_HELD_ELSEWHERE, pristine.name):
                return False
            if await fetchval(_FINGERPRINT, pristine.name) != pristine.fingerprint:
                return False
            await trio_asyncio.aio_as_trio(conn.execute)(pristine.reset_sql)
    except Exception:  # whatever went wrong, a new schema is the safe answer
        return False
    return True


def _reset_sql(tables: list[_Table], sequences: tuple[tuple[str, int, bool], ...]) -> str:
    """One transaction that deletes every row of `tables` and puts the migrations' rows
    and the `sequences`' values (quoted name, value, is_called) back. As a replica, the
    session fires no trigger and checks no foreign key: the rows are deleted and restored
    as they were, in any order."""
    statements = ["BEGIN", "SET LOCAL session_replication_role = replica"]
    statements += [f"DELETE FROM {table.name}" for table in tables]
    for table in tables:
        if table.rows is not None:
            rows = "'" + table.rows.replace("'", "''") + "'"
            statements.append(
                f"INSERT INTO {table.name} ({table.columns}) OVERRIDING SYSTEM VALUE"
                f" SELECT {table.columns} FROM json_populate_recordset(NULL::{table.name},"
                f" {rows}::json)"
            )
    statements += [
        f"SELECT setval('{sequence}', {value}, {called})" for sequence, value, called in sequences
    ]
    statements.append("COMMIT")
    return ";\n".join(statements)


def drop_made_schemas() -> None:
    """Drop every schema this process made: at the end of its test session, outside Trio.
    A lock someone still holds is waited for 5 s at most, then that schema is left."""

    async def drop() -> None:
        import trio_asyncio

        for base in {base for base, _name in _made}:
            with contextlib.suppress(Exception):
                async with pg_connection(base) as conn:
                    execute = trio_asyncio.aio_as_trio(conn.execute)
                    await execute("SET lock_timeout = '5s'")
                    for name in (name for on, name in _made if on == base):
                        with contextlib.suppress(Exception):
                            await execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")

    if _made:
        trio.run(drop)
        _made.clear()
        _free.clear()
