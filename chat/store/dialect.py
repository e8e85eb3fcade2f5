"""What differs between SQLite and PostgreSQL, in one place: one `Dialect` per engine.

Operations are written once (`chat.store.database`), and where the engines differ they
ask their connection's dialect: how a stored time becomes a datetime, how a list of
values is passed as one parameter, which SQL an upsert or a search takes. Grep
``dialect.`` to find every place an operation depends on the engine.

SQLite keeps times as integer milliseconds since the epoch (UTC), PostgreSQL as
``timestamptz``; both keep booleans their own way (SQLite's 0 and 1 read back as ints).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

T = TypeVar("T")


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _as_is(moment: datetime) -> datetime:
    return moment  # asyncpg returns aware datetimes for timestamptz


def _to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _now() -> datetime:
    return datetime.now(UTC)


def _json_array(values: Sequence[Any]) -> str:
    return json.dumps(list(values))


def _list(values: Sequence[Any]) -> list[Any]:
    return list(values)


@dataclass(frozen=True, slots=True)
class Dialect:
    """One engine's answers to the questions operations ask."""

    #: "sqlite" or "postgres": the directory of its migrations (sql/<name>/).
    name: str
    #: A stored time (a column of a time type) as an aware datetime.
    moment: Callable[[Any], datetime]
    #: An aware datetime as a parameter for a column of a time type.
    timestamp: Callable[[datetime], Any]
    #: A list of values as the one parameter `values_of` and `among` read.
    list_param: Callable[[Sequence[Any]], Any]
    #: A subquery of the values of list parameter ``$n``, as rows to select from:
    #: format it with ``n`` and the values' PostgreSQL type (``bigint``, ``text``).
    values_of: str
    #: A condition that ``column`` holds one of list parameter ``$n``'s values: format
    #: it with ``column``, ``n`` and ``pg_type``. On PostgreSQL ``= ANY`` of an array,
    #: which the planner reads as index look-ups whatever a table's statistics say (an
    #: ``IN`` over a subquery became a hash join over the whole table when they were
    #: stale: a table filled since the last ANALYZE).
    among: str
    #: Whether one statement can insert a batch from one array per column (PostgreSQL's
    #: ``unnest``); SQLite inserts the rows one by one, in one transaction.
    inserts_from_arrays: bool
    #: Now, as a parameter for a column of a time type.
    now: Callable[[], Any]
    #: Whether a commit can carry notifications to other instances (PostgreSQL's
    #: ``pg_notify``); SQLite serves one instance and has none to send.
    notifies: bool

    def pick(self, *, sqlite: T, postgres: T) -> T:
        """The one of two things (SQL, mostly) for this engine: for an operation whose
        SQL truly differs, chosen next to it."""
        return sqlite if self.name == "sqlite" else postgres

    def values(self, n: int, pg_type: str = "bigint") -> str:
        """`values_of` for parameter ``$n`` holding values of `pg_type`."""
        return self.values_of.format(n=n, pg_type=pg_type)

    def is_among(self, column: str, n: int, pg_type: str = "bigint") -> str:
        """`among` for `column` and parameter ``$n`` holding values of `pg_type`."""
        return self.among.format(column=column, n=n, pg_type=pg_type)


SQLITE = Dialect(
    name="sqlite",
    moment=_from_ms,
    timestamp=_to_ms,
    list_param=_json_array,
    values_of="SELECT value FROM json_each(${n})",
    among="{column} IN (SELECT value FROM json_each(${n}))",
    inserts_from_arrays=False,
    now=_now_ms,
    notifies=False,
)

POSTGRES = Dialect(
    name="postgres",
    moment=_as_is,
    timestamp=_as_is,
    list_param=_list,
    values_of="SELECT unnest(${n}::{pg_type}[])",
    among="{column} = ANY(${n}::{pg_type}[])",
    inserts_from_arrays=True,
    now=_now,
    notifies=True,
)
