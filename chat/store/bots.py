"""Bot accounts (`Bots`), on both engines: users of kind ``bot`` with an owner
(sql/*/NNNN_bots.sql). A deleted bot keeps its row, erased: its messages keep its name,
which stays taken; its tokens, memberships, incoming webhook and slash command or
outgoing webhook go."""

from __future__ import annotations

from chat.core.records import User
from chat.store.accounts import USER_COLUMNS, name_keys, user_from_row, write_user
from chat.store.base import StoreBase
from chat.store.database import Connection

_INSERT_BOT = f"""
INSERT INTO users (name, name_key, look_key, password_hash, created_at, kind, owner_id)
VALUES ($1, $2, $3, $4, $5, 'bot', $6) RETURNING {USER_COLUMNS}
"""
_COUNT_OF_OWNER = (
    "SELECT count(*) FROM users WHERE kind = 'bot' AND owner_id = $1 AND erased_at IS NULL"
)
_BOTS = f"SELECT {USER_COLUMNS} FROM users WHERE kind = 'bot' AND erased_at IS NULL"
_OF_OWNER = _BOTS + " AND owner_id = $1 ORDER BY id"
_ALL = _BOTS + " ORDER BY id"
_ERASE_BOT = (
    "UPDATE users SET erased_at = $2 WHERE id = $1 AND kind = 'bot' AND erased_at IS NULL"
    " RETURNING id"
)
_FORGET = (
    "DELETE FROM api_tokens WHERE user_id = $1",
    "DELETE FROM room_members WHERE user_id = $1",
    "DELETE FROM incoming_webhooks WHERE bot_id = $1",
    "DELETE FROM room_commands WHERE bot_id = $1",
)


async def erase_bot(conn: Connection, bot_id: int) -> bool:
    """Erase the bot and forget what it holds, in the caller's transaction (its own
    deletion's, or its webhook's: chat/store/incoming_webhooks.py,
    chat/store/room_commands.py). Whether there was
    such a bot."""
    if await conn.fetchval(_ERASE_BOT, bot_id, conn.dialect.now()) is None:
        return False
    for statement in _FORGET:
        await conn.execute(statement, bot_id)
    return True


async def _delete_bot(conn: Connection, bot_id: int) -> bool:
    async with conn.transaction():
        return await erase_bot(conn, bot_id)


class StoredBots(StoreBase):
    """`Bots`."""

    async def create_bot(
        self, name: str, password_hash: str, owner_id: int, *, most: int
    ) -> User | None:
        # Counted before the insert: two made at once may pass one over, never more.
        if int(await self.db.fetchval(_COUNT_OF_OWNER, owner_id)) >= most:
            return None
        keys = name_keys(name)
        args = (name, keys["name_key"], keys["look_key"], password_hash, self.dialect.now())
        return await self.db.run(write_user, name, keys, _INSERT_BOT, *args, owner_id)

    async def bots(self, owner_id: int | None) -> list[User]:
        rows = await (
            self.db.fetch(_ALL) if owner_id is None else self.db.fetch(_OF_OWNER, owner_id)
        )
        return [user for row in rows if (user := user_from_row(row, self.dialect)) is not None]

    async def delete_bot(self, bot_id: int) -> bool:
        return await self.db.run(_delete_bot, bot_id)
