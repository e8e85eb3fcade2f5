"""The PostgreSQL store's `Accounts`: users, passwords, operators, token versions, login
addresses, finding people."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from chat.core.errors import Gone, NameTaken
from chat.core.names import name_key
from chat.core.records import User
from chat.store.postgres.base import PostgresBase, unique_violation, user_of
from chat.store.shared import login_addresses
from chat.store.shared.accounts import (
    DELETE_USER_SQL,
    ERASED_ACCOUNTS_SQL,
    USERS_BY_PREFIX_SQL,
    like_prefix,
    name_keys,
)

if TYPE_CHECKING:
    import asyncpg


_USER_COLUMNS = "id, name, email, password_hash, is_admin, created_at, token_version"


async def _aio_remember_login_address(pool: asyncpg.Pool, user_id: int, address: str) -> None:
    remember = login_addresses.REMEMBER_SQL.format(user="$1", address="$2", now="now()")
    prune = login_addresses.PRUNE_SQL.format(user="$1", kept=login_addresses.KEPT_PER_USER)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(remember, user_id, address)
        await conn.execute(prune, user_id)


async def _aio_write_user(
    pool: asyncpg.Pool, name: str, keys: dict[str, str], sql: str, *args: Any
) -> Any:
    """fetchrow for a statement that writes user `name` with name keys `keys`, with
    unique violations turned into domain errors; a taken key names who holds it."""
    import asyncpg

    try:
        return await pool.fetchrow(sql, *args)
    except asyncpg.UniqueViolationError as error:
        column = (error.constraint_name or "").removeprefix("users_unique_")
        if column not in keys:
            raise unique_violation(error, name) from None
    holder = await pool.fetchval(f"SELECT name FROM users WHERE {column} = $1", keys[column])
    raise NameTaken(name, holder)


async def _aio_delete_user(pool: asyncpg.Pool, user_id: int) -> bool:
    async with pool.acquire() as conn, conn.transaction():
        # Locking the row first makes a concurrent insert of this user's message (which
        # takes a key-share lock on it) either finish before we start, so its message
        # is deleted with the rest, or wait for our commit and then fail as `Gone`.
        if await conn.fetchval("SELECT id FROM users WHERE id = $1 FOR UPDATE", user_id) is None:
            return False
        for statement in DELETE_USER_SQL:
            await conn.execute(statement.format(user="$1"), user_id)
        return True


class PostgresAccounts(PostgresBase):
    """`Accounts` on PostgreSQL."""

    async def create_user(
        self, name: str, password_hash: str, *, email: str | None = None, is_admin: bool = False
    ) -> User:
        keys = name_keys(name)
        row = await self._call(
            _aio_write_user,
            self._pool,
            name,
            keys,
            "INSERT INTO users (name, name_key, look_key, email, password_hash, is_admin)"
            f" VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_USER_COLUMNS}",
            name,
            keys["name_key"],
            keys["look_key"],
            email,
            password_hash,
            is_admin,
        )
        user = user_of(row)
        assert user is not None
        return user

    async def _user_where(self, column: str, value: object) -> User | None:
        """The user whose `column` (a unique one: name, id, email) is `value`."""
        sql = f"SELECT {_USER_COLUMNS} FROM users WHERE {column} = $1 AND erased_at IS NULL"
        return user_of(await self._call(self._pool.fetchrow, sql, value))

    async def user_by_name(self, name: str) -> User | None:
        return await self._user_where("name", name)

    async def user_like_name(self, name: str) -> User | None:
        row = await self._call(
            self._pool.fetchrow,
            f"SELECT {_USER_COLUMNS} FROM users"
            " WHERE (name = $1 OR name_key = $2) AND erased_at IS NULL"
            " ORDER BY name = $1 DESC LIMIT 1",
            name,
            name_key(name),
        )
        return user_of(row)

    async def user_by_id(self, user_id: int) -> User | None:
        return await self._user_where("id", user_id)

    async def user_by_email(self, email: str) -> User | None:
        return await self._user_where("email", email)

    async def users_by_ids(self, user_ids: Sequence[int]) -> dict[int, User]:
        sql = (
            f"SELECT {_USER_COLUMNS} FROM users WHERE id = ANY($1::bigint[]) AND erased_at IS NULL"
        )
        rows = await self._call(self._pool.fetch, sql, list(user_ids))
        users = (user_of(row) for row in rows)
        return {user.id: user for user in users if user is not None}

    async def erased_accounts(self) -> int:
        return int(await self._call(self._pool.fetchval, ERASED_ACCOUNTS_SQL))

    async def rename_user(self, user_id: int, name: str) -> User:
        keys = name_keys(name)
        row = await self._call(
            _aio_write_user,
            self._pool,
            name,
            keys,
            "UPDATE users SET name = $2, name_key = $3, look_key = $4 WHERE id = $1"
            f" RETURNING {_USER_COLUMNS}",
            user_id,
            name,
            keys["name_key"],
            keys["look_key"],
        )
        user = user_of(row)
        if user is None:
            raise Gone("your account")
        return user

    async def change_password(self, user_id: int, old_hash: str, new_hash: str) -> User | None:
        row = await self._call(
            self._pool.fetchrow,
            "UPDATE users SET password_hash = $3, token_version = token_version + 1"
            f" WHERE id = $1 AND password_hash = $2 RETURNING {_USER_COLUMNS}",
            user_id,
            old_hash,
            new_hash,
        )
        return user_of(row)

    async def revoke_tokens(self, user_id: int) -> int:
        version: int | None = await self._call(
            self._pool.fetchval,
            "UPDATE users SET token_version = token_version + 1 WHERE id = $1"
            " RETURNING token_version",
            user_id,
        )
        if version is None:
            raise Gone("your account")
        return version

    async def token_versions(self, user_ids: Collection[int]) -> dict[int, int]:
        rows = await self._call(
            self._pool.fetch,
            "SELECT id, token_version FROM users"
            " WHERE id = ANY($1::bigint[]) AND erased_at IS NULL",
            list(user_ids),
        )
        return {row["id"]: row["token_version"] for row in rows}

    # --- administration (`chat user`) ---

    async def users(self) -> list[User]:
        rows = await self._call(
            self._pool.fetch,
            f"SELECT {_USER_COLUMNS} FROM users WHERE erased_at IS NULL ORDER BY id",
        )
        return [user for user in map(user_of, rows) if user is not None]

    async def set_password(self, user_id: int, new_hash: str) -> User | None:
        row = await self._call(
            self._pool.fetchrow,
            "UPDATE users SET password_hash = $2, token_version = token_version + 1"
            f" WHERE id = $1 RETURNING {_USER_COLUMNS}",
            user_id,
            new_hash,
        )
        return user_of(row)

    async def set_admin(self, user_id: int, is_admin: bool) -> User | None:
        row = await self._call(
            self._pool.fetchrow,
            f"UPDATE users SET is_admin = $2 WHERE id = $1 RETURNING {_USER_COLUMNS}",
            user_id,
            is_admin,
        )
        return user_of(row)

    async def delete_user(self, user_id: int) -> bool:
        return await self._call(_aio_delete_user, self._pool, user_id)

    # --- login addresses ---

    async def remember_login_address(self, user_id: int, address: str) -> None:
        if len(address) > login_addresses.MAX_ADDRESS_CHARS:
            return
        await self._call(_aio_remember_login_address, self._pool, user_id, address)

    async def is_login_address(self, user_id: int, address: str) -> bool:
        sql = login_addresses.KNOWN_SQL.format(user="$1", address="$2")
        return await self._call(self._pool.fetchval, sql, user_id, address) is not None

    # --- finding people ---

    async def users_by_prefix(
        self, key_prefix: str, *, caller_id: int, limit: int
    ) -> list[tuple[int, str]]:
        sql = USERS_BY_PREFIX_SQL.format(pattern="$1", caller="$2", limit="$3")
        rows = await self._call(self._pool.fetch, sql, like_prefix(key_prefix), caller_id, limit)
        return [(row[0], row[1]) for row in rows]
