"""The SQLite store's `Files`: uploaded files' records, who may read them, and what the
collector removes."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from datetime import datetime
from functools import partial

from chat.core.records import FileRef, StoredFile
from chat.store.shared import files as shared
from chat.store.sqlite.base import SQLiteBase, from_ms, now_ms, transaction

_file_of = partial(shared.file_from_row, to_datetime=from_ms)


def files_of_messages(
    conn: sqlite3.Connection, ids: Sequence[int]
) -> dict[int, tuple[FileRef, ...]]:
    """The files of the messages `ids` (one query), for the stores' message reads."""
    if not ids:
        return {}
    sql = shared.FILES_OF_MESSAGES_SQL.format(ids=",".join("?" * len(ids)))
    return shared.files_by_message(conn.execute(sql, tuple(ids)).fetchall())


def attach_files(
    conn: sqlite3.Connection, message_id: int, sender_id: int, files: Sequence[str]
) -> tuple[FileRef, ...]:
    """Attach `files` to a new message, in the inserting transaction. Raises
    `InvalidInput` (the caller's transaction rolls back) if one of them is not the
    sender's unattached file any more (collected, or taken by another message)."""
    now = now_ms()
    attach = shared.ATTACH_SQL.format(now="?", file="?", user="?")
    link = shared.INSERT_MESSAGE_FILE_SQL.format(message="?", position="?", file="?")
    refs = []
    for position, file_id in enumerate(files):
        row = conn.execute(attach, (now, file_id, sender_id)).fetchone()
        if row is None:
            raise shared.not_attachable(file_id)
        conn.execute(link, (message_id, position, file_id))
        refs.append(shared.file_ref(row))
    conn.execute(shared.COUNT_FILES_SQL.format(count="?", message="?"), (len(refs), message_id))
    return tuple(refs)


class SQLiteFiles(SQLiteBase):
    """`Files` on SQLite."""

    async def add_file(self, file: StoredFile) -> None:
        sql = shared.INSERT_FILE_SQL.format(values=",".join("?" * 10))
        values = shared.file_values(file, int(file.created_at.timestamp() * 1000))

        def insert(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                conn.execute(sql, values)

        await self._run(insert)

    async def readable_file(self, file_id: str, user_id: int, *, admin: bool) -> StoredFile | None:
        sql = shared.READABLE_FILE_SQL.format(file="?", user="?", admin="?")
        values = (file_id, user_id, int(admin), user_id)
        row = await self._run(lambda conn: conn.execute(sql, values).fetchone())
        return None if row is None else _file_of(row)

    async def used_bytes(self, user_id: int) -> int:
        sql = shared.USED_BYTES_SQL.format(user="?")
        return int(await self._run(lambda conn: conn.execute(sql, (user_id,)).fetchone()[0]))

    async def attachable_files(self, user_id: int, file_ids: Collection[str]) -> list[StoredFile]:
        if not file_ids:
            return []
        ids = tuple(file_ids)
        sql = shared.ATTACHABLE_SQL.format(ids=",".join("?" * len(ids)), user="?")
        rows = await self._run(lambda conn: conn.execute(sql, (*ids, user_id)).fetchall())
        return [_file_of(row) for row in rows]

    async def collectable_files(
        self, unattached_before: datetime, *, limit: int
    ) -> list[StoredFile]:
        sql = shared.COLLECTABLE_SQL.format(cutoff="?", limit="?")
        values = (int(unattached_before.timestamp() * 1000), limit)
        rows = await self._run(lambda conn: conn.execute(sql, values).fetchall())
        return [_file_of(row) for row in rows]

    async def delete_file_record(self, file_id: str) -> bool:
        sql = shared.DELETE_FILE_SQL.format(file="?")

        def delete(conn: sqlite3.Connection) -> bool:
            with transaction(conn):
                return conn.execute(sql, (file_id,)).rowcount == 1

        return await self._run(delete)

    async def known_files(self, file_ids: Collection[str]) -> set[str]:
        if not file_ids:
            return set()
        ids = tuple(file_ids)
        sql = shared.KNOWN_FILES_SQL.format(ids=",".join("?" * len(ids)))
        rows = await self._run(lambda conn: conn.execute(sql, ids).fetchall())
        return {row[0] for row in rows}
