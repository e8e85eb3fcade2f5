"""The PostgreSQL store's `AccountData`: a user's data read a page at a time (the
export), the work lists of an erasure, its last transaction, and the names it holds."""

from __future__ import annotations

import string
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chat.core.records import StoredFile
from chat.store.postgres.base import PostgresBase, as_is
from chat.store.shared import account_data as shared
from chat.store.shared.files import file_from_row

if TYPE_CHECKING:
    import asyncpg


async def _aio_export_messages(
    pool: asyncpg.Pool, user_id: int, after: int, limit: int
) -> list[dict[str, Any]]:
    sql = shared.EXPORT_MESSAGES_SQL.format(user="$1", after="$2", limit="$3")
    edits_sql = shared.EXPORT_EDITS_SQL.format(user="$1", after="$2", last="$3")
    files_sql = shared.EXPORT_MESSAGE_FILES_SQL.format(user="$1", after="$2", last="$3")
    # One snapshot: the messages, their edits and their files at one moment.
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        rows = await conn.fetch(sql, user_id, after, limit)
        if not rows:
            return []
        last = rows[-1]["id"]
        edits = await conn.fetch(edits_sql, user_id, after, last)
        files = await conn.fetch(files_sql, user_id, after, last)
    return shared.export_messages(rows, edits, files, as_is)


def _positional(statement: str, values: dict[str, Any]) -> tuple[str, list[Any]]:
    """`statement` with its {placeholders} numbered as asyncpg wants them ($1, $2...,
    only those it uses), and the values in that order; {now} is the transaction's time."""
    numbers: dict[str, str] = {"now": "now()"}
    arguments: list[Any] = []
    for _text, field, _spec, _conversion in string.Formatter().parse(statement):
        if field is not None and field not in numbers:
            arguments.append(values[field])
            numbers[field] = f"${len(arguments)}"
    return statement.format(**numbers), arguments


async def _aio_erase_account(
    pool: asyncpg.Pool, user_id: int, values: dict[str, Any]
) -> list[StoredFile] | None:
    async with pool.acquire() as conn, conn.transaction():
        # Locked first, as a deletion locks its user: a message or change of theirs
        # under way either commits before this, or waits and then sees the shell.
        erased = await conn.fetchrow(
            "SELECT erased_at FROM users WHERE id = $1 FOR UPDATE", user_id
        )
        if erased is None or erased["erased_at"] is not None:
            return None
        rows = await conn.fetch(shared.ERASED_FILES_SQL.format(user="$1"), user_id)
        for statement in shared.ERASE_ACCOUNT_SQL:
            sql, arguments = _positional(statement, values)
            await conn.execute(sql, *arguments)
        return [file_from_row(row, as_is) for row in rows]


class PostgresAccountData(PostgresBase):
    """`AccountData` on PostgreSQL."""

    async def name_held_until(self, name_key: str, look_key: str) -> datetime | None:
        sql = shared.NAME_HELD_SQL.format(name_key="$1", look_key="$2", now="now()")
        held: datetime | None = await self._fetchval(sql, name_key, look_key)
        return held

    async def export_messages(
        self, user_id: int, *, after: int, limit: int
    ) -> list[dict[str, Any]]:
        return await self._call(_aio_export_messages, self._pool, user_id, after, limit)

    async def export_reactions(
        self, user_id: int, *, after: tuple[int, str], limit: int
    ) -> list[dict[str, Any]]:
        sql = shared.EXPORT_REACTIONS_SQL.format(user="$1", message="$2", emoji="$3", limit="$4")
        rows = await self._call(self._pool.fetch, sql, user_id, after[0], after[1], limit)
        return [shared.export_reaction(row, as_is) for row in rows]

    async def export_read_markers(
        self, user_id: int, *, after: int, limit: int
    ) -> list[dict[str, Any]]:
        sql = shared.EXPORT_READ_MARKERS_SQL.format(user="$1", after="$2", limit="$3")
        rows = await self._call(self._pool.fetch, sql, user_id, after, limit)
        return [shared.export_read_marker(row) for row in rows]

    async def export_files(self, user_id: int, *, after: str, limit: int) -> list[StoredFile]:
        sql = shared.EXPORT_FILES_SQL.format(user="$1", after="$2", limit="$3")
        rows = await self._call(self._pool.fetch, sql, user_id, after, limit)
        return [file_from_row(row, as_is) for row in rows]

    async def unerased_messages(
        self, user_id: int, *, after: int, limit: int
    ) -> list[tuple[int, int]]:
        sql = shared.UNERASED_MESSAGES_SQL.format(user="$1", after="$2", limit="$3")
        rows = await self._call(self._pool.fetch, sql, user_id, after, limit)
        return [(row["id"], row["room_id"]) for row in rows]

    async def unerased_reactions(
        self, user_id: int, *, after: tuple[int, str], limit: int
    ) -> list[tuple[int, int, str]]:
        sql = shared.UNERASED_REACTIONS_SQL.format(user="$1", message="$2", emoji="$3", limit="$4")
        rows = await self._call(self._pool.fetch, sql, user_id, after[0], after[1], limit)
        return [(row["message_id"], row["room_id"], row["emoji"]) for row in rows]

    async def erase_account(
        self,
        user_id: int,
        *,
        name_key: str,
        look_key: str,
        held_until: datetime,
        password_hash: str,
    ) -> list[StoredFile] | None:
        values: dict[str, Any] = {
            "user": user_id,
            "until": held_until,
            "name_key": name_key,
            "look_key": look_key,
            "name": shared.ERASED_NAME.format(id=user_id),
            "password_hash": password_hash,
        }
        return await self._call(_aio_erase_account, self._pool, user_id, values)
