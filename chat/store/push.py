"""Web Push (`Push`), on both engines: the browsers that asked for pushes, the cluster's
VAPID key, and the claims that make one instance push each message.

An endpoint belongs to one browser, so registering one again (by whoever is logged in
there now) moves it to that user. The first instance to start stores its VAPID key and
every later one reads that one. A claim is an insert that only one caller of any instance
wins (``ON CONFLICT DO NOTHING ... RETURNING``). Times are the server's clock
(`Dialect.now`): claims are compared with it (chat/app/people/pusher.py), not the database's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from chat.core.records import PushCandidate, PushSubscription, Room
from chat.store.base import StoreBase
from chat.store.database import Connection, Row

_ADD = """
INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, created_at)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT (endpoint) DO UPDATE SET
    user_id = excluded.user_id, p256dh = excluded.p256dh, auth = excluded.auth,
    created_at = excluded.created_at
"""

#: Past $2 subscriptions, user $1's oldest ones go (the newest browser wins).
_TRIM = """
DELETE FROM push_subscriptions WHERE user_id = $1 AND id NOT IN (
    SELECT id FROM push_subscriptions WHERE user_id = $1
    ORDER BY created_at DESC, id DESC LIMIT $2
)
"""

_REMOVE = "DELETE FROM push_subscriptions WHERE user_id = $1 AND endpoint = $2 RETURNING id"
#: A subscription its push service said is gone (404/410): only if it is still the same
#: one (the browser may have registered it again meanwhile, with new keys).
_REMOVE_GONE = (
    "DELETE FROM push_subscriptions WHERE id = $1 AND endpoint = $2 AND p256dh = $3 RETURNING id"
)
_ANY = "SELECT EXISTS (SELECT 1 FROM push_subscriptions)"

#: Room $1 of kind $2 (the lobby is everyone's; a support thread its user's and every
#: operator's; other rooms their members'), default level $3, mentioning someone $4
#: (whether *them* is for the caller to see). One query whose cost grows with the
#: subscriptions, not with the room. (The casts tell PostgreSQL the parameters' types.)
_CANDIDATES = """
SELECT s.id, s.user_id, s.endpoint, s.p256dh, s.auth,
       coalesce(l.level, CAST($3 AS text)) AS level
FROM push_subscriptions AS s
LEFT JOIN notification_levels AS l ON l.user_id = s.user_id AND l.room_id = $1
WHERE (CAST($2 AS text) = 'lobby'
       OR s.user_id IN (SELECT user_id FROM room_members WHERE room_id = $1)
       OR (CAST($2 AS text) = 'support' AND s.user_id IN (SELECT id FROM users WHERE is_admin)))
  AND (coalesce(l.level, CAST($3 AS text)) = 'all'
       OR (CAST($4 AS boolean) AND coalesce(l.level, CAST($3 AS text)) = 'mentions'))
ORDER BY s.id
"""

#: Messages $1 (a list parameter) claimed at $2. ``x.*``: the list's one column, named
#: differently by each engine; ``WHERE true`` keeps SQLite from reading ON CONFLICT as a
#: join's ON.
_CLAIM = """
INSERT INTO push_claims (message_id, claimed_at) SELECT x.*, $2 FROM ({ids}) AS x WHERE true
ON CONFLICT DO NOTHING RETURNING message_id
"""

_PRUNE_CLAIMS = "DELETE FROM push_claims WHERE claimed_at < $1"
_STORE_VAPID_KEY = (
    "INSERT INTO vapid_key (id, private_key, created_at) VALUES (1, $1, $2) ON CONFLICT DO NOTHING"
)
_VAPID_KEY = "SELECT private_key FROM vapid_key WHERE id = 1"


def candidate_from_row(row: Row) -> PushCandidate:
    subscription = PushSubscription(
        row["id"], row["user_id"], row["endpoint"], row["p256dh"], row["auth"]
    )
    return PushCandidate(subscription, row["level"])


async def _vapid_key(conn: Connection, generated: str) -> str:
    await conn.execute(_STORE_VAPID_KEY, generated, conn.dialect.now())
    return str(await conn.fetchval(_VAPID_KEY))


async def _add(
    conn: Connection, user_id: int, endpoint: str, p256dh: str, auth: str, limit: int
) -> None:
    await conn.execute(_ADD, user_id, endpoint, p256dh, auth, conn.dialect.now())
    await conn.execute(_TRIM, user_id, limit)


class StoredPush(StoreBase):
    """`Push`: Web Push subscriptions, the VAPID key, push claims."""

    async def vapid_private_key(self, generated: str) -> str:
        return await self.db.run(_vapid_key, generated)

    async def add_push_subscription(
        self, user_id: int, endpoint: str, p256dh: str, auth: str, *, limit: int
    ) -> None:
        await self.db.transaction(_add, user_id, endpoint, p256dh, auth, limit)

    async def remove_push_subscription(self, user_id: int, endpoint: str) -> bool:
        return await self.db.fetchval(_REMOVE, user_id, endpoint) is not None

    async def remove_gone_push_subscription(self, subscription: PushSubscription) -> bool:
        gone = (subscription.id, subscription.endpoint, subscription.p256dh)
        return await self.db.fetchval(_REMOVE_GONE, *gone) is not None

    async def any_push_subscription(self) -> bool:
        return bool(await self.db.fetchval(_ANY))

    async def push_candidates(
        self, room: Room, *, default_level: str, mentioned: bool
    ) -> list[PushCandidate]:
        rows = await self.db.fetch(_CANDIDATES, room.id, room.kind, default_level, mentioned)
        return [candidate_from_row(row) for row in rows]

    async def claim_pushes(self, message_ids: Sequence[int]) -> set[int]:
        ids = sorted(set(message_ids))
        if not ids:
            return set()
        sql = _CLAIM.format(ids=self.dialect.values(1))
        rows = await self.db.fetch(sql, self.dialect.list_param(ids), self.dialect.now())
        return {row[0] for row in rows}

    async def prune_push_claims(self, before: datetime) -> None:
        await self.db.execute(_PRUNE_CLAIMS, self.dialect.timestamp(before))
