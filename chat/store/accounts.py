"""Users (`Accounts`), on both engines.

A user is stored with their name's keys (`NAME_KEYS`, sql/*/0005_name_keys.sql): unique
indexes keep two users from holding the same key even when two registrations race, and
a write a key refuses says who holds it (`NameTaken`). Users without keys get theirs when
the store opens (`assign_name_keys`). An erased account keeps its row, with no keys.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, NoReturn

from chat.core import names
from chat.core.errors import EmailTaken, Gone, NameTaken
from chat.core.moderation_records import AuditEntry
from chat.core.records import User
from chat.core.session_records import TokenState
from chat.store.base import StoreBase
from chat.store.database import Connection, Row, UniqueViolation
from chat.store.dialect import Dialect
from chat.store.moderation import insert_audit

log = logging.getLogger(__name__)

#: A user row's columns, as `user_from_row` reads them.
USER_COLUMNS = (
    "id, name, email, password_hash, is_admin, created_at, token_version, display_name,"
    " avatar_key, avatar_type, kind, owner_id, deactivated_at"
)

#: Insert a user: name, its keys, e-mail, password hash, operator, created at.
INSERT_USER = f"""
INSERT INTO users (name, name_key, look_key, email, password_hash, is_admin, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {USER_COLUMNS}
"""

_USER_WHERE = f"SELECT {USER_COLUMNS} FROM users WHERE {{column}} = $1 AND erased_at IS NULL"
_LIKE_NAME = f"""
SELECT {USER_COLUMNS} FROM users
WHERE (name = $1 OR name_key = $2) AND erased_at IS NULL
ORDER BY name = $1 DESC LIMIT 1
"""

_BY_IDS = f"SELECT {USER_COLUMNS} FROM users WHERE {{ids}} AND erased_at IS NULL"
_TOKEN_STATES = (
    "SELECT id, token_version, deactivated_at FROM users WHERE {ids} AND erased_at IS NULL"
)
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
_LOCK_USER = "SELECT erased_at FROM users WHERE id = $1"
#: An erased account keeps no name key: the unique index on name_key answers this.
_ERASED_ACCOUNTS = "SELECT count(*) FROM users WHERE name_key IS NULL"

#: Deleting user $1, in order, in one transaction: their messages everywhere; their
#: support thread and direct conversations, with every message in them; their
#: memberships (ON DELETE CASCADE). Group rooms they created stay, with no creator. No
#: command deletes this way any more: `chat user delete` erases (`chat.app.accounts.data`).
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

#: $1: a LIKE pattern, its wildcards escaped by a backslash.
_USERS_BY_PREFIX = """
SELECT id, name FROM users WHERE name_key LIKE $1 ESCAPE '\\' AND id <> $2
ORDER BY lower(name), id LIMIT $3
"""

#: A user's name keys, by column, and how each is computed.
NAME_KEYS: dict[str, Callable[[str], str]] = {
    "name_key": names.name_key,
    "look_key": names.look_key,
}

_LOOK_ALIKE = (
    "user %d's name %r passes for %r, which was registered first: it keeps no"
    " %s (so it blocks no look-alike) until one of them is renamed"
)


def name_keys(name: str) -> dict[str, str]:
    return {column: key_of(name) for column, key_of in NAME_KEYS.items()}


def assign_name_keys(
    column: str, unkeyed: Sequence[tuple[int, str, str]], holders: Mapping[str, str]
) -> list[tuple[int, str]]:
    """Which users without a key in `column` get one when the store opens.

    `unkeyed` holds (id, name, key) for each user without one, oldest first; `holders`
    maps those already held to their holder's name. Returns (id, key) for the users to
    update. A key goes to whoever holds it, else to the oldest user whose name has it; the
    others keep none (logging it at every start) but still log in by their exact name.
    """
    taken = dict(holders)
    assigned = []
    for user_id, name, key in unkeyed:
        holder = taken.get(key)
        if holder is not None:
            log.warning(_LOOK_ALIKE, user_id, name, holder, column)
            continue
        taken[key] = name
        assigned.append((user_id, key))
    return assigned


async def fill_in_name_keys(conn: Connection) -> None:
    """Give every user without name keys theirs (`assign_name_keys`), when the store
    opens. The caller keeps registrations out meanwhile: SQLite's write lock, or
    PostgreSQL's migration lock (which serving instances do not take: one may register a
    look-alike meanwhile, and the update then fails, to be planned again)."""
    dialect = conn.dialect
    for column, key_of in NAME_KEYS.items():
        rows = await conn.fetch(f"SELECT id, name FROM users WHERE {column} IS NULL ORDER BY id")
        if not rows:
            continue
        unkeyed = [(row["id"], row["name"], key_of(row["name"])) for row in rows]
        keys = sorted({key for _, _, key in unkeyed})
        held = await conn.fetch(
            f"SELECT {column}, name FROM users WHERE {dialect.is_among(column, 1, 'text')}",
            dialect.list_param(keys),
        )
        assigned = assign_name_keys(column, unkeyed, {row[0]: row[1] for row in held})
        await conn.executemany(
            f"UPDATE users SET {column} = $1 WHERE id = $2",
            [(key, user_id) for user_id, key in assigned],
        )


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
        display_name=row["display_name"],
        avatar_key=row["avatar_key"],
        avatar_type=row["avatar_type"],
        kind=row["kind"],
        owner_id=row["owner_id"],
        deactivated_at=(
            None if row["deactivated_at"] is None else dialect.moment(row["deactivated_at"])
        ),
    )


async def write_user(
    conn: Connection,
    name: str,
    keys: dict[str, str],
    sql: str,
    *args: Any,
    audit: AuditEntry | None = None,
) -> User | None:
    """`sql` writes user `name` (keys `keys`) and returns its row, with `audit` (its
    target the user written) in the same transaction. A taken key names who holds it
    (read on the same connection, outside any transaction, as the write was)."""
    try:
        if audit is None:
            return user_from_row(await conn.fetchrow(sql, *args), conn.dialect)
        async with conn.transaction():
            return await _update_user(conn, sql, args, audit)
    except UniqueViolation as error:
        await raise_taken(conn, name, keys, error)


async def raise_taken(
    conn: Connection, name: str, keys: dict[str, str], error: UniqueViolation
) -> NoReturn:
    """Raise what `error`, a write of user `name` (keys `keys`) refused by a unique
    index, means: `NameTaken` naming who holds the key, or `EmailTaken`. Read on `conn`
    outside any transaction (one a refused write ended is no use on PostgreSQL)."""
    for column, key in keys.items():
        if error.on(f"users.{column}"):
            holder = await conn.fetchval(_HOLDER.format(column=column), key)
            raise NameTaken(name, holder) from None
    if error.on("users.name"):
        raise NameTaken(name) from None
    if error.on("users.email"):
        raise EmailTaken() from None
    raise error


async def lock_user(conn: Connection, user_id: int) -> Row | None:
    """User `user_id`'s row (its `erased_at`), None if there is none, locked until the
    writing transaction ends. On PostgreSQL (FOR UPDATE) a message of theirs being
    inserted (it takes a key-share lock on the row) commits before this, or waits for our
    commit and fails as `Gone`; on SQLite the writing transaction holds the database."""
    sql = conn.dialect.pick(sqlite=_LOCK_USER, postgres=_LOCK_USER + " FOR UPDATE")
    return await conn.fetchrow(sql, user_id)


async def _update_user(
    conn: Connection, sql: str, args: tuple[Any, ...], audit: AuditEntry | None
) -> User | None:
    """`sql` changes a user and returns its row; `audit` (its target that user) is
    written with it, if it changed one."""
    user = user_from_row(await conn.fetchrow(sql, *args), conn.dialect)
    if user is not None and audit is not None:
        await insert_audit(
            conn, dataclasses.replace(audit, target_id=user.id, target_name=user.name)
        )
    return user


async def _delete_user(conn: Connection, user_id: int) -> bool:
    if await lock_user(conn, user_id) is None:
        return False
    for statement in _DELETE_USER:
        await conn.execute(statement, user_id)
    return True


class StoredAccounts(StoreBase):
    """`Accounts`: users."""

    async def create_user(
        self,
        name: str,
        password_hash: str,
        *,
        email: str | None = None,
        is_admin: bool = False,
        audit: AuditEntry | None = None,
    ) -> User:
        keys = name_keys(name)
        args = (name, keys["name_key"], keys["look_key"], email, password_hash, is_admin)
        user = await self.db.run(
            write_user, name, keys, INSERT_USER, *args, self.dialect.now(), audit=audit
        )
        assert user is not None
        return user

    async def _user(self, sql: str, *args: object) -> User | None:
        return user_from_row(await self.db.fetchrow(sql, *args), self.dialect)

    async def user_by_name(self, name: str) -> User | None:
        return await self._user(_USER_WHERE.format(column="name"), name)

    async def user_like_name(self, name: str) -> User | None:
        return await self._user(_LIKE_NAME, name, names.name_key(name))

    async def user_by_id(self, user_id: int) -> User | None:
        return await self._user(_USER_WHERE.format(column="id"), user_id)

    async def user_by_email(self, email: str) -> User | None:
        return await self._user(_USER_WHERE.format(column="email"), email)

    async def users_by_ids(self, user_ids: Sequence[int]) -> dict[int, User]:
        sql = _BY_IDS.format(ids=self.dialect.is_among("id", 1))
        rows = await self.db.fetch(sql, self.dialect.list_param(list(user_ids)))
        users = (user_from_row(row, self.dialect) for row in rows)
        return {user.id: user for user in users if user is not None}

    async def erased_accounts(self) -> int:
        return int(await self.db.fetchval(_ERASED_ACCOUNTS))

    async def rename_user(self, user_id: int, name: str) -> User:
        keys = name_keys(name)
        user = await self.db.run(
            write_user, name, keys, _RENAME, user_id, name, keys["name_key"], keys["look_key"]
        )
        if user is None:
            raise Gone("your account")
        return user

    async def change_password(self, user_id: int, old_hash: str, new_hash: str) -> User | None:
        return await self._user(_CHANGE_PASSWORD, user_id, old_hash, new_hash)

    async def revoke_tokens(self, user_id: int) -> int:
        version: int | None = await self.db.fetchval(_REVOKE_TOKENS, user_id)
        if version is None:
            raise Gone("your account")
        return version

    async def token_states(self, user_ids: Collection[int]) -> dict[int, TokenState]:
        # One list parameter however many ids (SQLite limits a statement's parameters).
        sql = _TOKEN_STATES.format(ids=self.dialect.is_among("id", 1))
        rows = await self.db.fetch(sql, self.dialect.list_param(list(user_ids)))
        return {
            row["id"]: TokenState(row["token_version"], row["deactivated_at"] is None)
            for row in rows
        }

    async def users(self) -> list[User]:
        rows = await self.db.fetch(_USERS)
        return [user for row in rows if (user := user_from_row(row, self.dialect)) is not None]

    async def set_password(
        self, user_id: int, new_hash: str, *, audit: AuditEntry | None = None
    ) -> User | None:
        return await self.db.transaction(_update_user, _SET_PASSWORD, (user_id, new_hash), audit)

    async def set_admin(
        self, user_id: int, is_admin: bool, *, audit: AuditEntry | None = None
    ) -> User | None:
        return await self.db.transaction(_update_user, _SET_ADMIN, (user_id, is_admin), audit)

    async def delete_user(self, user_id: int) -> bool:
        return await self.db.transaction(_delete_user, user_id)

    async def users_by_prefix(
        self, key_prefix: str, *, caller_id: int, limit: int
    ) -> list[tuple[int, str]]:
        # `%` and `_` are taken literally: not wildcards here.
        escaped = key_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = await self.db.fetch(_USERS_BY_PREFIX, escaped + "%", caller_id, limit)
        return [(row[0], row[1]) for row in rows]
