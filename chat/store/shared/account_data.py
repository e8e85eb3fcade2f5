"""A user's data (sql/*/0019, 0021 erasure): the SQL that reads it a page at a time for an
export, and the SQL that erases an account, with {placeholders} each store fills in its
own style.

Erasing keeps the user's row as a shell (`ERASED_NAME`, no e-mail, no name keys, a
password nobody knows): their messages' tombstones still name a sender, direct
conversations and support threads still have two sides. Their messages are tombstoned
beforehand through the ordinary deletions (`Changes.delete_message`), one change each,
so that clients see them deleted; `ERASE_ACCOUNT_SQL` then removes the rest.
"""

from __future__ import annotations

from typing import Any

from chat.store.shared.files import FILE_COLUMNS
from chat.store.shared.rows import Row, ToDatetime

#: The name an erased account's row is given: never a name anyone can register (a
#: middle dot is not allowed in user names: `chat.core.names`), and unique by its id.
ERASED_NAME = "deleted user · {id}"

#: How long an erased account's name stays held (docs/SECURITY.md, "Your data").
NAME_HOLD_DAYS = 30

#: Whether a name is held: the latest hold of a name sharing either key ({name_key},
#: {look_key}), if it still holds at {now}.
NAME_HELD_SQL = """
SELECT max(held_until) AS held_until FROM name_holds
WHERE (name_key = {name_key} OR look_key = {look_key}) AND held_until > {now}
"""

#: One page of the messages a user sent, with their rooms (ids above {after}).
EXPORT_MESSAGES_SQL = """
SELECT m.id, m.room_id, r.name AS room_name, r.kind AS room_kind, m.body,
       m.original_body, m.reply_to, m.created_at, m.edited_at, m.deleted_at
FROM messages AS m JOIN rooms AS r ON r.id = m.room_id
WHERE m.sender_id = {user} AND m.id > {after}
ORDER BY m.id
LIMIT {limit}
"""

#: The edits (message_changes) and files of a page's messages: those of the user's
#: messages with ids in ({after}, {last}].
EXPORT_EDITS_SQL = """
SELECT c.message_id, c.body, c.created_at FROM message_changes AS c
JOIN messages AS m ON m.id = c.message_id
WHERE m.sender_id = {user} AND m.id > {after} AND m.id <= {last} AND c.kind = 'edited'
ORDER BY c.seq
"""
EXPORT_MESSAGE_FILES_SQL = """
SELECT mf.message_id, mf.file_id FROM message_files AS mf
JOIN messages AS m ON m.id = mf.message_id
WHERE m.sender_id = {user} AND m.id > {after} AND m.id <= {last}
ORDER BY mf.message_id, mf.position
"""

#: One page of a user's reactions, after ({message}, {emoji}).
EXPORT_REACTIONS_SQL = """
SELECT r.message_id, m.room_id, r.emoji, r.created_at
FROM message_reactions AS r JOIN messages AS m ON m.id = r.message_id
WHERE r.user_id = {user} AND (r.message_id > {message}
                              OR (r.message_id = {message} AND r.emoji > {emoji}))
ORDER BY r.message_id, r.emoji
LIMIT {limit}
"""

#: One page of a user's read markers, rooms above {after}.
EXPORT_READ_MARKERS_SQL = """
SELECT k.room_id, r.name AS room_name, k.message_id
FROM read_markers AS k JOIN rooms AS r ON r.id = k.room_id
WHERE k.user_id = {user} AND k.room_id > {after}
ORDER BY k.room_id
LIMIT {limit}
"""

#: One page of a user's files' records, FileIDs above {after}.
EXPORT_FILES_SQL = f"""
SELECT {FILE_COLUMNS} FROM files AS f
WHERE f.uploader_id = {{user}} AND f.id > {{after}}
ORDER BY f.id
LIMIT {{limit}}
"""

#: The user's messages that are not tombstones yet, ids above {after} (the erasure's
#: work list: each is deleted through `Changes.delete_message`).
UNERASED_MESSAGES_SQL = """
SELECT id, room_id FROM messages
WHERE sender_id = {user} AND deleted_at IS NULL AND id > {after}
ORDER BY id
LIMIT {limit}
"""

#: The user's reactions, after ({message}, {emoji}) (each taken back through
#: `Changes.react`, so the message's reaction state changes for everyone).
UNERASED_REACTIONS_SQL = """
SELECT r.message_id, m.room_id, r.emoji
FROM message_reactions AS r JOIN messages AS m ON m.id = r.message_id
WHERE r.user_id = {user} AND (r.message_id > {message}
                              OR (r.message_id = {message} AND r.emoji > {emoji}))
ORDER BY r.message_id, r.emoji
LIMIT {limit}
"""

#: The user's files, which the erasure removes (records here, bytes by the caller).
ERASED_FILES_SQL = f"SELECT {FILE_COLUMNS} FROM files AS f WHERE f.uploader_id = {{user}}"

#: The rest of an erasure, in one transaction, in this order, after the messages were
#: tombstoned. {user}; {now}; {until}, when the name hold ends; {name_key}, {look_key},
#: the name's keys; {name}, the shell's name (`ERASED_NAME`); {password_hash}, a hash of
#: a password nobody knows.
ERASE_ACCOUNT_SQL = (
    "INSERT INTO name_holds (name_key, look_key, held_until)"
    " VALUES ({name_key}, {look_key}, {until})",
    "DELETE FROM files WHERE uploader_id = {user}",
    "DELETE FROM sessions WHERE user_id = {user}",
    "DELETE FROM push_subscriptions WHERE user_id = {user}",
    "DELETE FROM read_markers WHERE user_id = {user}",
    "DELETE FROM login_addresses WHERE user_id = {user}",
    "DELETE FROM notification_levels WHERE user_id = {user}",
    "DELETE FROM message_mentions WHERE user_id = {user}",
    "DELETE FROM message_reactions WHERE user_id = {user}",
    "DELETE FROM room_sends WHERE user_id = {user}",
    "DELETE FROM room_mutes WHERE user_id = {user}",
    "DELETE FROM room_bans WHERE user_id = {user}",
    "DELETE FROM reports WHERE reporter_id = {user}",
    # A group room they were the last owner of gets one: its longest-standing moderator,
    # else its longest-standing member. A room left with no member has no owner
    # (operators still manage it).
    """
    UPDATE room_members SET role = 'owner'
    WHERE user_id <> {user}
      AND room_id IN (SELECT room_id FROM room_members WHERE user_id = {user} AND role = 'owner')
      AND NOT EXISTS (SELECT 1 FROM room_members AS o
                      WHERE o.room_id = room_members.room_id AND o.role = 'owner'
                        AND o.user_id <> {user})
      AND user_id = (SELECT s.user_id FROM room_members AS s
                     WHERE s.room_id = room_members.room_id AND s.user_id <> {user}
                     ORDER BY CASE s.role WHEN 'moderator' THEN 0 ELSE 1 END,
                              s.joined_at, s.user_id
                     LIMIT 1)
    """,
    # They leave every group room; direct conversations and their support thread keep
    # both sides (the other side's messages stay where they were written).
    """
    DELETE FROM room_members WHERE user_id = {user}
        AND room_id IN (SELECT id FROM rooms WHERE kind IN ('group', 'lobby'))
    """,
    "UPDATE rooms SET creator_id = NULL WHERE creator_id = {user} AND kind = 'group'",
    """
    UPDATE users SET name = {name}, name_key = NULL, look_key = NULL, email = NULL,
        password_hash = {password_hash}, is_admin = false,
        token_version = token_version + 1, erased_at = {now}
    WHERE id = {user}
    """,
)


def export_message(
    row: Row, edits: list[dict[str, Any]], files: list[str], to_datetime: ToDatetime
) -> dict[str, Any]:
    """A message as the export writes it (one line of messages.jsonl)."""
    return {
        "MessageID": row["id"],
        "Room": {"RoomID": row["room_id"], "Name": row["room_name"], "Kind": row["room_kind"]},
        "Text": row["body"],
        "OriginalText": row["original_body"],
        "ReplyTo": row["reply_to"],
        "SentAt": _iso(row["created_at"], to_datetime),
        "EditedAt": _iso(row["edited_at"], to_datetime),
        "Deleted": row["deleted_at"] is not None,
        "Edits": edits,
        "Files": files,
    }


def export_edit(row: Row, to_datetime: ToDatetime) -> dict[str, Any]:
    return {"Text": row["body"], "At": _iso(row["created_at"], to_datetime)}


def export_reaction(row: Row, to_datetime: ToDatetime) -> dict[str, Any]:
    return {
        "MessageID": row["message_id"],
        "RoomID": row["room_id"],
        "Emoji": row["emoji"],
        "At": _iso(row["created_at"], to_datetime),
    }


def export_read_marker(row: Row) -> dict[str, Any]:
    return {"RoomID": row["room_id"], "RoomName": row["room_name"], "MessageID": row["message_id"]}


def export_messages(
    rows: list[Row], edit_rows: list[Row], file_rows: list[Row], to_datetime: ToDatetime
) -> list[dict[str, Any]]:
    """A page of `EXPORT_MESSAGES_SQL`'s rows, with their edits and files."""
    edits: dict[int, list[dict[str, Any]]] = {}
    for edit in edit_rows:
        edits.setdefault(edit["message_id"], []).append(export_edit(edit, to_datetime))
    files: dict[int, list[str]] = {}
    for file in file_rows:
        files.setdefault(file["message_id"], []).append(file["file_id"])
    return [
        export_message(row, edits.get(row["id"], []), files.get(row["id"], []), to_datetime)
        for row in rows
    ]


def _iso(value: Any, to_datetime: ToDatetime) -> str | None:
    return None if value is None else to_datetime(value).isoformat()
