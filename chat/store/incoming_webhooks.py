"""Incoming webhooks (`IncomingWebhooks`), on both engines: one row each, its secret's
SHA-256 only (chat/core/incoming_webhooks.py), its bot a user of kind ``bot``
(chat/store/bots.py). Each change is written with its audit entry, in one transaction;
deleting a webhook erases its bot in that transaction too."""

from __future__ import annotations

from chat.core.incoming_webhooks import IncomingWebhook
from chat.core.moderation_records import AuditEntry
from chat.store.base import StoreBase
from chat.store.bots import erase_bot
from chat.store.database import Connection, Row
from chat.store.moderation import insert_audit

_COLUMNS = "id, room_id, bot_id, name, secret_hash, created_by, created_at"
_COUNT_OF_ROOM = "SELECT count(*) FROM incoming_webhooks WHERE room_id = $1"
_INSERT = f"INSERT INTO incoming_webhooks ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
_BY_ID = f"SELECT {_COLUMNS} FROM incoming_webhooks WHERE id = $1"
_OF_ROOM = """
SELECT w.id, w.room_id, w.bot_id, w.name, w.created_by, w.created_at,
       b.name AS bot_name, c.name AS creator_name
FROM incoming_webhooks AS w
JOIN users AS b ON b.id = w.bot_id
LEFT JOIN users AS c ON c.id = w.created_by
WHERE w.room_id = $1
ORDER BY w.bot_id
"""
_ROTATE = "UPDATE incoming_webhooks SET secret_hash = $3 WHERE id = $1 AND room_id = $2"
_DELETE = "DELETE FROM incoming_webhooks WHERE id = $1 AND room_id = $2 RETURNING bot_id"


def _webhook(row: Row, *, names: bool = False) -> IncomingWebhook:
    return IncomingWebhook(
        webhook_id=row["id"],
        room_id=row["room_id"],
        bot_id=row["bot_id"],
        name=row["name"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        secret_hash="" if names else row["secret_hash"],
        bot_name=row["bot_name"] if names else "",
        creator_name=row["creator_name"] if names else None,
    )


async def _add(conn: Connection, webhook: IncomingWebhook, audit: AuditEntry, most: int) -> bool:
    # The room's count is read and written in one transaction (SQLite: under its write
    # lock; PostgreSQL: two at once may both pass, one over: bounded all the same).
    if int(await conn.fetchval(_COUNT_OF_ROOM, webhook.room_id)) >= most:
        return False
    await conn.execute(
        _INSERT,
        *(webhook.webhook_id, webhook.room_id, webhook.bot_id, webhook.name),
        *(webhook.secret_hash, webhook.created_by, webhook.created_at),
    )
    await insert_audit(conn, audit)
    return True


async def _rotate(
    conn: Connection, webhook_id: str, room_id: int, new_hash: str, audit: AuditEntry
) -> bool:
    if await conn.execute(_ROTATE, webhook_id, room_id, new_hash) == 0:
        return False
    await insert_audit(conn, audit)
    return True


async def _delete(conn: Connection, webhook_id: str, room_id: int, audit: AuditEntry) -> int | None:
    bot_id = await conn.fetchval(_DELETE, webhook_id, room_id)
    if bot_id is None:
        return None
    await erase_bot(conn, int(bot_id))
    await insert_audit(conn, audit)
    return int(bot_id)


class StoredIncomingWebhooks(StoreBase):
    """`IncomingWebhooks`."""

    async def add_incoming_webhook(
        self, webhook: IncomingWebhook, audit: AuditEntry, *, most: int
    ) -> bool:
        return await self.db.transaction(_add, webhook, audit, most)

    async def incoming_webhook(self, webhook_id: str) -> IncomingWebhook | None:
        row = await self.db.fetchrow(_BY_ID, webhook_id)
        return None if row is None else _webhook(row)

    async def incoming_webhooks_of(self, room_id: int) -> list[IncomingWebhook]:
        return [_webhook(row, names=True) for row in await self.db.fetch(_OF_ROOM, room_id)]

    async def rotate_incoming_webhook(
        self, webhook_id: str, room_id: int, new_hash: str, audit: AuditEntry
    ) -> bool:
        return await self.db.transaction(_rotate, webhook_id, room_id, new_hash, audit)

    async def delete_incoming_webhook(
        self, webhook_id: str, room_id: int, audit: AuditEntry
    ) -> int | None:
        return await self.db.transaction(_delete, webhook_id, room_id, audit)
