"""Changes to messages (edits, deletions, reactions): the SQL both stores run, and how
rows become `Change`, `Reaction` and `Version` records.

A change is written in one transaction that first takes the positions lock (PostgreSQL:
``chat_lock_positions()``; SQLite: its single writer), then reads the message, lets the
caller's check refuse (`Check`), writes the change row with the next position, and
brings the message row up to date. So changes are serialised with each other and with
message inserts, and their positions commit in order (sql/postgres/0012_message_changes.sql).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from chat.core.errors import InvalidInput
from chat.core.records import Change, Message, Reaction, Version
from chat.store.shared.mentions import edit_mentions_from_json
from chat.store.shared.rows import Row, ToDatetime

#: Called with the message a change is about (None: no such message in the room), as it
#: is under the positions lock: raises a `ChatError` to refuse the change.
Check = Callable[[Message | None], None]

#: The most UIDs a reaction lists (the earliest to react); `Count` still counts them all.
MAX_REACTION_UIDS = 100

EDITED, DELETED, REACTIONS = "edited", "deleted", "reactions"


def reactions_to_json(reactions: Sequence[Reaction]) -> str | None:
    """The stored form of a reaction state: the protocol's own shape (None: none)."""
    if not reactions:
        return None
    return json.dumps(
        [{"Emoji": r.emoji, "Count": r.count, "UIDs": list(r.uids)} for r in reactions],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def reactions_from_json(text: str | None) -> tuple[Reaction, ...]:
    if text is None:
        return ()
    return tuple(
        Reaction(item["Emoji"], item["Count"], tuple(item["UIDs"])) for item in json.loads(text)
    )


def reactions_from_rows(rows: Sequence[Row]) -> tuple[Reaction, ...]:
    """`REACTION_STATE_SQL` rows (emoji, user_id, n; grouped by emoji, in order) as the
    reaction state."""
    state: list[Reaction] = []
    for row in rows:
        if state and state[-1].emoji == row["emoji"]:
            last = state[-1]
            state[-1] = Reaction(last.emoji, last.count, (*last.uids, row["user_id"]))
        else:
            state.append(Reaction(row["emoji"], row["n"], (row["user_id"],)))
    return tuple(state)


def change_from_row(row: Row, to_datetime: ToDatetime) -> Change:
    mentions, mentions_room, newly = edit_mentions_from_json(row["mentions"])
    return Change(
        seq=row["seq"],
        room_id=row["room_id"],
        message_id=row["message_id"],
        kind=row["kind"],
        at=to_datetime(row["created_at"]),
        text=row["body"],
        reactions=reactions_from_json(row["reactions"]),
        mentions=mentions,
        mentions_room=mentions_room,
        newly=newly,
    )


#: A message's reaction state: each emoji in the order it was first used, with its count
#: and its first `MAX_REACTION_UIDS` users in the order they reacted. {message} is the
#: stores' placeholder.
REACTION_STATE_SQL = f"""
SELECT emoji, user_id, n FROM (
    SELECT emoji, user_id, created_at,
           row_number() OVER (PARTITION BY emoji ORDER BY created_at, user_id) AS k,
           count(*) OVER (PARTITION BY emoji) AS n,
           min(created_at) OVER (PARTITION BY emoji) AS first_at
    FROM message_reactions WHERE message_id = {{message}}
) AS r
WHERE k <= {MAX_REACTION_UIDS}
ORDER BY first_at, emoji, k
"""

#: How many different emoji a message has, and whether one of them is {emoji}.
EMOJI_COUNT_SQL = """
SELECT count(DISTINCT emoji) AS distinct_emoji,
       count(*) FILTER (WHERE emoji = {emoji}) AS this_emoji
FROM message_reactions WHERE message_id = {message}
"""

#: Every room's changes after a position, with their rooms (`Messages.committed_after`
#: reads these beside the messages). {after}, {before} and {limit} are placeholders.
CHANGES_AFTER_SQL = """
SELECT c.seq, c.room_id, c.message_id, c.kind, c.body, c.reactions, c.created_at,
       c.mentions, r.name AS room_name, r.kind AS room_kind, r.is_private AS room_is_private,
       r.creator_id AS room_creator_id, r.created_at AS room_created_at,
       d.low_user_id AS room_low_user_id, d.high_user_id AS room_high_user_id
FROM message_changes AS c
JOIN rooms AS r ON r.id = c.room_id
LEFT JOIN direct_rooms AS d ON d.room_id = c.room_id
WHERE c.seq > {after} AND c.seq < {before}
ORDER BY c.seq
LIMIT {limit}
"""

#: One room's changes with ``after < seq < before``, newest first (what a resume sends).
ROOM_CHANGES_SQL = """
SELECT seq, room_id, message_id, kind, body, reactions, created_at, mentions
FROM message_changes
WHERE room_id = {room} AND seq > {after} AND seq < {before}
ORDER BY seq DESC
LIMIT {limit}
"""

#: A message's edits, oldest first: the versions after the original.
EDITS_SQL = """
SELECT body, created_at FROM message_changes
WHERE message_id = {message} AND kind = 'edited'
ORDER BY seq
"""

#: An edit: the message's new text, when it was edited, and its original text kept
#: (the first edit keeps it; {text}, {at}, {message} are the stores' placeholders).
EDIT_MESSAGE_SQL = (
    "UPDATE messages SET original_body = coalesce(original_body, body), body = {text},"
    " edited_at = {at} WHERE id = {message}"
)

#: A deletion: what stays of the message is its tombstone ({at}, {message}).
TOMBSTONE_SQL = (
    "UPDATE messages SET body = '', original_body = NULL, edited_at = NULL,"
    " reactions = NULL, mentions = NULL, mentions_room = false, file_count = 0,"
    " deleted_at = {at} WHERE id = {message}"
)

#: A reaction change: the message's reaction state as it now is ({state}, {message}).
SET_REACTIONS_SQL = "UPDATE messages SET reactions = {state} WHERE id = {message}"

#: A message's first version, and whether it is a tombstone ({message}, {room}).
ORIGINAL_VERSION_SQL = (
    "SELECT coalesce(original_body, body) AS body, created_at, deleted_at"
    " FROM messages WHERE id = {message} AND room_id = {room}"
)


def versions_from_rows(
    original: Row | None, edits: Sequence[Row], to_datetime: ToDatetime
) -> list[Version] | None:
    """`ORIGINAL_VERSION_SQL`'s row and `EDITS_SQL`'s rows as `Changes.message_versions`
    answers them: None for no such message, [] for a tombstone."""
    if original is None:
        return None
    if original["deleted_at"] is not None:
        return []
    return [
        Version(original["body"], to_datetime(original["created_at"])),
        *(Version(edit["body"], to_datetime(edit["created_at"])) for edit in edits),
    ]


def refuse_another_emoji(counts: Row, message_id: int, max_emoji: int) -> None:
    """Raise `InvalidInput` if `EMOJI_COUNT_SQL`'s row says the emoji would be one more
    than the `max_emoji` different ones the message may have."""
    if not counts["this_emoji"] and counts["distinct_emoji"] >= max_emoji:
        raise InvalidInput(
            f"message {message_id} already has {max_emoji} different reactions:"
            " react with one of them"
        )


#: Deleting a message erases its reactions, and its earlier changes (an edit row holds a
#: version of its text) but the deletion itself ({seq}).
ERASE_REACTIONS_SQL = "DELETE FROM message_reactions WHERE message_id = {message}"
ERASE_CHANGES_SQL = "DELETE FROM message_changes WHERE message_id = {message} AND seq <> {seq}"


def merge_by_position(
    first: Sequence[Message | Change], second: Sequence[Message | Change], *, newest_first: bool
) -> list[Message | Change]:
    """Two lists each ordered by position, as one list in that order."""
    merged = [*first, *second]
    merged.sort(key=lambda item: item.position, reverse=newest_first)
    return merged
