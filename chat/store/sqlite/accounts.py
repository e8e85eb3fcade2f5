"""The SQLite store's `Accounts`: users, passwords, operators, token versions, login
addresses, finding people."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Collection, Sequence

from chat.core.errors import Gone
from chat.core.names import name_key
from chat.core.records import User
from chat.store.shared import login_addresses
from chat.store.shared.accounts import (
    DELETE_USER_SQL,
    ERASED_ACCOUNTS_SQL,
    USERS_BY_PREFIX_SQL,
    like_prefix,
    name_keys,
)
from chat.store.sqlite.base import SQLiteBase, now_ms, transaction, user_integrity_error, user_of


class SQLiteAccounts(SQLiteBase):
    """`Accounts` on SQLite."""

    async def create_user(
        self, name: str, password_hash: str, *, email: str | None = None, is_admin: bool = False
    ) -> User:
        keys = name_keys(name)

        def insert(conn: sqlite3.Connection) -> User:
            try:
                row = conn.execute(
                    "INSERT INTO users (name, name_key, look_key, email, password_hash,"
                    " is_admin, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
                    (
                        name,
                        keys["name_key"],
                        keys["look_key"],
                        email,
                        password_hash,
                        int(is_admin),
                        now_ms(),
                    ),
                ).fetchone()
            except sqlite3.IntegrityError as error:
                raise user_integrity_error(conn, error, name, keys) from None
            user = user_of(row)
            assert user is not None
            return user

        return await self._run(insert)

    async def _user_where(self, column: str, value: object) -> User | None:
        """The user whose `column` (a unique one: name, id, email) is `value`."""
        sql = f"SELECT * FROM users WHERE {column} = ? AND erased_at IS NULL"
        return await self._run(lambda conn: user_of(conn.execute(sql, (value,)).fetchone()))

    async def user_by_name(self, name: str) -> User | None:
        return await self._user_where("name", name)

    async def user_like_name(self, name: str) -> User | None:
        key = name_key(name)
        return await self._run(
            lambda conn: user_of(
                conn.execute(
                    "SELECT * FROM users WHERE (name = ? OR name_key = ?) AND erased_at IS NULL"
                    " ORDER BY name = ? DESC LIMIT 1",
                    (name, key, name),
                ).fetchone()
            )
        )

    async def user_by_id(self, user_id: int) -> User | None:
        return await self._user_where("id", user_id)

    async def user_by_email(self, email: str) -> User | None:
        return await self._user_where("email", email)

    async def users_by_ids(self, user_ids: Sequence[int]) -> dict[int, User]:
        sql = (
            "SELECT * FROM users WHERE id IN (SELECT value FROM json_each(?)) AND erased_at IS NULL"
        )
        ids = json.dumps(list(user_ids))

        def select(conn: sqlite3.Connection) -> dict[int, User]:
            users = (user_of(row) for row in conn.execute(sql, (ids,)))
            return {user.id: user for user in users if user is not None}

        return await self._run(select)

    async def erased_accounts(self) -> int:
        return await self._run(lambda conn: int(conn.execute(ERASED_ACCOUNTS_SQL).fetchone()[0]))

    async def rename_user(self, user_id: int, name: str) -> User:
        keys = name_keys(name)

        def update(conn: sqlite3.Connection) -> User:
            try:
                row = conn.execute(
                    "UPDATE users SET name = ?, name_key = ?, look_key = ? WHERE id = ?"
                    " RETURNING *",
                    (name, keys["name_key"], keys["look_key"], user_id),
                ).fetchone()
            except sqlite3.IntegrityError as error:
                raise user_integrity_error(conn, error, name, keys) from None
            user = user_of(row)
            if user is None:
                raise Gone("your account")
            return user

        return await self._run(update)

    async def change_password(self, user_id: int, old_hash: str, new_hash: str) -> User | None:
        return await self._run(
            lambda conn: user_of(
                conn.execute(
                    "UPDATE users SET password_hash = ?, token_version = token_version + 1"
                    " WHERE id = ? AND password_hash = ? RETURNING *",
                    (new_hash, user_id, old_hash),
                ).fetchone()
            )
        )

    async def revoke_tokens(self, user_id: int) -> int:
        def update(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "UPDATE users SET token_version = token_version + 1 WHERE id = ?"
                " RETURNING token_version",
                (user_id,),
            ).fetchone()
            if row is None:
                raise Gone("your account")
            version: int = row[0]
            return version

        return await self._run(update)

    async def token_versions(self, user_ids: Collection[int]) -> dict[int, int]:
        # The ids travel as one JSON array: one parameter however many there are (SQLite
        # limits the number of parameters in a statement).
        ids = json.dumps(list(user_ids))
        return await self._run(
            lambda conn: dict(
                conn.execute(
                    "SELECT id, token_version FROM users"
                    " WHERE id IN (SELECT value FROM json_each(?)) AND erased_at IS NULL",
                    (ids,),
                ).fetchall()
            )
        )

    # --- administration (`chat user`) ---

    async def users(self) -> list[User]:
        def select(conn: sqlite3.Connection) -> list[User]:
            rows = conn.execute(
                "SELECT * FROM users WHERE erased_at IS NULL ORDER BY id"
            ).fetchall()
            return [user for user in map(user_of, rows) if user is not None]

        return await self._run(select)

    async def set_password(self, user_id: int, new_hash: str) -> User | None:
        return await self._run(
            lambda conn: user_of(
                conn.execute(
                    "UPDATE users SET password_hash = ?, token_version = token_version + 1"
                    " WHERE id = ? RETURNING *",
                    (new_hash, user_id),
                ).fetchone()
            )
        )

    async def set_admin(self, user_id: int, is_admin: bool) -> User | None:
        return await self._run(
            lambda conn: user_of(
                conn.execute(
                    "UPDATE users SET is_admin = ? WHERE id = ? RETURNING *",
                    (int(is_admin), user_id),
                ).fetchone()
            )
        )

    async def delete_user(self, user_id: int) -> bool:
        def delete(conn: sqlite3.Connection) -> bool:
            # BEGIN IMMEDIATE: no other writer (a server storing this user's next
            # message) can slip in between the statements.
            with transaction(conn):
                for statement in DELETE_USER_SQL:
                    cursor = conn.execute(statement.format(user=":user"), {"user": user_id})
            return cursor.rowcount == 1

        return await self._run(delete)

    # --- login addresses ---

    async def remember_login_address(self, user_id: int, address: str) -> None:
        if len(address) > login_addresses.MAX_ADDRESS_CHARS:
            return
        values = {"user": user_id, "address": address, "now": int(time.time())}
        remember = login_addresses.REMEMBER_SQL.format(user=":user", address=":address", now=":now")
        prune = login_addresses.PRUNE_SQL.format(user=":user", kept=login_addresses.KEPT_PER_USER)

        def write(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                conn.execute(remember, values)
                conn.execute(prune, values)

        await self._run(write)

    async def is_login_address(self, user_id: int, address: str) -> bool:
        sql = login_addresses.KNOWN_SQL.format(user="?", address="?")
        row = await self._run(lambda conn: conn.execute(sql, (user_id, address)).fetchone())
        return row is not None

    # --- finding people ---

    async def users_by_prefix(
        self, key_prefix: str, *, caller_id: int, limit: int
    ) -> list[tuple[int, str]]:
        sql = USERS_BY_PREFIX_SQL.format(pattern="?", caller="?", limit="?")
        values = (like_prefix(key_prefix), caller_id, limit)
        rows = await self._run(lambda conn: conn.execute(sql, values).fetchall())
        return [(row[0], row[1]) for row in rows]
