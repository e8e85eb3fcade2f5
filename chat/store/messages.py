"""Messages: the `Messages` role (storing batches, reading every room's messages and
changes in position order) and the `History` role (a room's pages of messages).

The hot paths cross once each (one thread hop on SQLite, one trip through the bridge on
PostgreSQL): `add_messages` (a whole batch per transaction, chat.store.message_batches),
`messages_before` and `messages_after` (a page and its files), `committed_after`
(messages, changes and departures read in one snapshot: repeatable read on PostgreSQL,
one read transaction on SQLite).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from chat.core.records import Added, Message, NewMessage, Room, StreamItem
from chat.store.base import StoreBase
from chat.store.changes import (
    CHANGE_COLUMNS,
    PIN_CHANGE_COLUMNS,
    PREVIEW_CHANGE_COLUMNS,
    change_from_row,
    pin_change_from_row,
    preview_change_from_row,
)
from chat.store.database import NO_UPPER_BOUND, Connection, Row
from chat.store.departures import DEPARTURE_COLUMNS, DEPARTURES_SOURCE, departure_from_row
from chat.store.dialect import Dialect
from chat.store.files import files_of_messages, ids_with_files, messages_with_files
from chat.store.measuring import observed
from chat.store.message_batches import insert_arrays, insert_rows
from chat.store.message_rows import (
    MAIN_TIMELINE_SQL,
    MESSAGE_COLUMNS,
    MESSAGE_SELECT,
    message_from_row,
)
from chat.store.rooms import room_from_row
from chat.store.thread_summaries import THREAD_CHANGE_COLUMNS, thread_change_from_row

if TYPE_CHECKING:
    from chat.store.roles import Notifications

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Every room's rows of {source} with $1 < {t}.{position} < $2, at most $3, each with its
#: room (`room_from_row`'s "room_" columns).
_STREAM = """
SELECT {columns}, r.name AS room_name, r.kind AS room_kind,
       r.is_private AS room_is_private, r.creator_id AS room_creator_id,
       r.created_at AS room_created_at, d.low_user_id AS room_low_user_id,
       d.high_user_id AS room_high_user_id
FROM {source}
JOIN rooms AS r ON r.id = {t}.room_id
LEFT JOIN direct_rooms AS d ON d.room_id = {t}.room_id
WHERE {t}.{position} > $1 AND {t}.{position} < $2
ORDER BY {t}.{position}
LIMIT $3
"""
_COMMITTED_AFTER = _STREAM.format(
    columns=MESSAGE_COLUMNS,
    source="messages AS m\nJOIN users AS u ON u.id = m.sender_id",
    t="m",
    position="id",
)
_CHANGES_AFTER = _STREAM.format(
    columns=CHANGE_COLUMNS, source="message_changes AS c", t="c", position="seq"
)
_DEPARTURES_AFTER = _STREAM.format(
    columns=DEPARTURE_COLUMNS, source=DEPARTURES_SOURCE, t="x", position="seq"
)
_PIN_CHANGES_AFTER = _STREAM.format(
    columns=PIN_CHANGE_COLUMNS, source="pin_changes AS p", t="p", position="seq"
)
_THREAD_CHANGES_AFTER = _STREAM.format(
    columns=THREAD_CHANGE_COLUMNS, source="thread_summaries AS s", t="s", position="seq"
)
_PREVIEW_CHANGES_AFTER = _STREAM.format(
    columns=PREVIEW_CHANGE_COLUMNS, source="preview_changes AS v", t="v", position="seq"
)

#: The newest position: the greatest of the highest message id, change position,
#: departure position, pin change position, thread summary position and preview change
#: position.
_LAST_POSITION = (
    "SELECT coalesce((SELECT max(id) FROM messages), 0),"
    " coalesce((SELECT max(seq) FROM message_changes), 0),"
    " coalesce((SELECT max(seq) FROM room_departures), 0),"
    " coalesce((SELECT max(seq) FROM pin_changes), 0),"
    " coalesce((SELECT max(seq) FROM thread_summaries), 0),"
    " coalesce((SELECT max(seq) FROM preview_changes), 0)"
)

#: The root of the thread message $2 of room $1 would start or joins: its own id, or
#: the root of the thread it replies in; none if it is not a visible message of the room.
_THREAD_ROOT = (
    "SELECT coalesce(thread_id, id) FROM messages"
    " WHERE id = $2 AND room_id = $1 AND deleted_at IS NULL"
)

#: A page of room $1's main timeline with $3 < id < $2, newest first, at most $4
#: ({live}: tombstones left out, or not).
_MESSAGES_BEFORE = (
    f"{MESSAGE_SELECT} WHERE m.room_id = $1 AND m.id < $2 AND m.id > $3{{live}}"
    f" AND {MAIN_TIMELINE_SQL} ORDER BY m.id DESC LIMIT $4"
)
_PAGE = _MESSAGES_BEFORE.format(live="")
_LIVE_PAGE = _MESSAGES_BEFORE.format(live=" AND m.deleted_at IS NULL")

#: The oldest $3 of the messages of room $1's main timeline newer than message $2.
_MESSAGES_AFTER = (
    f"{MESSAGE_SELECT} WHERE m.room_id = $1 AND m.id > $2 AND {MAIN_TIMELINE_SQL}"
    " ORDER BY m.id LIMIT $3"
)


async def _add_messages(
    conn: Connection, rows: list[NewMessage], notify: Notifications | None
) -> list[Added]:
    if conn.dialect.inserts_from_arrays:
        added = await insert_arrays(conn, rows)
    else:
        async with conn.transaction():  # BEGIN IMMEDIATE: the write lock to the commit
            added = await insert_rows(conn, rows)
    if notify is not None and conn.dialect.notifies:
        # After the commit, on the same connection and in the same crossing (a second
        # crossing would cost as much as the table read it saves).
        try:
            notifications = notify(added)
        except Exception:
            log.exception("bus: committed messages not carried to other instances")
        else:
            await _notify(conn, notifications)
    return added


async def _notify(conn: Connection, notifications: list[tuple[str, str]]) -> None:
    """Best effort: the messages are committed whatever happens here, and the other
    instances read from the table what does not reach them."""
    for channel, payload in notifications:
        try:
            await conn.execute("SELECT pg_notify($1, $2)", channel, payload)
        except Exception as error:  # refused, or the connection lost: the commit stands
            log.warning("bus: committed messages not carried to other instances: %s", error)
            return


def _with_rooms(
    rows: Sequence[Row], dialect: Dialect, item_of: Callable[[Row, Dialect], T]
) -> list[tuple[T, Room]]:
    """`_STREAM` rows as (item, room) pairs; one `Room` per room."""
    rooms: dict[int, Room] = {}
    pairs = []
    for row in rows:
        room = rooms.get(row["room_id"])
        if room is None:
            room = room_from_row(row, dialect, "room_")
            assert room is not None  # from a row, never None
            rooms[row["room_id"]] = room
        pairs.append((item_of(row, dialect), room))
    return pairs


async def _committed_after(
    conn: Connection, after: int, before: int, limit: int
) -> list[tuple[StreamItem, Room]]:
    # One snapshot for the six tables: a message and a change (or a departure, a pin, a
    # thread's summary) committed between two separate reads could otherwise be seen one
    # without the other.
    async with conn.transaction(readonly=True):
        messages = await conn.fetch(_COMMITTED_AFTER, after, before, limit)
        changes = await conn.fetch(_CHANGES_AFTER, after, before, limit)
        departures = await conn.fetch(_DEPARTURES_AFTER, after, before, limit)
        pins = await conn.fetch(_PIN_CHANGES_AFTER, after, before, limit)
        threads = await conn.fetch(_THREAD_CHANGES_AFTER, after, before, limit)
        previews = await conn.fetch(_PREVIEW_CHANGES_AFTER, after, before, limit)
        files = await files_of_messages(conn, ids_with_files(messages))
    # The lists are read with the same bounds and limit, each in position order: what
    # comes after the merge's `limit`-th item is past the end of one list or another, so
    # nothing is skipped.
    merged: list[tuple[StreamItem, Room]] = [
        *_with_rooms(messages, conn.dialect, message_from_row),
        *_with_rooms(changes, conn.dialect, change_from_row),
        *_with_rooms(departures, conn.dialect, departure_from_row),
        *_with_rooms(pins, conn.dialect, pin_change_from_row),
        *_with_rooms(threads, conn.dialect, thread_change_from_row),
        *_with_rooms(previews, conn.dialect, preview_change_from_row),
    ]
    if changes or departures or pins or threads or previews:
        merged.sort(key=lambda pair: pair[0].position)
    if not files:
        return merged[:limit]
    return [
        (replace(item, files=files[item.id]), room)
        if isinstance(item, Message) and item.id in files
        else (item, room)
        for item, room in merged[:limit]
    ]


async def _page(conn: Connection, sql: str, *args: object) -> list[Message]:
    return await messages_with_files(conn, await conn.fetch(sql, *args))


async def _page_after(conn: Connection, room_id: int, after_id: int, limit: int) -> list[Message]:
    rows = await conn.fetch(_MESSAGES_AFTER, room_id, after_id, limit)
    return await messages_with_files(conn, rows[::-1])


class StoredMessages(StoreBase):
    """`Messages` and `History`."""

    async def add_messages(
        self, rows: list[NewMessage], *, notify: Notifications | None = None
    ) -> list[Added]:
        return await self.db.run(_add_messages, rows, notify)

    async def last_position(self) -> int:
        row = await self.db.fetchrow(_LAST_POSITION)
        assert row is not None  # six aggregates: always one row
        return int(max(row[i] for i in range(6)))

    async def committed_after(
        self, after: int, *, before: int | None = None, limit: int
    ) -> list[tuple[StreamItem, Room]]:
        below = NO_UPPER_BOUND if before is None else before
        return await self.db.run(_committed_after, after, below, limit)

    async def thread_root(self, room_id: int, message_id: int) -> int | None:
        root = await self.db.fetchval(_THREAD_ROOT, room_id, message_id)
        return None if root is None else int(root)

    async def latest_messages(
        self, room_id: int, limit: int, *, skip_deleted: bool = False
    ) -> list[Message]:
        page = await self.messages_before(room_id, None, limit, skip_deleted=skip_deleted)
        return list(reversed(page))

    async def messages_before(
        self,
        room_id: int,
        before_id: int | None,
        limit: int,
        *,
        after_id: int = 0,
        skip_deleted: bool = False,
    ) -> list[Message]:
        sql = _LIVE_PAGE if skip_deleted else _PAGE
        below = NO_UPPER_BOUND if before_id is None else before_id
        with observed(self.history_seconds):
            return await self.db.run(_page, sql, room_id, below, after_id, limit)

    async def messages_after(self, room_id: int, after_id: int, limit: int) -> list[Message]:
        with observed(self.history_seconds):
            return await self.db.run(_page_after, room_id, after_id, limit)
