"""Link previews: the `LinkPreviews` role (sql/*/NNNN_link_previews.sql).

A message's previews are kept on its row (``messages.previews``: NULL, none asked for
yet; ``'[]'``, removed) and every change of them is a `PREVIEWS` change at a position of
the one stream (``preview_changes``), so they reach every instance and every resume as
any change does (`Messages.committed_after` and `Changes.room_changes` read them). One
transaction takes the positions lock, reads the message and its room's setting, writes
the previews and the change row: attaching happens once (a message whose previews were
attached or removed is left alone), so two instances attaching at once make one change.
"""

from __future__ import annotations

from chat.core.errors import NotFound
from chat.core.link_previews import LinkPreview, previews_from_json, previews_to_json
from chat.core.records import Change, Message
from chat.store.base import StoreBase
from chat.store.changes import (
    PREVIEW_CHANGE_COLUMNS,
    Check,
    checked_message,
    insert_at_next_position,
    preview_change_from_row,
)
from chat.store.database import Connection

_STATE = (
    "SELECT m.previews, r.link_previews FROM messages AS m JOIN rooms AS r ON r.id = m.room_id"
    " WHERE m.id = $1"
)
_SET = "UPDATE messages SET previews = $2 WHERE id = $1"

#: The change row (`insert_at_next_position`).
_INSERT_CHANGE_POSTGRES = (
    "INSERT INTO preview_changes (room_id, message_id, previews) VALUES ($1, $2, $3)"
    f" RETURNING {PREVIEW_CHANGE_COLUMNS.replace('v.', '')}"
)
_INSERT_CHANGE_SQLITE = (
    "INSERT INTO preview_changes (room_id, message_id, previews, seq, created_at)"
    f" VALUES ($1, $2, $3, $4, $5) RETURNING {PREVIEW_CHANGE_COLUMNS.replace('v.', '')}"
)


def _present(message: Message | None) -> None:
    if message is None or message.deleted:
        raise NotFound("no such message in this room (or it was deleted)")


async def _record(conn: Connection, room_id: int, message_id: int, stored: str) -> Change:
    """Write `stored` as the message's previews, and the change row at the next position
    (under the positions lock)."""
    await conn.execute(_SET, message_id, stored)
    row = await insert_at_next_position(
        conn, _INSERT_CHANGE_POSTGRES, _INSERT_CHANGE_SQLITE, room_id, message_id, stored
    )
    return preview_change_from_row(row, conn.dialect)


async def _attach(
    conn: Connection, room_id: int, message_id: int, previews: tuple[LinkPreview, ...]
) -> Change | None:
    await checked_message(conn, room_id, message_id, _present)
    state = await conn.fetchrow(_STATE, message_id)
    assert state is not None  # the message was just read, under the lock
    if state["previews"] is not None or not state["link_previews"] or not previews:
        return None  # attached or removed already, or the room turned previews off
    return await _record(conn, room_id, message_id, previews_to_json(previews))


async def _remove(conn: Connection, room_id: int, message_id: int, check: Check) -> Change | None:
    await checked_message(conn, room_id, message_id, check)
    state = await conn.fetchrow(_STATE, message_id)
    assert state is not None
    if not previews_from_json(state["previews"]):
        return None  # none to remove
    return await _record(conn, room_id, message_id, "[]")


class StoredLinkPreviews(StoreBase):
    """`LinkPreviews`: attaching a message's previews once, and removing them."""

    async def attach_previews(
        self, room_id: int, message_id: int, previews: tuple[LinkPreview, ...]
    ) -> Change | None:
        """Attach `previews` to the message, unless it has had some (or had them
        removed) or its room turned previews off: the change made (None: none).
        `NotFound` if the message is gone."""
        return await self.db.transaction(_attach, room_id, message_id, previews)

    async def remove_previews(self, room_id: int, message_id: int, check: Check) -> Change | None:
        """Remove the message's previews for good, if `check` lets it: the change made
        (None: it had none)."""
        return await self.db.transaction(_remove, room_id, message_id, check)
