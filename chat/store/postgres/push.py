"""The PostgreSQL store's `Push`: Web Push subscriptions, the VAPID key, push claims."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from chat.core.records import PushCandidate, PushSubscription, Room
from chat.store.postgres.base import PostgresBase
from chat.store.shared import push as shared

if TYPE_CHECKING:
    import asyncpg

_ADD = shared.ADD_SUBSCRIPTION_SQL.format(
    user="$1", endpoint="$2", p256dh="$3", auth="$4", now="now()"
)
_CLAIM = shared.CLAIM_SQL.format(values="SELECT unnest($1::bigint[]), now()")
_TRIM = shared.TRIM_SUBSCRIPTIONS_SQL.format(user="$1", limit="$2")


async def _aio_add(
    pool: asyncpg.Pool, user_id: int, endpoint: str, p256dh: str, auth: str, limit: int
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_ADD, user_id, endpoint, p256dh, auth)
        await conn.execute(_TRIM, user_id, limit)


async def _aio_vapid_key(pool: asyncpg.Pool, generated: str) -> str:
    async with pool.acquire() as conn:
        await conn.execute(shared.STORE_VAPID_KEY_SQL.format(key="$1", now="now()"), generated)
        return str(await conn.fetchval(shared.VAPID_KEY_SQL))


class PostgresPush(PostgresBase):
    """`Push` on PostgreSQL."""

    async def vapid_private_key(self, generated: str) -> str:
        return await self._call(_aio_vapid_key, self._pool, generated)

    async def add_push_subscription(
        self, user_id: int, endpoint: str, p256dh: str, auth: str, *, limit: int
    ) -> None:
        await self._call(_aio_add, self._pool, user_id, endpoint, p256dh, auth, limit)

    async def remove_push_subscription(self, user_id: int, endpoint: str) -> bool:
        sql = shared.REMOVE_SUBSCRIPTION_SQL.format(user="$1", endpoint="$2")
        return await self._call(self._pool.fetchval, sql, user_id, endpoint) is not None

    async def remove_gone_push_subscription(self, subscription: PushSubscription) -> bool:
        sql = shared.REMOVE_GONE_SQL.format(id="$1", endpoint="$2", p256dh="$3")
        found = await self._call(
            self._pool.fetchval, sql, subscription.id, subscription.endpoint, subscription.p256dh
        )
        return found is not None

    async def any_push_subscription(self) -> bool:
        return bool(await self._call(self._pool.fetchval, shared.ANY_SUBSCRIPTION_SQL))

    async def push_candidates(
        self, room: Room, *, default_level: str, mentioned: bool
    ) -> list[PushCandidate]:
        sql = shared.CANDIDATES_SQL.format(
            room="$1", kind="$2::text", default="$3::text", mentioned="$4::boolean"
        )
        rows = await self._call(self._pool.fetch, sql, room.id, room.kind, default_level, mentioned)
        return [shared.candidate_from_row(row) for row in rows]

    async def claim_pushes(self, message_ids: Sequence[int]) -> set[int]:
        ids = sorted(set(message_ids))
        if not ids:
            return set()
        rows = await self._call(self._pool.fetch, _CLAIM, ids)
        return {row[0] for row in rows}

    async def prune_push_claims(self, before: datetime) -> None:
        await self._call(self._pool.execute, shared.PRUNE_CLAIMS_SQL.format(before="$1"), before)
