"""Uploaded files' records (sql/*/00NN_files.sql): the `Files` role, who may read a file,
attaching files to a new message, and what the collector removes.

Who may read a file: its uploader while no message carries it; afterwards whoever may
read a (not deleted) message that carries it, which is whoever may read that message's
room: the lobby, a room they are a member of, or (operators) any support thread.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from chat.core.errors import InvalidInput
from chat.core.records import FileRef, Message, StoredFile
from chat.store.base import StoreBase
from chat.store.database import Connection, Row
from chat.store.dialect import Dialect
from chat.store.message_rows import message_from_select

FILE_COLUMNS = (
    "f.id, f.uploader_id, f.name, f.size, f.content_type, f.sha256, f.width, f.height,"
    " f.thumbnail_type, f.created_at, f.attached_at"
)

_INSERT = """
INSERT INTO files (id, uploader_id, name, size, content_type, sha256, width, height,
                   thumbnail_type, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
"""

#: A file the user may read ($1 the file, $2 the user, $3 whether they are an operator).
_READABLE = f"""
SELECT {FILE_COLUMNS} FROM files AS f
WHERE f.id = $1 AND (
    (f.uploader_id = $2 AND f.attached_at IS NULL)
    OR EXISTS (
        SELECT 1 FROM message_files AS mf
        JOIN messages AS m ON m.id = mf.message_id
        JOIN rooms AS r ON r.id = m.room_id
        WHERE mf.file_id = f.id AND m.deleted_at IS NULL AND (
            r.kind = 'lobby'
            OR ($3 AND r.kind = 'support')
            OR EXISTS (SELECT 1 FROM room_members AS rm
                       WHERE rm.room_id = r.id AND rm.user_id = $2)
        )
    )
)
"""

#: How many bytes of files a user keeps (their quota's use).
_USED_BYTES = "SELECT COALESCE(SUM(size), 0) FROM files WHERE uploader_id = $1"

#: The uploader's row, held until the writing transaction ends, so that one upload of
#: theirs at a time sums their files and adds to them. On PostgreSQL, FOR NO KEY UPDATE:
#: it waits for another holder, but not for the key-share locks that inserting their
#: messages takes; on SQLite the writing transaction holds the whole database.
_HOLD_UPLOADER = "SELECT id FROM users WHERE id = $1"

#: The files a message may carry: the sender's own, not carried by any message yet.
_ATTACHABLE = f"""
SELECT {FILE_COLUMNS} FROM files AS f
WHERE {{ids}} AND f.uploader_id = $1 AND f.attached_at IS NULL
"""

#: Attach one file to a message (in the inserting transaction): only the sender's own,
#: not yet attached file is marked, so a second message cannot take it.
_ATTACH = """
UPDATE files SET attached_at = $1
WHERE id = $2 AND uploader_id = $3 AND attached_at IS NULL
RETURNING id, name, size, content_type, width, height
"""


def not_attachable(file_id: str) -> InvalidInput:
    """The refusal of a file a message may not carry: unknown, someone else's, or
    attached to a message already (one answer, so nothing about others' files leaks)."""
    return InvalidInput(
        f"FileID {file_id} is not a file you uploaded that no message carries yet"
        " (upload it with POST /files; each file goes in one message)"
    )


def file_ref(row: Row) -> FileRef:
    return FileRef(
        row["id"], row["name"], row["size"], row["content_type"], row["width"], row["height"]
    )


#: A new message's count of files (`messages.file_count`), set as they are attached.
_COUNT_FILES = "UPDATE messages SET file_count = $1 WHERE id = $2"

_INSERT_MESSAGE_FILE = (
    "INSERT INTO message_files (message_id, position, file_id) VALUES ($1, $2, $3)"
)

#: The files of some messages, in each message's order.
_FILES_OF_MESSAGES = """
SELECT mf.message_id, f.id, f.name, f.size, f.content_type, f.width, f.height
FROM message_files AS mf JOIN files AS f ON f.id = mf.file_id
WHERE {ids}
ORDER BY mf.message_id, mf.position
"""

#: A deleted message carries no files any more (they are then collected).
DETACH_SQL = "DELETE FROM message_files WHERE message_id = $1"

#: Records the collector removes: never attached and older than $1, or attached once
#: and carried by no message now (their messages deleted). At most $2.
_COLLECTABLE = f"""
SELECT {FILE_COLUMNS} FROM files AS f
WHERE (f.attached_at IS NULL AND f.created_at < $1)
   OR (f.attached_at IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM message_files AS mf WHERE mf.file_id = f.id))
LIMIT $2
"""

_DELETE_FILE = "DELETE FROM files WHERE id = $1"

#: Which of some file ids have a record (the collector's sweep).
_KNOWN_FILES = "SELECT id FROM files WHERE {ids}"


def ids_with_files(rows: Iterable[Row]) -> list[int]:
    """The ids of the message rows (with `file_count`) that carry files."""
    return [row["id"] for row in rows if row["file_count"]]


def with_files(messages: list[Message], files: dict[int, tuple[FileRef, ...]]) -> list[Message]:
    if not files:
        return messages
    return [replace(m, files=files[m.id]) if m.id in files else m for m in messages]


def file_from_row(row: Row, dialect: Dialect) -> StoredFile:
    return StoredFile(
        id=row["id"],
        uploader_id=row["uploader_id"],
        name=row["name"],
        size=row["size"],
        content_type=row["content_type"],
        sha256=row["sha256"],
        created_at=dialect.moment(row["created_at"]),
        width=row["width"],
        height=row["height"],
        thumbnail_type=row["thumbnail_type"],
        attached=row["attached_at"] is not None,
    )


async def files_of_messages(conn: Connection, ids: Sequence[int]) -> dict[int, tuple[FileRef, ...]]:
    """The files of the messages `ids` (one query), each message's in order."""
    if not ids:
        return {}
    dialect = conn.dialect
    sql = _FILES_OF_MESSAGES.format(ids=dialect.is_among("mf.message_id", 1))
    found: dict[int, list[FileRef]] = {}
    for row in await conn.fetch(sql, dialect.list_param(ids)):
        found.setdefault(row["message_id"], []).append(file_ref(row))
    return {message_id: tuple(files) for message_id, files in found.items()}


async def messages_with_files(conn: Connection, rows: Sequence[Row]) -> list[Message]:
    """`rows` of `MESSAGE_SELECT` (with their threads' summaries), with the files of those
    that carry some: one more query, only when one does."""
    files = await files_of_messages(conn, ids_with_files(rows))
    return with_files([message_from_select(row, conn.dialect) for row in rows], files)


async def attach_files(
    conn: Connection, message_id: int, sender_id: int, files: Sequence[str]
) -> tuple[FileRef, ...]:
    """In the inserting transaction. Raises `InvalidInput` (the transaction rolls back)
    if one of `files` is not the sender's unattached file any more (collected, or taken
    by another message)."""
    now = conn.dialect.now()
    refs = []
    for position, file_id in enumerate(files):
        row = await conn.fetchrow(_ATTACH, now, file_id, sender_id)
        if row is None:
            raise not_attachable(file_id)
        await conn.execute(_INSERT_MESSAGE_FILE, message_id, position, file_id)
        refs.append(file_ref(row))
    await conn.execute(_COUNT_FILES, len(refs), message_id)
    return tuple(refs)


async def _add_file(conn: Connection, file: StoredFile, quota_bytes: int | None) -> bool:
    """In a writing transaction: the record, unless it takes its uploader past
    `quota_bytes`. The sum is read after the uploader's row is held, so on PostgreSQL
    (READ COMMITTED: each statement sees what committed before it began) it counts every
    file of an upload that held the row before; a concurrent one waits for our commit."""
    dialect = conn.dialect
    if quota_bytes is not None:
        hold = dialect.pick(sqlite=_HOLD_UPLOADER, postgres=_HOLD_UPLOADER + " FOR NO KEY UPDATE")
        await conn.fetchrow(hold, file.uploader_id)
        if int(await conn.fetchval(_USED_BYTES, file.uploader_id)) + file.size > quota_bytes:
            return False
    await conn.execute(
        _INSERT,
        file.id,
        file.uploader_id,
        file.name,
        file.size,
        file.content_type,
        file.sha256,
        file.width,
        file.height,
        file.thumbnail_type,
        dialect.timestamp(file.created_at),
    )
    return True


class StoredFiles(StoreBase):
    """`Files`."""

    async def add_file(self, file: StoredFile, *, quota_bytes: int | None = None) -> bool:
        return await self.db.transaction(_add_file, file, quota_bytes)

    async def readable_file(self, file_id: str, user_id: int, *, admin: bool) -> StoredFile | None:
        row = await self.db.fetchrow(_READABLE, file_id, user_id, admin)
        return None if row is None else file_from_row(row, self.dialect)

    async def used_bytes(self, user_id: int) -> int:
        return int(await self.db.fetchval(_USED_BYTES, user_id))

    async def attachable_files(self, user_id: int, file_ids: Collection[str]) -> list[StoredFile]:
        if not file_ids:
            return []
        sql = _ATTACHABLE.format(ids=self.dialect.is_among("f.id", 2, "text"))
        rows = await self.db.fetch(sql, user_id, self.dialect.list_param(list(file_ids)))
        return [file_from_row(row, self.dialect) for row in rows]

    async def collectable_files(
        self, unattached_before: datetime, *, limit: int
    ) -> list[StoredFile]:
        rows = await self.db.fetch(_COLLECTABLE, self.dialect.timestamp(unattached_before), limit)
        return [file_from_row(row, self.dialect) for row in rows]

    async def delete_file_record(self, file_id: str) -> bool:
        return await self.db.execute(_DELETE_FILE, file_id) == 1

    async def known_files(self, file_ids: Collection[str]) -> set[str]:
        if not file_ids:
            return set()
        sql = _KNOWN_FILES.format(ids=self.dialect.is_among("id", 1, "text"))
        rows = await self.db.fetch(sql, self.dialect.list_param(list(file_ids)))
        return {row["id"] for row in rows}
