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
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar, cast

from chat.core.errors import EmailTaken, NameTaken
from chat.core.records import Message
from chat.store.base import StoreBase
from chat.store.shared.messages import message_from_row
from chat.store.sqlite.engine import (
    BUSY_TIMEOUT_S as BUSY_TIMEOUT_S,
)
from chat.store.sqlite.engine import (
    CONTAINS_FOLDED as CONTAINS_FOLDED,
)
from chat.store.sqlite.engine import (
    SQLiteDatabase,
)
from chat.store.sqlite.engine import (
    open_connection as open_connection,
)
from chat.store.sqlite.engine import (
    transaction as transaction,
)
from chat.store.sqlite.engine import (
    unavailable_detail as unavailable_detail,
)

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


T = TypeVar("T")

# The health check reads a real table, so it fails when the schema is unreadable.
_PING = "SELECT id FROM rooms WHERE kind = 'lobby'"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def message_of(row: sqlite3.Row) -> Message:
    return message_from_row(row, from_ms)


def integrity_error(error: sqlite3.IntegrityError, name: str) -> Exception:
    """The domain error for a unique-constraint violation, or the error itself."""
    text = str(error)
    if text.endswith("users.name"):
        return NameTaken(name)
    if "users.email" in text:
        return EmailTaken()
    return error


class SQLiteBase(StoreBase):
    """A SQLite store's base while concerns move to `StoreBase`: `_run` runs a function on
    a raw sqlite3 connection in the worker thread."""

    def __init__(
        self, connections: list[sqlite3.Connection], lobby_id: int, applied: list[str]
    ) -> None:
        super().__init__(SQLiteDatabase(connections), lobby_id=lobby_id, applied=applied)

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn` on an idle connection, in a worker thread (`SQLiteDatabase`)."""
        db = cast(SQLiteDatabase, self.db)
        result: T = await db._in_thread(lambda conn: fn(conn.raw))
        return result
