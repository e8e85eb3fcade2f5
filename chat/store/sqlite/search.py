"""The SQLite store's `Search`: FTS5's trigram index (sql/sqlite/0017_search.sql) finds
the messages that contain each word of three characters or more, newest first; the
rest of the query (who may read, tombstones, shorter words, the filters) is checked on
the rows it yields, in the same statement, until the page is full."""

from __future__ import annotations

import sqlite3

from ..records import Message, SearchFilter
from ..shared.files import ids_with_files, with_files
from ..shared.messages import MESSAGE_COLUMNS
from ..shared.rows import NO_UPPER_BOUND
from ..shared.search import READABLE_ROOMS_SQL, fts5_string
from .base import CONTAINS_FOLDED, SQLiteBase, message_of
from .files import files_of_messages


def _search_sql(search: SearchFilter) -> tuple[str, list[object]]:
    # The FTS5 table drives the join, newest rowid first, and stops once the page is
    # full: a common word costs a page's worth of rows, not every match.
    readable = READABLE_ROOMS_SQL.format(admin="?", user="?")
    values: list[object] = [
        " ".join(fts5_string(word) for word in search.words),
        NO_UPPER_BOUND if search.before_id is None else search.before_id,
        int(search.admin),
        search.user_id,
    ]
    extra = []
    if search.room_id is not None:
        extra.append(" AND m.room_id = ?")
        values.append(search.room_id)
    if search.sender_id is not None:
        extra.append(" AND m.sender_id = ?")
        values.append(search.sender_id)
    for word in search.short_words:
        extra.append(f" AND {CONTAINS_FOLDED}(m.body, ?)")
        values.append(word.casefold())
    values.append(search.limit)
    sql = (
        f"SELECT {MESSAGE_COLUMNS} FROM message_search AS s"
        " JOIN messages AS m ON m.id = s.rowid"
        " JOIN users AS u ON u.id = m.sender_id"
        " WHERE message_search MATCH ? AND s.rowid < ? AND m.deleted_at IS NULL"
        f" AND m.room_id IN ({readable}){''.join(extra)}"
        " ORDER BY s.rowid DESC LIMIT ?"
    )
    return sql, values


class SQLiteSearch(SQLiteBase):
    """`Search` on SQLite."""

    async def search_messages(self, search: SearchFilter) -> list[Message]:
        sql, values = _search_sql(search)

        def select(conn: sqlite3.Connection) -> list[Message]:
            rows = conn.execute(sql, values).fetchall()
            files = files_of_messages(conn, ids_with_files(rows))
            return with_files([message_of(row) for row in rows], files)

        return await self._run(select)
