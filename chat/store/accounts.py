"""Users (`Accounts`): registration, names and their keys, passwords, operators, token
versions, deleting a user, finding people by name; on both engines.

A user is stored with their name's keys (`NAME_KEYS`, sql/*/0005_name_keys.sql): unique
indexes keep two users from holding the same key even when two registrations race, and
a write a key refuses says who holds it (`NameTaken`). Users without keys (from before
the keys) get theirs when the store opens (`assign_name_keys`, in sqlite/opening.py and
postgres/opening.py). An erased account (`chat.store.account_data`) keeps its row, with
no keys: none of these reads finds it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from chat.core import names
from chat.core.errors import EmailTaken, Gone, NameTaken
from chat.core.records import User
from chat.store.base import StoreBase
from chat.store.database import Connection, Row, UniqueViolation
from chat.store.dialect import Dialect

log = logging.getLogger(__name__)

#: A user row's columns, as `user_from_row` reads them.
USER_COLUMNS = "id, name, email, password_hash, is_admin, created_at, token_version"

_INSERT = f"""
INSERT INTO users (name, name_key, look_key, email, password_hash, is_admin, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {USER_COLUMNS}
"""

_USER_WHERE = f"SELECT {USER_COLUMNS} FROM users WHERE {{column}} = $1 AND erased_at IS NULL"
_BY_NAME = _USER_WHERE.format(column="name")
_BY_ID = _USER_WHERE.format(column="id")
_BY_EMAIL = _USER_WHERE.format(column="email")

#: The user called exactly $1, else the one whose name key is $2.
_LIKE_NAME = f"""
SELECT {USER_COLUMNS} FROM users
WHERE (name = $1 OR name_key = $2) AND erased_at IS NULL
ORDER BY name = $1 DESC LIMIT 1
"""

#: Users among the list parameter $1 ({ids}: `Dialect.values`).
_BY_IDS = f"SELECT {USER_COLUMNS} FROM users WHERE id IN ({{ids}}) AND erased_at IS NULL"
_TOKEN_VERSIONS = "SELECT id, token_version FROM users WHERE id IN ({ids}) AND erased_at IS NULL"

#: Who holds a name key ({column}, one of `NAME_KEYS`).
_HOLDER = "SELECT name FROM users WHERE {column} = $1"

_RENAME = f"""
UPDATE users SET name = $2, name_key = $3, look_key = $4 WHERE id = $1
RETURNING {USER_COLUMNS}
"""

_CHANGE_PASSWORD = f"""
UPDATE users SET password_hash = $3, token_version = token_version + 1
WHERE id = $1 AND password_hash = $2 RETURNING {USER_COLUMNS}
"""

_SET_PASSWORD = f"""
UPDATE users SET password_hash = $2, token_version = token_version + 1
WHERE id = $1 RETURNING {USER_COLUMNS}
"""

_SET_ADMIN = f"UPDATE users SET is_admin = $2 WHERE id = $1 RETURNING {USER_COLUMNS}"

_REVOKE_TOKENS = (
    "UPDATE users SET token_version = token_version + 1 WHERE id = $1 RETURNING token_version"
)

_USERS = f"SELECT {USER_COLUMNS} FROM users WHERE erased_at IS NULL ORDER BY id"

#: How many accounts have been erased (an erased account keeps no name key): the unique
#: index on name_key answers it.
_ERASED_ACCOUNTS = "SELECT count(*) FROM users WHERE name_key IS NULL"

_LOCK_USER = "SELECT erased_at FROM users WHERE id = $1"

#: Deleting user $1 (`Accounts.delete_user`): their messages everywhere; the rooms that
#: were theirs alone, their support thread and their direct conversations, with every
#: message in them; their memberships (ON DELETE CASCADE). Group rooms they created
#: stay, with no creator. In order, in one transaction. No command deletes this way any
#: more: `chat user delete` erases (`chat.app.accounts.data`), keeping what others wrote.
_DELETE_USER = (
    """
    DELETE FROM messages WHERE sender_id = $1
        OR room_id IN (SELECT id FROM rooms WHERE kind = 'support' AND creator_id = $1)
        OR room_id IN (SELECT room_id FROM direct_rooms
                       WHERE low_user_id = $1 OR high_user_id = $1)
    """,
    """
    DELETE FROM rooms WHERE (kind = 'support' AND creator_id = $1)
        OR id IN (SELECT room_id FROM direct_rooms
                  WHERE low_user_id = $1 OR high_user_id = $1)
    """,
    "UPDATE rooms SET creator_id = NULL WHERE creator_id = $1",
    "DELETE FROM users WHERE id = $1",
)

#: Users whose name key starts with a prefix ($1, a LIKE pattern with its wildcards
#: escaped by a backslash: `like_prefix`), the caller ($2) left out, by name (case
#: aside), at most $3.
_USERS_BY_PREFIX = """
SELECT id, name FROM users
WHERE name_key LIKE $1 ESCAPE '\\' AND id <> $2
ORDER BY lower(name), id
LIMIT $3
"""

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


def like_prefix(prefix: str) -> str:
    """A LIKE pattern matching strings that start with `prefix` literally (escaped with
    a backslash: `%` and `_` are not wildcards here)."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def user_from_row(row: Row | None, dialect: Dialect) -> User | None:
    if row is None:
        return None
    return User(
        id=row["id"],
        name=row["name"],
        email=row["email"],
        password_hash=row["password_hash"],
        is_admin=bool(row["is_admin"]),
        created_at=dialect.moment(row["created_at"]),
        token_version=row["token_version"],
    )


async def _write_user(
    conn: Connection, name: str, keys: dict[str, str], sql: str, *args: Any
) -> User | None:
    """`sql`, a statement writing user `name` with name keys `keys` and returning its row.
    A unique violation becomes the domain's error; a taken key names who holds it (read
    on the same connection, outside any transaction, as the refused write was)."""
    try:
        return user_from_row(await conn.fetchrow(sql, *args), conn.dialect)
    except UniqueViolation as error:
        for column, key in keys.items():
            if error.on(f"users.{column}"):
                holder = await conn.fetchval(_HOLDER.format(column=column), key)
                raise NameTaken(name, holder) from None
        if error.on("users.name"):
            raise NameTaken(name) from None
        if error.on("users.email"):
            raise EmailTaken() from None
        raise


async def lock_user(conn: Connection, user_id: int) -> Row | None:
    """User `user_id`'s row (its `erased_at`), None if there is none, locked until the
    writing transaction ends. On PostgreSQL the row is locked (FOR UPDATE): a message of
    theirs being inserted (which takes a key-share lock on it) either commits before
    this, or waits for our commit and then fails as `Gone`. On SQLite the writing
    transaction holds the whole database already."""
    sql = conn.dialect.pick(sqlite=_LOCK_USER, postgres=_LOCK_USER + " FOR UPDATE")
    return await conn.fetchrow(sql, user_id)


async def _delete_user(conn: Connection, user_id: int) -> bool:
    if await lock_user(conn, user_id) is None:
        return False
    for statement in _DELETE_USER:
        await conn.execute(statement, user_id)
    return True


class StoredAccounts(StoreBase):
    """`Accounts`: users."""

    async def create_user(
        self, name: str, password_hash: str, *, email: str | None = None, is_admin: bool = False
    ) -> User:
        keys = name_keys(name)
        user = await self.db.run(
            _write_user,
            name,
            keys,
            _INSERT,
            name,
            keys["name_key"],
            keys["look_key"],
            email,
            password_hash,
            is_admin,
            self.dialect.now(),
        )
        assert user is not None
        return user

    async def _user(self, sql: str, value: object) -> User | None:
        return user_from_row(await self.db.fetchrow(sql, value), self.dialect)

    async def user_by_name(self, name: str) -> User | None:
        return await self._user(_BY_NAME, name)

    async def user_like_name(self, name: str) -> User | None:
        row = await self.db.fetchrow(_LIKE_NAME, name, names.name_key(name))
        return user_from_row(row, self.dialect)

    async def user_by_id(self, user_id: int) -> User | None:
        return await self._user(_BY_ID, user_id)

    async def user_by_email(self, email: str) -> User | None:
        return await self._user(_BY_EMAIL, email)

    async def users_by_ids(self, user_ids: Sequence[int]) -> dict[int, User]:
        sql = _BY_IDS.format(ids=self.dialect.values(1))
        rows = await self.db.fetch(sql, self.dialect.list_param(list(user_ids)))
        users = (user_from_row(row, self.dialect) for row in rows)
        return {user.id: user for user in users if user is not None}

    async def erased_accounts(self) -> int:
        return int(await self.db.fetchval(_ERASED_ACCOUNTS))

    async def rename_user(self, user_id: int, name: str) -> User:
        keys = name_keys(name)
        user = await self.db.run(
            _write_user, name, keys, _RENAME, user_id, name, keys["name_key"], keys["look_key"]
        )
        if user is None:
            raise Gone("your account")
        return user

    async def change_password(self, user_id: int, old_hash: str, new_hash: str) -> User | None:
        row = await self.db.fetchrow(_CHANGE_PASSWORD, user_id, old_hash, new_hash)
        return user_from_row(row, self.dialect)

    async def revoke_tokens(self, user_id: int) -> int:
        version: int | None = await self.db.fetchval(_REVOKE_TOKENS, user_id)
        if version is None:
            raise Gone("your account")
        return version

    async def token_versions(self, user_ids: Collection[int]) -> dict[int, int]:
        # The ids travel as one list parameter: one however many there are (SQLite
        # limits the number of parameters in a statement).
        sql = _TOKEN_VERSIONS.format(ids=self.dialect.values(1))
        rows = await self.db.fetch(sql, self.dialect.list_param(list(user_ids)))
        return {row["id"]: row["token_version"] for row in rows}

    # --- administration (`chat user`) ---

    async def users(self) -> list[User]:
        rows = await self.db.fetch(_USERS)
        return [user for row in rows if (user := user_from_row(row, self.dialect)) is not None]

    async def set_password(self, user_id: int, new_hash: str) -> User | None:
        return user_from_row(await self.db.fetchrow(_SET_PASSWORD, user_id, new_hash), self.dialect)

    async def set_admin(self, user_id: int, is_admin: bool) -> User | None:
        return user_from_row(await self.db.fetchrow(_SET_ADMIN, user_id, is_admin), self.dialect)

    async def delete_user(self, user_id: int) -> bool:
        return await self.db.transaction(_delete_user, user_id)

    # --- finding people ---

    async def users_by_prefix(
        self, key_prefix: str, *, caller_id: int, limit: int
    ) -> list[tuple[int, str]]:
        rows = await self.db.fetch(_USERS_BY_PREFIX, like_prefix(key_prefix), caller_id, limit)
        return [(row[0], row[1]) for row in rows]
