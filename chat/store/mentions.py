"""Mentions (sql/*/*_mentions.sql): JSON in `messages.mentions`, and one
`message_mentions` row per user mentioned by name, kept in step with the text by the
transactions of `chat.store.message_batches` and `chat.store.changes`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from chat.core.records import EditedMentions, Message
from chat.store.base import StoreBase
from chat.store.database import Connection


def uids_to_json(uids: Sequence[int]) -> str | None:
    """`messages.mentions`: the UIDs as a JSON array (None: nobody)."""
    return json.dumps(list(uids), separators=(",", ":")) if uids else None


def uids_from_json(text: str | None) -> tuple[int, ...]:
    return () if text is None else tuple(json.loads(text))


def edit_mentions_to_json(uids: Sequence[int], room: bool, before: Message) -> str | None:
    """`message_changes.mentions` for an edit of `before` whose new text mentions `uids`
    (and @room if `room`), with who it newly mentions (what `edit_mentions_from_json`
    reads back as `EditedMentions`); None when it mentions nobody."""
    if not uids and not room:
        return None
    stored: dict[str, object] = {"UIDs": list(uids), "Room": room}
    newly_uids = [uid for uid in uids if not before.mentions_user(uid)]
    newly_room = room and not before.mentions_room
    if newly_uids or newly_room:
        stored["New"] = newly_uids
        stored["NewRoom"] = newly_room
        stored["Before"] = list(before.mentions)
        stored["Author"] = before.sender_id
    return json.dumps(stored, separators=(",", ":"))


def edit_mentions_from_json(
    text: str | None,
) -> tuple[tuple[int, ...], bool, EditedMentions | None]:
    """An edit's (mentions, mentions_room, newly mentioned) from `edit_mentions_to_json`."""
    if text is None:
        return (), False, None
    stored = json.loads(text)
    newly = None
    if "Author" in stored:
        newly = EditedMentions(
            stored["Author"], tuple(stored["New"]), stored["NewRoom"], tuple(stored["Before"])
        )
    return tuple(stored["UIDs"]), stored["Room"], newly


#: The users whose name key is one of list parameter $2, and whether each may read room
#: $1: a member, or an operator and the room a support thread (the lobby is the caller's
#: to know). One probe of the unique index on name_key per key, one of room_members'
#: primary key per user found.
_CANDIDATES = """
SELECT u.id AS user_id, u.name_key AS name_key,
       (EXISTS (SELECT 1 FROM room_members AS m WHERE m.room_id = $1 AND m.user_id = u.id)
        OR (u.is_admin AND EXISTS (
            SELECT 1 FROM rooms AS r WHERE r.id = $1 AND r.kind = 'support'))) AS may_read
FROM users AS u
WHERE {keys}
"""

#: Every user, for the lobby.
_MEMBER_COUNT = """
SELECT CASE WHEN r.kind = 'lobby' THEN (SELECT count(*) FROM users)
            ELSE (SELECT count(*) FROM room_members AS m WHERE m.room_id = r.id) END
FROM rooms AS r WHERE r.id = $1
"""

FORGET_MENTIONS = "DELETE FROM message_mentions WHERE message_id = $1"
SET_MENTIONS = "UPDATE messages SET mentions = $1, mentions_room = $2 WHERE id = $3"

#: WHERE true: SQLite's parser needs it before an upsert clause.
_REMEMBER_MENTIONS = """
INSERT INTO message_mentions (room_id, message_id, user_id)
SELECT $1, $2, j.* FROM ({uids}) AS j WHERE true
ON CONFLICT DO NOTHING
"""


async def remember_mentions(
    conn: Connection, room_id: int, message_id: int, uids: Sequence[int]
) -> None:
    sql = _REMEMBER_MENTIONS.format(uids=conn.dialect.values(3))
    await conn.execute(sql, room_id, message_id, conn.dialect.list_param(uids))


class StoredMentions(StoreBase):
    """`Rooms`' look-ups of mentions: who names are, and how many a room has."""

    async def mention_candidates(
        self, room_id: int, keys: list[str]
    ) -> list[tuple[str, int, bool]]:
        sql = _CANDIDATES.format(keys=self.dialect.is_among("u.name_key", 2, "text"))
        rows = await self.db.fetch(sql, room_id, self.dialect.list_param(keys))
        return [(row["name_key"], row["user_id"], bool(row["may_read"])) for row in rows]

    async def member_count(self, room_id: int) -> int:
        count = await self.db.fetchval(_MEMBER_COUNT, room_id)
        return 0 if count is None else int(count)
