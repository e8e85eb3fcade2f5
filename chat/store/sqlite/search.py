"""The SQLite store's `Search`: FTS5's trigram index (sql/sqlite/0017_search.sql) and the
messages stored since it was last brought up to date.

A search reads two parts of the messages at one moment (one read transaction): those
above `indexed_up_to`, which the index does not hold yet (a second's worth or so), read
directly and matched word by word; and the rest through the index, which yields the
messages containing every word of three characters or more, newest first, while the
same statement checks the rest of the query (who may read, tombstones, shorter words,
the filters) on each row, until the page is full. A common word costs a page's worth of
rows, not every match.

`index_new_messages` brings the index up to date, a batch at a time: one statement per
batch, so FTS5 writes one segment for it, not one per message.
"""

from __future__ import annotations

import sqlite3

from chat.core.records import Message, SearchFilter
from chat.store.shared.files import ids_with_files, with_files
from chat.store.shared.messages import MESSAGE_COLUMNS
from chat.store.shared.rows import NO_UPPER_BOUND
from chat.store.shared.search import READABLE_ROOMS_SQL, fts5_string
from chat.store.sqlite.base import CONTAINS_FOLDED, SQLiteBase, message_of, transaction
from chat.store.sqlite.files import files_of_messages

_INDEXED_UP_TO = "SELECT indexed_up_to FROM message_search_state"

#: The id of the last of the next {limit} messages to index (NULL: none).
_BATCH_END = (
    "SELECT max(id) FROM (SELECT id FROM messages WHERE id > :after ORDER BY id LIMIT :limit)"
)
_INDEX_BATCH = (
    "INSERT INTO message_search (rowid, body)"
    " SELECT id, body FROM messages WHERE id > :after AND id <= :through"
)
_MOVE_UP_TO = "UPDATE message_search_state SET indexed_up_to = :through"


def _conditions(search: SearchFilter) -> tuple[str, list[object]]:
    """What both parts check on each row: readable, not deleted, older than `before_id`,
    the filters, and the words the index does not look up (`words`, for the part it does
    not hold, is added by the caller)."""
    readable = READABLE_ROOMS_SQL.format(admin="?", user="?")
    sql = f" AND m.id < ? AND m.deleted_at IS NULL AND m.room_id IN ({readable})"
    values: list[object] = [
        NO_UPPER_BOUND if search.before_id is None else search.before_id,
        int(search.admin),
        search.user_id,
    ]
    if search.room_id is not None:
        sql += " AND m.room_id = ?"
        values.append(search.room_id)
    if search.sender_id is not None:
        sql += " AND m.sender_id = ?"
        values.append(search.sender_id)
    return sql, values


def _containing(words: tuple[str, ...]) -> tuple[str, list[object]]:
    sql = "".join(f" AND {CONTAINS_FOLDED}(m.body, ?)" for _ in words)
    return sql, [word.casefold() for word in words]


def _newest_sql(search: SearchFilter, up_to: int) -> tuple[str, list[object]]:
    """The part the index does not hold yet: a range of the primary key above `up_to`."""
    conditions, values = _conditions(search)
    containing, words = _containing(search.words + search.short_words)
    sql = (
        f"SELECT {MESSAGE_COLUMNS} FROM messages AS m JOIN users AS u ON u.id = m.sender_id"
        f" WHERE m.id > ?{conditions}{containing} ORDER BY m.id DESC LIMIT ?"
    )
    return sql, [up_to, *values, *words, search.limit]


def _indexed_sql(search: SearchFilter, up_to: int) -> tuple[str, list[object]]:
    """The part the index holds: the FTS5 table drives the join, newest rowid first."""
    conditions, values = _conditions(search)
    containing, words = _containing(search.short_words)
    match = " ".join(fts5_string(word) for word in search.words)
    sql = (
        f"SELECT {MESSAGE_COLUMNS} FROM message_search AS s"
        " JOIN messages AS m ON m.id = s.rowid"
        " JOIN users AS u ON u.id = m.sender_id"
        f" WHERE message_search MATCH ? AND s.rowid <= ?{conditions}{containing}"
        " ORDER BY s.rowid DESC LIMIT ?"
    )
    return sql, [match, up_to, *values, *words, search.limit]


class SQLiteSearch(SQLiteBase):
    """`Search` on SQLite."""

    async def search_messages(self, search: SearchFilter) -> list[Message]:
        def select(conn: sqlite3.Connection) -> list[Message]:
            # One read transaction: `indexed_up_to` and both parts at the same moment, so
            # a batch indexed meanwhile is neither missed nor found twice.
            conn.execute("BEGIN")
            try:
                (up_to,) = conn.execute(_INDEXED_UP_TO).fetchone()
                rows = conn.execute(*_newest_sql(search, up_to)).fetchall()
                if len(rows) < search.limit:
                    rows += conn.execute(*_indexed_sql(search, up_to)).fetchall()
                rows = rows[: search.limit]
                files = files_of_messages(conn, ids_with_files(rows))
            finally:
                conn.execute("COMMIT")
            return with_files([message_of(row) for row in rows], files)

        return await self._run(select)

    async def index_new_messages(self, limit: int) -> int:
        def index(conn: sqlite3.Connection) -> int:
            with transaction(conn):
                (after,) = conn.execute(_INDEXED_UP_TO).fetchone()
                (through,) = conn.execute(_BATCH_END, {"after": after, "limit": limit}).fetchone()
                if through is None:
                    return 0
                names = {"after": after, "through": through}
                indexed = conn.execute(_INDEX_BATCH, names).rowcount
                conn.execute(_MOVE_UP_TO, names)
                return int(indexed)

        return await self._run(index)
