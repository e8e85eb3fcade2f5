"""Mentions (sql/*/*_mentions.sql): the SQL both stores run to keep `message_mentions`
in step with a message's text, and how mentions are stored (JSON) and read back. (Who
a message's names are: `chat.store.rooms`, `Rooms.mention_candidates`.)"""

from __future__ import annotations

import json
from collections.abc import Sequence

from chat.core.records import EditedMentions, Message


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


#: Forget who message {message} mentions by name (an edit rewrites them, a deletion
#: erases them).
FORGET_MENTIONS_SQL = "DELETE FROM message_mentions WHERE message_id = {message}"

#: A message row's mentions brought up to date ({uids} the JSON, {room} the flag).
SET_MENTIONS_SQL = (
    "UPDATE messages SET mentions = {uids}, mentions_room = {room} WHERE id = {message}"
)
