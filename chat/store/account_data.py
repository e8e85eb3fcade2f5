"""A user's data (`AccountData`), exported and erased, on both engines.

Erasing keeps the user's row as a shell (`ERASED_NAME`): their tombstones still name a
sender, direct conversations and support threads still have two sides. Their messages are
tombstoned beforehand through `Changes.delete_message`, so that clients see them deleted;
`erase_account` then removes the rest, the user's row locked first (`lock_user`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chat.core.moderation_records import AuditEntry
from chat.core.records import StoredFile
from chat.store.accounts import lock_user
from chat.store.base import StoreBase
from chat.store.database import Connection
from chat.store.dialect import Dialect
from chat.store.files import FILE_COLUMNS, file_from_row
from chat.store.moderation import insert_audit

#: The name an erased account's row is given: never a name anyone can register (a
#: middle dot is not allowed in user names: `chat.core.names`), and unique by its id.
ERASED_NAME = "deleted user · {id}"

#: How long an erased account's name stays held (docs/SECURITY.md, "Your data").
NAME_HOLD_DAYS = 30

#: Until when a name is held: the latest hold of a name sharing either key ($1 its
#: name_key, $2 its look_key), if it still holds at $3.
_NAME_HELD = """
SELECT max(held_until) AS held_until FROM name_holds
WHERE (name_key = $1 OR look_key = $2) AND held_until > $3
"""

_EXPORT_MESSAGES = """
SELECT m.id, m.room_id, r.name AS room_name, r.kind AS room_kind, m.body,
       m.original_body, m.reply_to, m.thread_id, m.also_to_room, m.created_at,
       m.edited_at, m.deleted_at
FROM messages AS m JOIN rooms AS r ON r.id = m.room_id
WHERE m.sender_id = $1 AND m.id > $2
ORDER BY m.id LIMIT $3
"""

#: The edits and files of user $1's messages with ids in ($2, $3].
_EXPORT_EDITS = """
SELECT c.message_id, c.body, c.created_at FROM message_changes AS c
JOIN messages AS m ON m.id = c.message_id
WHERE m.sender_id = $1 AND m.id > $2 AND m.id <= $3 AND c.kind = 'edited'
ORDER BY c.seq
"""
_EXPORT_MESSAGE_FILES = """
SELECT mf.message_id, mf.file_id FROM message_files AS mf
JOIN messages AS m ON m.id = mf.message_id
WHERE m.sender_id = $1 AND m.id > $2 AND m.id <= $3
ORDER BY mf.message_id, mf.position
"""

#: A page of user $1's reactions after (message $2, emoji $3), at most $4: exported, or
#: taken back by an erasure (through `Changes.react`, so that everyone sees it).
_REACTIONS = """
SELECT r.message_id, m.room_id, r.emoji, r.created_at
FROM message_reactions AS r JOIN messages AS m ON m.id = r.message_id
WHERE r.user_id = $1 AND (r.message_id > $2 OR (r.message_id = $2 AND r.emoji > $3))
ORDER BY r.message_id, r.emoji LIMIT $4
"""

_EXPORT_READ_MARKERS = """
SELECT k.room_id, r.name AS room_name, k.message_id
FROM read_markers AS k JOIN rooms AS r ON r.id = k.room_id
WHERE k.user_id = $1 AND k.room_id > $2
ORDER BY k.room_id LIMIT $3
"""

_EXPORT_FILES = f"""
SELECT {FILE_COLUMNS} FROM files AS f WHERE f.uploader_id = $1 AND f.id > $2
ORDER BY f.id LIMIT $3
"""

_UNERASED_MESSAGES = """
SELECT id, room_id FROM messages WHERE sender_id = $1 AND deleted_at IS NULL AND id > $2
ORDER BY id LIMIT $3
"""

#: The user's files, which the erasure removes (records here, bytes by the caller).
_ERASED_FILES = f"SELECT {FILE_COLUMNS} FROM files AS f WHERE f.uploader_id = $1"

#: The rest of an erasure, in one transaction, in this order, after the messages were
#: tombstoned: the name held; what is user $1's removed; the row made a shell (its name
#: $2, a hash $3 of a password nobody knows, erased at $4).
_IS_ERASED = "SELECT 1 FROM users WHERE id = $1 AND erased_at IS NOT NULL"
_HOLD_NAME = "INSERT INTO name_holds (name_key, look_key, held_until) VALUES ($1, $2, $3)"
_ERASE_ROWS = (
    "DELETE FROM files WHERE uploader_id = $1",
    "DELETE FROM sessions WHERE user_id = $1",
    "DELETE FROM api_tokens WHERE user_id = $1",
    "DELETE FROM two_factor WHERE user_id = $1",
    "DELETE FROM two_factor_recovery_codes WHERE user_id = $1",
    "DELETE FROM invites WHERE created_by = $1",
    "DELETE FROM oidc_identities WHERE user_id = $1",
    "DELETE FROM push_subscriptions WHERE user_id = $1",
    "DELETE FROM user_statuses WHERE user_id = $1",
    "DELETE FROM read_markers WHERE user_id = $1",
    "DELETE FROM login_addresses WHERE user_id = $1",
    "DELETE FROM notification_levels WHERE user_id = $1",
    "DELETE FROM message_mentions WHERE user_id = $1",
    "DELETE FROM message_reactions WHERE user_id = $1",
    "DELETE FROM room_sends WHERE user_id = $1",
    "DELETE FROM room_mutes WHERE user_id = $1",
    "DELETE FROM room_bans WHERE user_id = $1",
    "DELETE FROM room_departures WHERE user_id = $1",
    "DELETE FROM reports WHERE reporter_id = $1",
    "DELETE FROM saved_messages WHERE user_id = $1",
    "DELETE FROM thread_follows WHERE user_id = $1",
    # A group room they were the last owner of gets one: its longest-standing moderator,
    # else its longest-standing member. A room left with no member has no owner
    # (operators still manage it).
    """
    UPDATE room_members SET role = 'owner'
    WHERE user_id <> $1
      AND room_id IN (SELECT room_id FROM room_members WHERE user_id = $1 AND role = 'owner')
      AND NOT EXISTS (SELECT 1 FROM room_members AS o
                      WHERE o.room_id = room_members.room_id AND o.role = 'owner'
                        AND o.user_id <> $1)
      AND user_id = (SELECT s.user_id FROM room_members AS s
                     WHERE s.room_id = room_members.room_id AND s.user_id <> $1
                     ORDER BY CASE s.role WHEN 'moderator' THEN 0 ELSE 1 END,
                              s.joined_at, s.user_id
                     LIMIT 1)
    """,
    # They leave every group room; direct conversations and their support thread keep
    # both sides (the other side's messages stay where they were written).
    """
    DELETE FROM room_members WHERE user_id = $1
        AND room_id IN (SELECT id FROM rooms WHERE kind IN ('group', 'lobby'))
    """,
    "UPDATE rooms SET creator_id = NULL WHERE creator_id = $1 AND kind = 'group'",
)
_MAKE_SHELL = """
UPDATE users SET name = $2, name_key = NULL, look_key = NULL, email = NULL,
    display_name = NULL, display_name_key = NULL, display_look_key = NULL,
    avatar_key = NULL, avatar_type = NULL, password_hash = $3, is_admin = false,
    token_version = token_version + 1, erased_at = $4
WHERE id = $1
"""


def _iso(value: Any, dialect: Dialect) -> str | None:
    return None if value is None else dialect.moment(value).isoformat()


async def _export_page(
    conn: Connection, user_id: int, after: int, limit: int
) -> list[dict[str, Any]]:
    # One snapshot: the messages, their edits and their files at one moment.
    async with conn.transaction(readonly=True):
        rows = await conn.fetch(_EXPORT_MESSAGES, user_id, after, limit)
        if not rows:
            return []
        last = rows[-1]["id"]
        edit_rows = await conn.fetch(_EXPORT_EDITS, user_id, after, last)
        file_rows = await conn.fetch(_EXPORT_MESSAGE_FILES, user_id, after, last)
    dialect = conn.dialect
    edits: dict[int, list[dict[str, Any]]] = {}
    for edit in edit_rows:
        at = _iso(edit["created_at"], dialect)
        edits.setdefault(edit["message_id"], []).append({"Text": edit["body"], "At": at})
    files: dict[int, list[str]] = {}
    for file in file_rows:
        files.setdefault(file["message_id"], []).append(file["file_id"])
    return [
        {
            "MessageID": row["id"],
            "Room": {"RoomID": row["room_id"], "Name": row["room_name"], "Kind": row["room_kind"]},
            "Text": row["body"],
            "OriginalText": row["original_body"],
            "ReplyTo": row["reply_to"],
            "ThreadID": row["thread_id"],
            "AlsoToRoom": bool(row["also_to_room"]),
            "SentAt": _iso(row["created_at"], dialect),
            "EditedAt": _iso(row["edited_at"], dialect),
            "Deleted": row["deleted_at"] is not None,
            "Edits": edits.get(row["id"], []),
            "Files": files.get(row["id"], []),
        }
        for row in rows
    ]


async def _erase(
    conn: Connection,
    user_id: int,
    name_key: str,
    look_key: str,
    held_until: datetime,
    pw_hash: str,
    audit: AuditEntry | None,
) -> list[StoredFile] | None:
    dialect = conn.dialect
    user = await lock_user(conn, user_id)
    if user is None or user["erased_at"] is not None:
        return None
    files = [file_from_row(row, dialect) for row in await conn.fetch(_ERASED_FILES, user_id)]
    await conn.execute(_HOLD_NAME, name_key, look_key, dialect.timestamp(held_until))
    for statement in _ERASE_ROWS:
        await conn.execute(statement, user_id)
    shell_name = ERASED_NAME.format(id=user_id)
    await conn.execute(_MAKE_SHELL, user_id, shell_name, pw_hash, dialect.now())
    if audit is not None:
        await insert_audit(conn, audit)
    return files


class StoredAccountData(StoreBase):
    """`AccountData`: a user's data, exported and erased."""

    async def name_held_until(self, name_key: str, look_key: str) -> datetime | None:
        held = await self.db.fetchval(_NAME_HELD, name_key, look_key, self.dialect.now())
        return None if held is None else self.dialect.moment(held)

    async def is_erased(self, user_id: int) -> bool:
        return await self.db.fetchval(_IS_ERASED, user_id) is not None

    async def export_messages(
        self, user_id: int, *, after: int, limit: int
    ) -> list[dict[str, Any]]:
        return await self.db.run(_export_page, user_id, after, limit)

    async def export_reactions(
        self, user_id: int, *, after: tuple[int, str], limit: int
    ) -> list[dict[str, Any]]:
        rows = await self.db.fetch(_REACTIONS, user_id, after[0], after[1], limit)
        return [
            {
                "MessageID": row["message_id"],
                "RoomID": row["room_id"],
                "Emoji": row["emoji"],
                "At": _iso(row["created_at"], self.dialect),
            }
            for row in rows
        ]

    async def export_read_markers(
        self, user_id: int, *, after: int, limit: int
    ) -> list[dict[str, Any]]:
        rows = await self.db.fetch(_EXPORT_READ_MARKERS, user_id, after, limit)
        return [
            {"RoomID": row["room_id"], "RoomName": row["room_name"], "MessageID": row["message_id"]}
            for row in rows
        ]

    async def export_files(self, user_id: int, *, after: str, limit: int) -> list[StoredFile]:
        rows = await self.db.fetch(_EXPORT_FILES, user_id, after, limit)
        return [file_from_row(row, self.dialect) for row in rows]

    async def unerased_messages(
        self, user_id: int, *, after: int, limit: int
    ) -> list[tuple[int, int]]:
        rows = await self.db.fetch(_UNERASED_MESSAGES, user_id, after, limit)
        return [(row["id"], row["room_id"]) for row in rows]

    async def unerased_reactions(
        self, user_id: int, *, after: tuple[int, str], limit: int
    ) -> list[tuple[int, int, str]]:
        rows = await self.db.fetch(_REACTIONS, user_id, after[0], after[1], limit)
        return [(row["message_id"], row["room_id"], row["emoji"]) for row in rows]

    async def erase_account(
        self,
        user_id: int,
        *,
        name_key: str,
        look_key: str,
        held_until: datetime,
        password_hash: str,
        audit: AuditEntry | None = None,
    ) -> list[StoredFile] | None:
        return await self.db.transaction(
            _erase, user_id, name_key, look_key, held_until, password_hash, audit
        )
