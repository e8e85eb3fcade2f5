"""The PostgreSQL store's `Files`: uploaded files' records, who may read them, and what
the collector removes."""

from __future__ import annotations

from collections.abc import Sequence
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
