"""What `chat copy-database` copies, and how a value crosses from SQLite to PostgreSQL.

The copy is generic: every table of the SQLite file is copied into the PostgreSQL table
of the same name, the columns both have, parents before children (by the foreign keys of
both schemas), unless `SKIPPED_TABLES` names it with the reason. A table another
engineer adds later is therefore copied without a change here; one that exists only in
SQLite stops the copy before anything is written (`plan_tables`), so nothing is left
behind silently.

Values are converted by the PostgreSQL column's type (`to_postgres`): SQLite keeps
moments as integer milliseconds and booleans as 0/1. Checksums compare normalised values
(`row_digest`), so that the same row read from either database hashes the same.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

#: SQLite tables that are not copied, and why. Everything else is.
SKIPPED_TABLES: Mapping[str, str] = {
    "schema_version": "each database keeps its own migration history",
    "sqlite_sequence": "SQLite's AUTOINCREMENT counters: PostgreSQL's sequences are set instead",
    # SQLite's full-text index (FTS5) and its shadow tables. PostgreSQL's search index is
    # an index on messages.body (sql/postgres/0018_search.sql), built as rows arrive.
    "message_search": "SQLite's search index: PostgreSQL indexes messages.body itself",
    "message_search_config": "SQLite's search index (FTS5 shadow table)",
    "message_search_data": "SQLite's search index (FTS5 shadow table)",
    "message_search_docsize": "SQLite's search index (FTS5 shadow table)",
    "message_search_idx": "SQLite's search index (FTS5 shadow table)",
    "message_search_state": "how far SQLite's search indexer got",
    "database_moved": "the mark a copy leaves on its source: where the chat went",
}

#: Modulus of a table's checksum: the sum of its rows' digests, so that it does not
#: depend on the order rows are read in (the two databases sort text differently).
_CHECKSUM_MODULUS = 1 << 128

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


class SchemaMismatch(Exception):
    """The SQLite file holds something the PostgreSQL schema has no place for."""


@dataclass(frozen=True, slots=True)
class TablePlan:
    """One table to copy: its name, the columns both databases have (in SQLite's order),
    their PostgreSQL types, and the key rows are read in."""

    name: str
    columns: tuple[str, ...]
    pg_types: tuple[str, ...]
    order_by: tuple[str, ...]


def sqlite_tables(conn: sqlite3.Connection) -> list[str]:
    """Every table of the SQLite file, by name (virtual tables included)."""
    return [
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        )
    ]


def _sqlite_columns(conn: sqlite3.Connection, table: str) -> list[tuple[str, int]]:
    """(name, position in the primary key or 0) of each column."""
    return [(row[1], row[5]) for row in conn.execute(f'PRAGMA table_info("{table}")')]


def _sqlite_parents(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[2] for row in conn.execute(f'PRAGMA foreign_key_list("{table}")')}


def plan_tables(
    conn: sqlite3.Connection,
    pg_columns: Mapping[str, Mapping[str, str]],
    pg_parents: Mapping[str, set[str]],
) -> list[TablePlan]:
    """The tables to copy, parents first. `pg_columns` is the PostgreSQL schema (table ->
    column -> type), `pg_parents` its foreign keys (table -> tables it refers to).

    Raises `SchemaMismatch` for a SQLite table or column PostgreSQL lacks: copying
    without it would lose data without a word.
    """
    names = [name for name in sqlite_tables(conn) if name not in SKIPPED_TABLES]
    missing = [name for name in names if name not in pg_columns]
    if missing:
        raise SchemaMismatch(
            f"the SQLite database has tables PostgreSQL lacks: {', '.join(missing)}"
            " (neither copied nor skipped: see SKIPPED_TABLES in"
            " chat/server/copy_database/tables.py)"
        )
    plans: dict[str, TablePlan] = {}
    parents: dict[str, set[str]] = {}
    for name in names:
        columns = _sqlite_columns(conn, name)
        lacking = [column for column, _ in columns if column not in pg_columns[name]]
        if lacking:
            raise SchemaMismatch(
                f"PostgreSQL's {name} lacks the column(s) {', '.join(lacking)} of SQLite's"
            )
        key = [column for column, position in sorted(columns, key=lambda c: c[1]) if position]
        plans[name] = TablePlan(
            name,
            tuple(column for column, _ in columns),
            tuple(pg_columns[name][column] for column, _ in columns),
            tuple(key) or ("rowid",),
        )
        parents[name] = (_sqlite_parents(conn, name) | pg_parents.get(name, set())) - {name}
    return [plans[name] for name in _parents_first(sorted(plans), parents)]


def _parents_first(names: Sequence[str], parents: Mapping[str, set[str]]) -> list[str]:
    """`names` ordered so that each comes after the tables it refers to (a cycle, which
    neither schema has, would be broken in name order)."""
    ordered: list[str] = []
    placed: set[str] = set()
    visiting: set[str] = set()

    def place(name: str) -> None:
        if name in placed or name in visiting or name not in names:
            return
        visiting.add(name)
        for parent in sorted(parents.get(name, ())):
            place(parent)
        visiting.discard(name)
        placed.add(name)
        ordered.append(name)

    for name in names:
        place(name)
    return ordered


def select_sql(plan: TablePlan) -> str:
    """The SQLite query reading a table's rows, in key order."""
    columns = ", ".join(f'"{column}"' for column in plan.columns)
    order = ", ".join(f'"{column}"' if column != "rowid" else "rowid" for column in plan.order_by)
    return f'SELECT {columns} FROM "{plan.name}" ORDER BY {order}'


def _to_moment(value: Any) -> Any:
    if isinstance(value, int):
        return _EPOCH + value * _ONE_MS
    return value


def _to_bool(value: Any) -> Any:
    return value if value is None else bool(value)


def _to_bytes(value: Any) -> Any:
    return value.encode() if isinstance(value, str) else value


def _to_text(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else str(value)


def _to_integer(value: Any) -> Any:
    return int(value) if isinstance(value, str | float) else value


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "timestamp with time zone": _to_moment,
    "timestamp without time zone": _to_moment,
    "boolean": _to_bool,
    "bytea": _to_bytes,
    "text": _to_text,
    "character varying": _to_text,
    "json": _to_text,
    "jsonb": _to_text,
    "bigint": _to_integer,
    "integer": _to_integer,
    "smallint": _to_integer,
}


def converters(plan: TablePlan) -> list[Callable[[Any], Any]]:
    """One function per column turning a SQLite value into what asyncpg sends for the
    column's PostgreSQL type (a value of another type passes unchanged)."""
    return [_CONVERTERS.get(pg_type, _same) for pg_type in plan.pg_types]


def _same(value: Any) -> Any:
    return value


def to_postgres(
    rows: Iterable[Sequence[Any]], convert: Sequence[Callable[[Any], Any]]
) -> list[tuple[Any, ...]]:
    return [tuple(f(value) for f, value in zip(convert, row, strict=True)) for row in rows]


def _normal(value: Any) -> str:
    """A value as the same text from either database: moments in milliseconds, booleans
    as 0/1, everything else typed, so that 1 and '1' differ."""
    if value is None:
        return "n"
    if isinstance(value, bool):
        return f"b{int(value)}"
    if isinstance(value, datetime):
        return f"t{(value - _EPOCH) // _ONE_MS}"
    if isinstance(value, int):
        return f"i{value}"
    if isinstance(value, float):
        return f"f{value!r}"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"x{bytes(value).hex()}"
    return f"s{value}"


def row_digest(row: Sequence[Any]) -> int:
    text = "\x1f".join(_normal(value) for value in row)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=16).digest(), "big")


@dataclass(slots=True)
class Tally:
    """A table's row count and order-independent checksum, built row by row."""

    rows: int = 0
    checksum: int = 0

    def add(self, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            self.rows += 1
            self.checksum = (self.checksum + row_digest(row)) % _CHECKSUM_MODULUS

    @property
    def hex(self) -> str:
        return f"{self.checksum:032x}"
