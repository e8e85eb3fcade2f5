"""Files' records (sql/*/0016_files.sql, 0017_files.sql): the SQL both stores run, with
{placeholders} each store fills in its own style.

Who may read a file: its uploader while no message carries it; afterwards whoever may
read a (not deleted) message that carries it, which is whoever may read that message's
room: the lobby, a room they are a member of, or (operators) any support thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from chat.core.errors import InvalidInput
from chat.core.records import Change, FileRef, Message, Room, StoredFile
from chat.store.shared.rows import Row, ToDatetime

FILE_COLUMNS = (
    "f.id, f.uploader_id, f.name, f.size, f.content_type, f.sha256, f.width, f.height,"
    " f.thumbnail_type, f.created_at, f.attached_at"
)

INSERT_FILE_SQL = """
INSERT INTO files (id, uploader_id, name, size, content_type, sha256, width, height,
                   thumbnail_type, created_at)
VALUES ({values})
"""

#: A file the user may read ({file}, {user}, {admin}: a boolean).
READABLE_FILE_SQL = f"""
SELECT {FILE_COLUMNS} FROM files AS f
WHERE f.id = {{file}} AND (
    (f.uploader_id = {{user}} AND f.attached_at IS NULL)
    OR EXISTS (
        SELECT 1 FROM message_files AS mf
        JOIN messages AS m ON m.id = mf.message_id
        JOIN rooms AS r ON r.id = m.room_id
        WHERE mf.file_id = f.id AND m.deleted_at IS NULL AND (
            r.kind = 'lobby'
            OR ({{admin}} AND r.kind = 'support')
            OR EXISTS (SELECT 1 FROM room_members AS rm
                       WHERE rm.room_id = r.id AND rm.user_id = {{user}})
        )
    )
)
"""

#: How many bytes of files a user keeps (their quota's use).
USED_BYTES_SQL = "SELECT COALESCE(SUM(size), 0) FROM files WHERE uploader_id = {user}"

#: The files a message may carry: the sender's own, not carried by any message yet.
ATTACHABLE_SQL = f"""
SELECT {FILE_COLUMNS} FROM files AS f
WHERE f.id IN ({{ids}}) AND f.uploader_id = {{user}} AND f.attached_at IS NULL
"""

#: Attach one file to a message (in the inserting transaction): only the sender's own,
#: not yet attached file is marked, so a second message cannot take it.
ATTACH_SQL = """
UPDATE files SET attached_at = {now}
WHERE id = {file} AND uploader_id = {user} AND attached_at IS NULL
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
COUNT_FILES_SQL = "UPDATE messages SET file_count = {count} WHERE id = {message}"

INSERT_MESSAGE_FILE_SQL = (
    "INSERT INTO message_files (message_id, position, file_id)"
    " VALUES ({message}, {position}, {file})"
)

#: The files of some messages, in each message's order.
FILES_OF_MESSAGES_SQL = """
SELECT mf.message_id, f.id, f.name, f.size, f.content_type, f.width, f.height
FROM message_files AS mf JOIN files AS f ON f.id = mf.file_id
WHERE mf.message_id IN ({ids})
ORDER BY mf.message_id, mf.position
"""

#: A deleted message carries no files any more (they are then collected).
DETACH_SQL = "DELETE FROM message_files WHERE message_id = {message}"

#: Records the collector removes: never attached and older than {cutoff}, or attached
#: once and carried by no message now (their messages deleted). At most {limit}.
COLLECTABLE_SQL = f"""
SELECT {FILE_COLUMNS} FROM files AS f
WHERE (f.attached_at IS NULL AND f.created_at < {{cutoff}})
   OR (f.attached_at IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM message_files AS mf WHERE mf.file_id = f.id))
LIMIT {{limit}}
"""

DELETE_FILE_SQL = "DELETE FROM files WHERE id = {file}"

#: Which of some file ids have a record (the collector's sweep of the storage).
KNOWN_FILES_SQL = "SELECT id FROM files WHERE id IN ({ids})"


def file_values(file: StoredFile, created_at: object) -> tuple[object, ...]:
    """INSERT_FILE_SQL's values for `file` (`created_at` as the store keeps times)."""
    return (
        file.id,
        file.uploader_id,
        file.name,
        file.size,
        file.content_type,
        file.sha256,
        file.width,
        file.height,
        file.thumbnail_type,
        created_at,
    )


def ids_with_files(rows: Iterable[Row]) -> list[int]:
    """The ids of the message rows (with `file_count`) that carry files."""
    return [row["id"] for row in rows if row["file_count"]]


def with_files(messages: list[Message], files: dict[int, tuple[FileRef, ...]]) -> list[Message]:
    """`messages` with their files filled in."""
    if not files:
        return messages
    return [replace(m, files=files[m.id]) if m.id in files else m for m in messages]


def with_files_committed(
    items: list[tuple[Message | Change, Room]], files: dict[int, tuple[FileRef, ...]]
) -> list[tuple[Message | Change, Room]]:
    """`committed_after`'s items with their messages' files filled in."""
    if not files:
        return items
    return [
        (replace(item, files=files[item.id]), room)
        if isinstance(item, Message) and item.id in files
        else (item, room)
        for item, room in items
    ]


def file_from_row(row: Row, to_datetime: ToDatetime) -> StoredFile:
    return StoredFile(
        id=row["id"],
        uploader_id=row["uploader_id"],
        name=row["name"],
        size=row["size"],
        content_type=row["content_type"],
        sha256=row["sha256"],
        created_at=to_datetime(row["created_at"]),
        width=row["width"],
        height=row["height"],
        thumbnail_type=row["thumbnail_type"],
        attached=row["attached_at"] is not None,
    )


def files_by_message(rows: Iterable[Row]) -> dict[int, tuple[FileRef, ...]]:
    """FILES_OF_MESSAGES_SQL's rows, as each message's files in order."""
    found: dict[int, list[FileRef]] = {}
    for row in rows:
        found.setdefault(row["message_id"], []).append(file_ref(row))
    return {message_id: tuple(files) for message_id, files in found.items()}
