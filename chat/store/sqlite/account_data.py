"""The SQLite store's `AccountData`: a user's data read a page at a time (the export),
the work lists of an erasure, its last transaction, and the names it holds."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from chat.core.records import StoredFile
from chat.store.shared import account_data as shared
from chat.store.shared.files import file_from_row
from chat.store.sqlite.base import SQLiteBase, from_ms, now_ms, transaction


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class SQLiteAccountData(SQLiteBase):
    """`AccountData` on SQLite."""

    async def name_held_until(self, name_key: str, look_key: str) -> datetime | None:
        sql = shared.NAME_HELD_SQL.format(name_key="?", look_key="?", now="?")
        row = await self._run(
            lambda conn: conn.execute(sql, (name_key, look_key, now_ms())).fetchone()
        )
        return None if row is None or row[0] is None else from_ms(row[0])

    async def export_messages(
        self, user_id: int, *, after: int, limit: int
    ) -> list[dict[str, Any]]:
        sql = shared.EXPORT_MESSAGES_SQL.format(user=":user", after=":after", limit=":limit")
        edits_sql = shared.EXPORT_EDITS_SQL.format(user=":user", after=":after", last=":last")
        files_sql = shared.EXPORT_MESSAGE_FILES_SQL.format(
            user=":user", after=":after", last=":last"
        )

        def select(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            conn.execute("BEGIN")  # one read: the messages, their edits and files at once
            try:
                values: dict[str, Any] = {"user": user_id, "after": after, "limit": limit}
                rows = conn.execute(sql, values).fetchall()
                if not rows:
                    return []
                values["last"] = rows[-1]["id"]
                edits = conn.execute(edits_sql, values).fetchall()
                files = conn.execute(files_sql, values).fetchall()
            finally:
                conn.execute("COMMIT")
            return shared.export_messages(rows, edits, files, from_ms)

        return await self._run(select)

    async def export_reactions(
        self, user_id: int, *, after: tuple[int, str], limit: int
    ) -> list[dict[str, Any]]:
        sql = shared.EXPORT_REACTIONS_SQL.format(user="?1", message="?2", emoji="?3", limit="?4")
        values = (user_id, after[0], after[1], limit)
        rows = await self._run(lambda conn: conn.execute(sql, values).fetchall())
        return [shared.export_reaction(row, from_ms) for row in rows]

    async def export_read_markers(
        self, user_id: int, *, after: int, limit: int
    ) -> list[dict[str, Any]]:
        sql = shared.EXPORT_READ_MARKERS_SQL.format(user="?", after="?", limit="?")
        rows = await self._run(lambda conn: conn.execute(sql, (user_id, after, limit)).fetchall())
        return [shared.export_read_marker(row) for row in rows]

    async def export_files(self, user_id: int, *, after: str, limit: int) -> list[StoredFile]:
        sql = shared.EXPORT_FILES_SQL.format(user="?", after="?", limit="?")
        rows = await self._run(lambda conn: conn.execute(sql, (user_id, after, limit)).fetchall())
        return [file_from_row(row, from_ms) for row in rows]

    async def unerased_messages(
        self, user_id: int, *, after: int, limit: int
    ) -> list[tuple[int, int]]:
        sql = shared.UNERASED_MESSAGES_SQL.format(user="?", after="?", limit="?")
        rows = await self._run(lambda conn: conn.execute(sql, (user_id, after, limit)).fetchall())
        return [(row["id"], row["room_id"]) for row in rows]

    async def unerased_reactions(
        self, user_id: int, *, after: tuple[int, str], limit: int
    ) -> list[tuple[int, int, str]]:
        sql = shared.UNERASED_REACTIONS_SQL.format(user="?1", message="?2", emoji="?3", limit="?4")
        values = (user_id, after[0], after[1], limit)
        rows = await self._run(lambda conn: conn.execute(sql, values).fetchall())
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
        values = {
            "user": user_id,
            "now": now_ms(),
            "until": _ms(held_until),
            "name_key": name_key,
            "look_key": look_key,
            "name": shared.ERASED_NAME.format(id=user_id),
            "password_hash": password_hash,
        }
        names = {key: f":{key}" for key in values}
        files_sql = shared.ERASED_FILES_SQL.format(user=":user")

        def erase(conn: sqlite3.Connection) -> list[StoredFile] | None:
            with transaction(conn):
                row = conn.execute(
                    "SELECT erased_at FROM users WHERE id = ?", (user_id,)
                ).fetchone()
                if row is None or row[0] is not None:
                    return None
                files = [file_from_row(r, from_ms) for r in conn.execute(files_sql, values)]
                for statement in shared.ERASE_ACCOUNT_SQL:
                    conn.execute(statement.format(**names), values)
                return files

        return await self._run(erase)
