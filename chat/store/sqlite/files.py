"""The SQLite store's `Files`: uploaded files' records, who may read them, and what the
collector removes."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import partial

from chat.core.records import FileRef
from chat.store.shared import files as shared
from chat.store.sqlite.base import from_ms, now_ms

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
