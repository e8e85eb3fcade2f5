"""Accounts: user rows, the name keys a user is stored with, deleting a user, finding
people by name."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from chat.core import names
from chat.core.records import User
from chat.store.shared.rows import Row, ToDatetime

log = logging.getLogger(__name__)


def user_from_row(row: Row | None, to_datetime: ToDatetime) -> User | None:
    if row is None:
        return None
    return User(
        id=row["id"],
        name=row["name"],
        email=row["email"],
        password_hash=row["password_hash"],
        is_admin=bool(row["is_admin"]),
        created_at=to_datetime(row["created_at"]),
        token_version=row["token_version"],
    )


#: Deleting a user (`Accounts.delete_user`): their messages everywhere; the rooms that were
#: theirs alone, their support thread and their direct conversations, with every message
#: in them; their memberships (ON DELETE CASCADE). Group rooms they created stay, with
#: no creator. Both stores run these statements in order in one transaction; {user} is
#: their placeholder for the user's id. No command deletes this way any more: `chat user
#: delete` erases (`chat.app.accounts.data`), keeping what others wrote.
DELETE_USER_SQL = (
    """
    DELETE FROM messages WHERE sender_id = {user}
        OR room_id IN (SELECT id FROM rooms WHERE kind = 'support' AND creator_id = {user})
        OR room_id IN (SELECT room_id FROM direct_rooms
                       WHERE low_user_id = {user} OR high_user_id = {user})
    """,
    """
    DELETE FROM rooms WHERE (kind = 'support' AND creator_id = {user})
        OR id IN (SELECT room_id FROM direct_rooms
                  WHERE low_user_id = {user} OR high_user_id = {user})
    """,
    "UPDATE rooms SET creator_id = NULL WHERE creator_id = {user}",
    "DELETE FROM users WHERE id = {user}",
)


#: Users whose name key starts with a prefix (a LIKE pattern, its wildcards escaped with
#: a backslash), the caller left out, by name (case aside). {pattern}, {caller} and {limit} are the
#: stores' placeholders.
USERS_BY_PREFIX_SQL = """
SELECT id, name FROM users
WHERE name_key LIKE {pattern} ESCAPE '\\' AND id <> {caller}
ORDER BY lower(name), id
LIMIT {limit}
"""


def like_prefix(prefix: str) -> str:
    """A LIKE pattern matching strings that start with `prefix` literally (escaped with
    a backslash: `%` and `_` are not wildcards here)."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


#: A user's name keys (sql/*/0005_name_keys.sql), by column, and how each is computed.
NAME_KEYS: dict[str, Callable[[str], str]] = {
    "name_key": names.name_key,
    "look_key": names.look_key,
}


def name_keys(name: str) -> dict[str, str]:
    """`name`'s keys, by column."""
    return {column: key_of(name) for column, key_of in NAME_KEYS.items()}


def assign_name_keys(
    column: str, unkeyed: Sequence[tuple[int, str, str]], holders: Mapping[str, str]
) -> list[tuple[int, str]]:
    """Which users without a key in `column` get one when the store opens.

    `unkeyed` holds (id, name, key) for each user without one, oldest first; `holders`
    maps each of those keys that a user already holds to that user's name. Returns (id,
    key) for the users to update. A key goes to whoever already holds it, else to the
    oldest user whose name has it; the others keep none, with a warning: their names
    pass for another user's. They still log in by their exact name; the warning comes
    back at every start until one of the two is renamed.
    """
    taken = dict(holders)
    assigned = []
    for user_id, name, key in unkeyed:
        holder = taken.get(key)
        if holder is not None:
            log.warning(
                "user %d's name %r passes for %r, which was registered first: it keeps no"
                " %s (so it blocks no look-alike) until one of them is renamed",
                user_id,
                name,
                holder,
                column,
            )
            continue
        taken[key] = name
        assigned.append((user_id, key))
    return assigned


#: How many accounts have been erased (an erased account keeps no name key,
#: chat/store/shared/account_data.py): the unique index on name_key answers it.
ERASED_ACCOUNTS_SQL = "SELECT count(*) FROM users WHERE name_key IS NULL"
