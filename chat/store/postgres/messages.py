"""The PostgreSQL store's `Messages` and `History`: storing messages in batches, reading
them in id order, and a room's pages of history."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from ..records import Added, Message, NewMessage, Room
from ..shared.measuring import observed
from ..shared.messages import COMMITTED_AFTER_SQL, IS_MESSAGE_OF_ROOM_SQL, committed_from_rows
from ..shared.rows import NO_UPPER_BOUND
from .base import PostgresBase, as_is, message_of

if TYPE_CHECKING:
    import asyncpg


_MESSAGE_COLUMNS = (
    "m.id, m.room_id, m.sender_id, u.name AS sender_name, m.body, m.created_at, m.client_msg_id,"
    " m.reply_to"
)


# One statement for the whole batch. Rows are inserted in the order the SELECT produces
# them (ORDER BY ord), so their ids increase in the order of the batch. A resent
# client_msg_id conflicts with its original and is skipped (no row back).
_INSERT_MESSAGES = (
    "WITH m AS (INSERT INTO messages (room_id, sender_id, body, client_msg_id, reply_to)"
    " SELECT r, s, b, c, p"
    " FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::bigint[])"
    " WITH ORDINALITY AS t(r, s, b, c, p, ord) ORDER BY ord"
    " ON CONFLICT (room_id, sender_id, client_msg_id) WHERE client_msg_id IS NOT NULL"
    " DO NOTHING RETURNING *)"
    f" SELECT {_MESSAGE_COLUMNS} FROM m JOIN users AS u ON u.id = m.sender_id ORDER BY m.id"
)

_ORIGINAL_MESSAGES = (
    f"SELECT {_MESSAGE_COLUMNS} FROM messages AS m JOIN users AS u ON u.id = m.sender_id"
    " WHERE (m.room_id, m.sender_id, m.client_msg_id) IN"
    " (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[]))"
)


async def _aio_add_messages(pool: asyncpg.Pool, rows: list[NewMessage]) -> list[Added]:
    async with pool.acquire() as conn:
        inserted = await conn.fetch(
            _INSERT_MESSAGES,
            [row.room_id for row in rows],
            [row.sender_id for row in rows],
            [row.body for row in rows],
            [row.client_msg_id for row in rows],
            [row.reply_to for row in rows],
        )
        # Match rows to what came back, in order: a row without a client id is always
        # stored; one with a client id is stored unless it was a resend.
        added: list[Added | NewMessage] = []
        fresh = iter(inserted)
        candidate = next(fresh, None)
        for row in rows:
            if candidate is not None and (
                row.client_msg_id is None
                or (candidate["room_id"], candidate["sender_id"], candidate["client_msg_id"])
                == (row.room_id, row.sender_id, row.client_msg_id)
            ):
                added.append(Added(message_of(candidate), new=True))
                candidate = next(fresh, None)
            else:
                added.append(row)
        resent = [row for row in added if isinstance(row, NewMessage)]
        if not resent:
            return cast(list[Added], added)  # no resends: every item is an Added
        # A second statement, so it sees originals that committed while this insert
        # waited for the id lock (the insert's own snapshot is older than that).
        originals = {
            (record["room_id"], record["sender_id"], record["client_msg_id"]): message_of(record)
            for record in await conn.fetch(
                _ORIGINAL_MESSAGES,
                [row.room_id for row in resent],
                [row.sender_id for row in resent],
                [row.client_msg_id for row in resent],
            )
        }
        return [
            Added(originals[(item.room_id, item.sender_id, item.client_msg_id)], new=False)
            if isinstance(item, NewMessage)
            else item
            for item in added
        ]


class PostgresMessages(PostgresBase):
    """`Messages` and `History` on PostgreSQL."""

    async def add_messages(self, rows: list[NewMessage]) -> list[Added]:
        return await self._call(_aio_add_messages, self._pool, rows)

    async def last_message_id(self) -> int:
        return await self._call(self._pool.fetchval, "SELECT coalesce(max(id), 0) FROM messages")

    async def committed_after(
        self, after_id: int, *, before_id: int | None = None, limit: int
    ) -> list[tuple[Message, Room]]:
        rows = await self._call(
            self._pool.fetch,
            COMMITTED_AFTER_SQL.format(after="$1", before="$2", limit="$3"),
            after_id,
            NO_UPPER_BOUND if before_id is None else before_id,
            limit,
        )
        return committed_from_rows(rows, as_is)

    async def is_message_of_room(self, room_id: int, message_id: int) -> bool:
        sql = IS_MESSAGE_OF_ROOM_SQL.format(room="$1", message="$2")
        return await self._call(self._pool.fetchval, sql, room_id, message_id) is not None

    async def latest_messages(self, room_id: int, limit: int) -> list[Message]:
        return list(reversed(await self.messages_before(room_id, None, limit)))

    async def messages_before(
        self, room_id: int, before_id: int | None, limit: int, *, after_id: int = 0
    ) -> list[Message]:
        with observed(self.history_seconds):
            rows = await self._call(
                self._pool.fetch,
                f"SELECT {_MESSAGE_COLUMNS} FROM messages AS m"
                " JOIN users AS u ON u.id = m.sender_id"
                " WHERE m.room_id = $1 AND m.id < $2 AND m.id > $3 ORDER BY m.id DESC LIMIT $4",
                room_id,
                NO_UPPER_BOUND if before_id is None else before_id,
                after_id,
                limit,
            )
        return [message_of(row) for row in rows]
