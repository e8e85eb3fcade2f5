"""The PostgreSQL store's `Changes`: edits, deletions and reactions, each one transaction
that first takes the positions lock (sql/postgres/0012_message_changes.sql)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chat.core.records import Change, Message, Version
from chat.store.postgres.base import PostgresBase, as_is, message_of
from chat.store.postgres.files import aio_files_of_messages
from chat.store.shared.changes import (
    DELETED,
    EDIT_MESSAGE_SQL,
    EDITED,
    EDITS_SQL,
    EMOJI_COUNT_SQL,
    ERASE_CHANGES_SQL,
    ERASE_REACTIONS_SQL,
    ORIGINAL_VERSION_SQL,
    REACTION_STATE_SQL,
    REACTIONS,
    ROOM_CHANGES_SQL,
    SET_REACTIONS_SQL,
    TOMBSTONE_SQL,
    Check,
    change_from_row,
    reactions_from_rows,
    reactions_to_json,
    refuse_another_emoji,
    versions_from_rows,
)
from chat.store.shared.files import DETACH_SQL, with_files
from chat.store.shared.mentions import (
    FORGET_MENTIONS_SQL,
    SET_MENTIONS_SQL,
    edit_mentions_to_json,
    uids_to_json,
)
from chat.store.shared.messages import MESSAGE_COLUMNS
from chat.store.shared.rows import NO_UPPER_BOUND

if TYPE_CHECKING:
    import asyncpg

_MESSAGE_IN_ROOM = (
    f"SELECT {MESSAGE_COLUMNS} FROM messages AS m JOIN users AS u ON u.id = m.sender_id"
    " WHERE m.id = $1 AND m.room_id = $2"
)
# The same, locking its sender as the writes to come would (FOR KEY SHARE: what the
# message's references take, sql/postgres/0008), before any of them.
_MESSAGE_IN_ROOM_LOCKING_ITS_SENDER = f"{_MESSAGE_IN_ROOM} FOR KEY SHARE OF u"

_INSERT_CHANGE = (
    "INSERT INTO message_changes (room_id, message_id, kind, body, reactions, mentions)"
    " VALUES ($1, $2, $3, $4, $5, $6) RETURNING *"
)

# A message's mentions by name, from its UIDs.
_REMEMBER_MENTIONS = (
    "INSERT INTO message_mentions (user_id, room_id, message_id)"
    " SELECT unnest($1::bigint[]), $2, $3 ON CONFLICT DO NOTHING"
)


async def _checked(
    conn: asyncpg.Connection,
    room_id: int,
    message_id: int,
    check: Check,
    *,
    actor_id: int | None = None,
) -> Message:
    """The message, read after taking the positions lock (so no other change or insert
    is under way: what the check sees stays true until the commit), if the check
    accepts it.

    The users the change's rows will refer to (the message's sender; `actor_id`, the
    user a reaction row names) are locked first, before any row is written. Deleting a
    user locks them FOR UPDATE and then deletes their messages: had we written a row of
    that message first, each would wait for the other (PostgreSQL's deadlock error).
    This way the change waits for the deletion, then finds the message gone."""
    await conn.execute("SELECT chat_lock_positions()")
    if actor_id is not None:
        await conn.execute("SELECT 1 FROM users WHERE id = $1 FOR KEY SHARE", actor_id)
    row = await conn.fetchrow(_MESSAGE_IN_ROOM_LOCKING_ITS_SENDER, message_id, room_id)
    message = None if row is None else message_of(row)
    check(message)
    assert message is not None, "the check refuses a message that does not exist"
    return message


async def _record(
    conn: asyncpg.Connection,
    message: Message,
    kind: str,
    *,
    body: str | None = None,
    reactions: str | None = None,
    mentions: str | None = None,
) -> Change:
    row = await conn.fetchrow(
        _INSERT_CHANGE, message.room_id, message.id, kind, body, reactions, mentions
    )
    return change_from_row(row, as_is)


async def _aio_edit(
    pool: asyncpg.Pool,
    room_id: int,
    message_id: int,
    text: str,
    check: Check,
    mentions: tuple[int, ...],
    mentions_room: bool,
) -> Change | None:
    async with pool.acquire() as conn, conn.transaction():
        message = await _checked(conn, room_id, message_id, check)
        if message.body == text:
            return None
        stored = edit_mentions_to_json(mentions, mentions_room, message)
        change = await _record(conn, message, EDITED, body=text, mentions=stored)
        sql = EDIT_MESSAGE_SQL.format(text="$1", at="$2", message="$3")
        await conn.execute(sql, text, change.at, message_id)
        await conn.execute(
            SET_MENTIONS_SQL.format(uids="$1", room="$2", message="$3"),
            uids_to_json(mentions),
            mentions_room,
            message_id,
        )
        await conn.execute(FORGET_MENTIONS_SQL.format(message="$1"), message_id)
        if mentions:
            await conn.execute(_REMEMBER_MENTIONS, list(mentions), room_id, message_id)
        return change


async def _aio_delete(
    pool: asyncpg.Pool, room_id: int, message_id: int, check: Check
) -> Change | None:
    async with pool.acquire() as conn, conn.transaction():
        message = await _checked(conn, room_id, message_id, check)
        if message.deleted:
            return None
        change = await _record(conn, message, DELETED)
        await conn.execute(TOMBSTONE_SQL.format(at="$1", message="$2"), change.at, message_id)
        await conn.execute(ERASE_REACTIONS_SQL.format(message="$1"), message_id)
        await conn.execute(FORGET_MENTIONS_SQL.format(message="$1"), message_id)
        await conn.execute(DETACH_SQL.format(message="$1"), message_id)
        await conn.execute(ERASE_CHANGES_SQL.format(message="$1", seq="$2"), message_id, change.seq)
        return change


async def _aio_react(
    pool: asyncpg.Pool,
    room_id: int,
    message_id: int,
    user_id: int,
    emoji: str,
    add: bool,
    max_emoji: int,
    check: Check,
) -> Change | None:
    async with pool.acquire() as conn, conn.transaction():
        message = await _checked(conn, room_id, message_id, check, actor_id=user_id)
        if add:
            counts = await conn.fetchrow(
                EMOJI_COUNT_SQL.format(message="$1", emoji="$2"), message_id, emoji
            )
            refuse_another_emoji(counts, message_id, max_emoji)
            written = await conn.fetchval(
                "INSERT INTO message_reactions (message_id, emoji, user_id) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING RETURNING 1",
                message_id,
                emoji,
                user_id,
            )
        else:
            written = await conn.fetchval(
                "DELETE FROM message_reactions"
                " WHERE message_id = $1 AND emoji = $2 AND user_id = $3 RETURNING 1",
                message_id,
                emoji,
                user_id,
            )
        if written is None:
            return None  # reacted already, or never: nothing changes
        rows = await conn.fetch(REACTION_STATE_SQL.format(message="$1"), message_id)
        state = reactions_to_json(reactions_from_rows(rows))
        change = await _record(conn, message, REACTIONS, reactions=state)
        await conn.execute(SET_REACTIONS_SQL.format(state="$1", message="$2"), state, message_id)
        return change


async def _aio_versions(pool: asyncpg.Pool, room_id: int, message_id: int) -> list[Version] | None:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        original = await conn.fetchrow(
            ORIGINAL_VERSION_SQL.format(message="$1", room="$2"), message_id, room_id
        )
        edits = await conn.fetch(EDITS_SQL.format(message="$1"), message_id)
    return versions_from_rows(original, edits, as_is)


class PostgresChanges(PostgresBase):
    """`Changes` on PostgreSQL."""

    async def edit_message(
        self,
        room_id: int,
        message_id: int,
        text: str,
        check: Check,
        *,
        mentions: tuple[int, ...] = (),
        mentions_room: bool = False,
    ) -> Change | None:
        return await self._call(
            _aio_edit, self._pool, room_id, message_id, text, check, mentions, mentions_room
        )

    async def delete_message(self, room_id: int, message_id: int, check: Check) -> Change | None:
        return await self._call(_aio_delete, self._pool, room_id, message_id, check)

    async def react(
        self,
        room_id: int,
        message_id: int,
        user_id: int,
        emoji: str,
        *,
        add: bool,
        max_emoji: int,
        check: Check,
    ) -> Change | None:
        return await self._call(
            _aio_react, self._pool, room_id, message_id, user_id, emoji, add, max_emoji, check
        )

    async def message_in_room(self, room_id: int, message_id: int) -> Message | None:
        row = await self._call(self._pool.fetchrow, _MESSAGE_IN_ROOM, message_id, room_id)
        if row is None:
            return None
        message = message_of(row)
        if row["file_count"]:
            files = await self._call(aio_files_of_messages, self._pool, [message.id])
            message = with_files([message], files)[0]
        return message

    async def message_versions(self, room_id: int, message_id: int) -> list[Version] | None:
        return await self._call(_aio_versions, self._pool, room_id, message_id)

    async def room_changes(
        self, room_id: int, *, after: int, before: int | None, limit: int
    ) -> list[Change]:
        rows = await self._call(
            self._pool.fetch,
            ROOM_CHANGES_SQL.format(room="$1", after="$2", before="$3", limit="$4"),
            room_id,
            after,
            NO_UPPER_BOUND if before is None else before,
            limit,
        )
        return [change_from_row(row, as_is) for row in rows]
