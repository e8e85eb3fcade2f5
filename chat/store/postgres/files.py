"""The PostgreSQL store's `Files`: uploaded files' records, who may read them, and what
the collector removes."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chat.core.records import FileRef, Message, StoredFile
from chat.store.postgres.base import PostgresBase, message_of
from chat.store.shared import files as shared

if TYPE_CHECKING:
    import asyncpg


def _same(moment: Any) -> Any:
    return moment


def _file_of(row: Any) -> StoredFile:
    return shared.file_from_row(row, _same)


_INSERT = shared.INSERT_FILE_SQL.format(values=",".join(f"${n}" for n in range(1, 11)))
_READABLE = shared.READABLE_FILE_SQL.format(file="$1", user="$2", admin="$3")
_USED = shared.USED_BYTES_SQL.format(user="$1")
_ATTACHABLE = shared.ATTACHABLE_SQL.format(ids="SELECT unnest($2::text[])", user="$1")
_FILES_OF_MESSAGES = shared.FILES_OF_MESSAGES_SQL.format(ids="SELECT unnest($1::bigint[])")
_ATTACH = shared.ATTACH_SQL.format(now="now()", file="$1", user="$2")
_COUNT = shared.COUNT_FILES_SQL.format(count="$1", message="$2")
_LINK = shared.INSERT_MESSAGE_FILE_SQL.format(message="$1", position="$2", file="$3")
_COLLECTABLE = shared.COLLECTABLE_SQL.format(cutoff="$1", limit="$2")
_DELETE = shared.DELETE_FILE_SQL.format(file="$1")
_KNOWN = shared.KNOWN_FILES_SQL.format(ids="SELECT unnest($1::text[])")


async def aio_files_of_messages(
    conn: asyncpg.Connection | asyncpg.Pool, ids: Sequence[int]
) -> dict[int, tuple[FileRef, ...]]:
    """The files of the messages `ids` (one query), for the stores' message reads."""
    if not ids:
        return {}
    return shared.files_by_message(await conn.fetch(_FILES_OF_MESSAGES, list(ids)))


async def messages_with_files(store: PostgresBase, rows: Sequence[Any]) -> list[Message]:
    """Message rows (`MESSAGE_COLUMNS`) as messages, with the files of those that carry
    some: one more query, and only when one does."""
    carrying = shared.ids_with_files(rows)
    files = await store._call(aio_files_of_messages, store._pool, carrying) if carrying else {}
    return shared.with_files([message_of(row) for row in rows], files)


async def aio_attach_files(
    conn: asyncpg.Connection, message_id: int, sender_id: int, files: Sequence[str]
) -> tuple[FileRef, ...]:
    """Attach `files` to a new message, in the inserting transaction. Raises
    `InvalidInput` (the caller's transaction rolls back) if one of them is not the
    sender's unattached file any more (collected, or taken by another message)."""
    refs = []
    for position, file_id in enumerate(files):
        row = await conn.fetchrow(_ATTACH, file_id, sender_id)
        if row is None:
            raise shared.not_attachable(file_id)
        await conn.execute(_LINK, message_id, position, file_id)
        refs.append(shared.file_ref(row))
    await conn.execute(_COUNT, len(refs), message_id)
    return tuple(refs)


async def _aio_add(pool: asyncpg.Pool, values: tuple[Any, ...]) -> None:
    await pool.execute(_INSERT, *values)


class PostgresFiles(PostgresBase):
    """`Files` on PostgreSQL."""

    async def add_file(self, file: StoredFile) -> None:
        values = shared.file_values(file, file.created_at)
        await self._call(_aio_add, self._pool, values)

    async def readable_file(self, file_id: str, user_id: int, *, admin: bool) -> StoredFile | None:
        row = await self._call(self._pool.fetchrow, _READABLE, file_id, user_id, admin)
        return None if row is None else _file_of(row)

    async def used_bytes(self, user_id: int) -> int:
        return int(await self._call(self._pool.fetchval, _USED, user_id))

    async def attachable_files(self, user_id: int, file_ids: Collection[str]) -> list[StoredFile]:
        if not file_ids:
            return []
        rows = await self._call(self._pool.fetch, _ATTACHABLE, user_id, list(file_ids))
        return [_file_of(row) for row in rows]

    async def collectable_files(
        self, unattached_before: datetime, *, limit: int
    ) -> list[StoredFile]:
        rows = await self._call(self._pool.fetch, _COLLECTABLE, unattached_before, limit)
        return [_file_of(row) for row in rows]

    async def delete_file_record(self, file_id: str) -> bool:
        status: str = await self._call(self._pool.execute, _DELETE, file_id)
        return status == "DELETE 1"

    async def known_files(self, file_ids: Collection[str]) -> set[str]:
        if not file_ids:
            return set()
        rows = await self._call(self._pool.fetch, _KNOWN, list(file_ids))
        return {row["id"] for row in rows}
