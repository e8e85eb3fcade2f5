"""The SQLite store's `Push`: Web Push subscriptions, the VAPID key, push claims."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from chat.core.records import PushCandidate, PushSubscription, Room
from chat.store.shared import push as shared
from chat.store.sqlite.base import SQLiteBase, now_ms, transaction


class SQLitePush(SQLiteBase):
    """`Push` on SQLite."""

    async def vapid_private_key(self, generated: str) -> str:
        store = shared.STORE_VAPID_KEY_SQL.format(key="?", now="?")

        def get(conn: sqlite3.Connection) -> str:
            conn.execute(store, (generated, now_ms()))
            return str(conn.execute(shared.VAPID_KEY_SQL).fetchone()[0])

        return await self._run(get)

    async def add_push_subscription(
        self, user_id: int, endpoint: str, p256dh: str, auth: str, *, limit: int
    ) -> None:
        add = shared.ADD_SUBSCRIPTION_SQL.format(
            user=":user", endpoint=":endpoint", p256dh=":p256dh", auth=":auth", now=":now"
        )
        trim = shared.TRIM_SUBSCRIPTIONS_SQL.format(user=":user", limit=":limit")
        values = {"user": user_id, "endpoint": endpoint, "p256dh": p256dh, "auth": auth}

        def insert(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                conn.execute(add, {**values, "now": now_ms()})
                conn.execute(trim, {"user": user_id, "limit": limit})

        await self._run(insert)

    async def remove_push_subscription(self, user_id: int, endpoint: str) -> bool:
        sql = shared.REMOVE_SUBSCRIPTION_SQL.format(user="?", endpoint="?")
        row = await self._run(lambda conn: conn.execute(sql, (user_id, endpoint)).fetchone())
        return row is not None

    async def remove_gone_push_subscription(self, subscription: PushSubscription) -> bool:
        sql = shared.REMOVE_GONE_SQL.format(id="?", endpoint="?", p256dh="?")
        values = (subscription.id, subscription.endpoint, subscription.p256dh)
        row = await self._run(lambda conn: conn.execute(sql, values).fetchone())
        return row is not None

    async def any_push_subscription(self) -> bool:
        row = await self._run(lambda conn: conn.execute(shared.ANY_SUBSCRIPTION_SQL).fetchone())
        return bool(row[0])

    async def push_candidates(
        self, room: Room, *, default_level: str, mentioned: bool
    ) -> list[PushCandidate]:
        sql = shared.CANDIDATES_SQL.format(
            room=":room", kind=":kind", default=":default", mentioned=":mentioned"
        )
        values = {
            "room": room.id,
            "kind": room.kind,
            "default": default_level,
            "mentioned": int(mentioned),
        }
        rows = await self._run(lambda conn: conn.execute(sql, values).fetchall())
        return [shared.candidate_from_row(row) for row in rows]

    async def claim_pushes(self, message_ids: Sequence[int]) -> set[int]:
        ids = sorted(set(message_ids))
        if not ids:
            return set()
        now = now_ms()
        sql = shared.CLAIM_SQL.format(values="VALUES " + ", ".join(["(?, ?)"] * len(ids)))
        values = [value for message_id in ids for value in (message_id, now)]
        rows = await self._run(lambda conn: conn.execute(sql, values).fetchall())
        return {row[0] for row in rows}

    async def prune_push_claims(self, before: datetime) -> None:
        sql = shared.PRUNE_CLAIMS_SQL.format(before="?")
        cutoff = int(before.timestamp() * 1000)
        await self._run(lambda conn: conn.execute(sql, (cutoff,)))
