"""The PostgreSQL store's `Messages` and `History`: storing messages in batches, reading
them in id order, and a room's pages of history."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, cast

from chat.core.records import Added, Change, Message, NewMessage, Room
from chat.store.dialect import POSTGRES
from chat.store.measuring import observed
from chat.store.postgres.base import PostgresBase, as_is, message_of
from chat.store.postgres.files import aio_attach_files, aio_files_of_messages, messages_with_files
from chat.store.postgres.room_rules import aio_batch_rules, aio_check_new
from chat.store.shared.changes import CHANGES_AFTER_SQL, change_from_row
from chat.store.shared.files import ids_with_files, with_files_committed
from chat.store.shared.messages import (
    COMMITTED_AFTER_SQL,
    DELETED_AMONG_SQL,
    INSERTED,
    INSERTED_COLUMNS,
    IS_MESSAGE_OF_ROOM_SQL,
    LAST_POSITION_SQL,
    MESSAGE_COLUMNS,
    MESSAGES_AFTER_SQL,
    committed_from_rows,
    in_position_order,
    not_a_message_of_room,
)
from chat.store.shared.room_rules import HELD_SQL, RULES_SQL
from chat.store.shared.rows import NO_UPPER_BOUND

if TYPE_CHECKING:
    import asyncpg

    from chat.store.roles import Notifications

log = logging.getLogger(__name__)


_MESSAGE_COLUMNS = MESSAGE_COLUMNS
_MESSAGES_AFTER = MESSAGES_AFTER_SQL.format(room="$1", after="$2", limit="$3")


# The batch's parameters: one array per inserted column.
_ARRAYS = ", ".join(f"${n}::{inserted.pg_type}[]" for n, inserted in enumerate(INSERTED, 1))

# One statement for the whole batch. Rows are inserted in the order the SELECT produces
# them (ORDER BY ord), so their ids increase in the order of the batch. A resent
# client_msg_id conflicts with its original and is skipped (no row back). {gate} is a
# condition every row must also meet ("" for none).
_INSERT_ROWS = (
    f"m AS (INSERT INTO messages ({INSERTED_COLUMNS})"
    f" SELECT {INSERTED_COLUMNS} FROM unnest({_ARRAYS})"
    f" WITH ORDINALITY AS t({INSERTED_COLUMNS}, ord)"
    # A resend of a stored message is left out before it takes an id: an id taken and
    # not stored is a gap in the positions, which other instances must then settle
    # from the table (chat.app.messages.writer). ON CONFLICT stays for the originals this
    # snapshot cannot see yet (committed while the insert waited for the lock) and
    # for a resend within the batch: those still take an id, rarely.
    " WHERE {gate}(t.client_msg_id IS NULL OR NOT EXISTS (SELECT 1 FROM messages AS o"
    " WHERE o.room_id = t.room_id AND o.sender_id = t.sender_id"
    " AND o.client_msg_id = t.client_msg_id))"
    " ORDER BY ord"
    " ON CONFLICT (room_id, sender_id, client_msg_id) WHERE client_msg_id IS NOT NULL"
    " DO NOTHING RETURNING *),"
    # Who the stored messages mention by name (sql/postgres/0014_mentions.sql): a
    # data-modifying CTE runs whether or not the query reads it.
    " n AS (INSERT INTO message_mentions (user_id, room_id, message_id)"
    " SELECT j.uid::bigint, m.room_id, m.id"
    " FROM m CROSS JOIN LATERAL jsonb_array_elements_text(m.mentions::jsonb) AS j(uid)"
    " WHERE m.mentions IS NOT NULL ON CONFLICT DO NOTHING)"
)

_INSERT_MESSAGES = (
    "WITH "
    + _INSERT_ROWS.format(gate="")
    + f" SELECT {_MESSAGE_COLUMNS} FROM m JOIN users AS u ON u.id = m.sender_id ORDER BY m.id"
)

# The usual batch's statement: the rules of its (room, sender) pairs read (`g`), and the
# rows inserted only if none of them holds its messages back (a refusal or slow mode,
# chat.store.shared.room_rules). One trip to the database instead of two (a read of the
# rules, then the insert): a trip through the bridge less per batch, and a round trip
# less of every message's latency (docs/PERFORMANCE.md, "Running a room"). The first
# column says whether the rules let the batch through; a row with it and no message when
# nothing was stored.
_INSERT_CLEAR_MESSAGES = (
    "WITH p AS (SELECT DISTINCT q.room_id, q.user_id"
    " FROM unnest($1::bigint[], $2::bigint[]) AS q(room_id, user_id)),"
    " g AS (SELECT NOT EXISTS (SELECT 1 FROM ("
    + RULES_SQL.format(pairs="p", now="clock_timestamp()")
    + f") AS x WHERE ({HELD_SQL})) AS clear), "
    + _INSERT_ROWS.format(gate="(SELECT clear FROM g) AND ")
    + f" SELECT g.clear, {_MESSAGE_COLUMNS}"
    " FROM g LEFT JOIN (m JOIN users AS u ON u.id = m.sender_id) ON true ORDER BY m.id"
)

_ORIGINAL_MESSAGES = (
    f"SELECT {_MESSAGE_COLUMNS} FROM messages AS m JOIN users AS u ON u.id = m.sender_id"
    " WHERE (m.room_id, m.sender_id, m.client_msg_id) IN"
    " (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[]))"
)


async def _aio_add_messages(
    pool: asyncpg.Pool, rows: list[NewMessage], notify: Notifications | None
) -> list[Added]:
    async with pool.acquire() as conn:
        added = await _aio_insert_batch(conn, rows)
        if notify is not None:
            # After the commit, on the same connection and in the same trip through the
            # bridge (a second trip would cost as much as the table read it saves).
            try:
                notifications = notify(added)
            except Exception:
                log.exception("bus: committed messages not carried to other instances")
            else:
                await _aio_notify(conn, notifications)
        return added


async def _aio_notify(conn: asyncpg.Connection, notifications: list[tuple[str, str]]) -> None:
    """Send `notifications`, best effort: the messages are committed whatever happens
    here, and the other instances read from the table what does not reach them."""
    for channel, payload in notifications:
        try:
            await conn.execute("SELECT pg_notify($1, $2)", channel, payload)
        except Exception as error:  # refused, or the connection lost: the commit stands
            log.warning("bus: committed messages not carried to other instances: %s", error)
            return


async def _aio_insert_batch(conn: asyncpg.Connection, rows: list[NewMessage]) -> list[Added]:
    """Store `rows` (see `PostgresMessages.add_messages`) on `conn`."""
    if not any(row.outgoing.reply_to is not None or row.outgoing.files for row in rows):
        # The usual batch: one statement reads the rules and stores it, unless they hold
        # it back.
        stored = await _aio_insert_clear(conn, rows)
        if stored is not None:
            return stored
    # Replies, files, or a room that may refuse or slow one of these: one transaction, so
    # that the look at the replies' targets happens under the positions lock the insert
    # takes (and holds to the commit), the files are attached with the message or not at
    # all, and the rules, read again, are checked on the new rows after the insert (a
    # refusal rolls it back).
    rules = await aio_batch_rules(conn, rows)
    async with conn.transaction():
        added = await _aio_insert(conn, rows)
        if rules is not None:
            await aio_check_new(conn, rows, added, rules)
        await _aio_refuse_replies_to_deleted(conn, rows)
        return await _aio_attach(conn, rows, added)


async def _aio_attach(
    conn: asyncpg.Connection, rows: list[NewMessage], added: list[Added]
) -> list[Added]:
    """Attach each new message's files; a resend answers with the original's files."""
    resent = [item.message.id for item in added if not item.new]
    originals = await aio_files_of_messages(conn, resent)
    result = []
    for row, item in zip(rows, added, strict=True):
        files_sent = row.outgoing.files
        if item.new and files_sent:
            files = await aio_attach_files(conn, item.message.id, row.sender_id, files_sent)
            item = Added(replace(item.message, files=files), new=True)
        elif not item.new and item.message.id in originals:
            item = Added(replace(item.message, files=originals[item.message.id]), new=False)
        result.append(item)
    return result


async def _aio_refuse_replies_to_deleted(conn: asyncpg.Connection, rows: list[NewMessage]) -> None:
    """Raise `InvalidInput` (the transaction rolls back) if a row answers a message
    deleted since the caller checked it. A statement of its own after the insert: its
    snapshot is taken after the insert got the positions lock, so it sees every deletion
    committed before (deletions take the same lock)."""
    answered = {
        row.outgoing.reply_to: row.room_id for row in rows if row.outgoing.reply_to is not None
    }
    deleted = await conn.fetchval(
        DELETED_AMONG_SQL.format(ids="SELECT unnest($1::bigint[])"), list(answered)
    )
    if deleted is not None:
        raise not_a_message_of_room(deleted, answered[deleted])


def _columns(rows: list[NewMessage]) -> list[list[object]]:
    """The insert's parameters: one array per column (`INSERTED`)."""
    return [[inserted.value(row) for row in rows] for inserted in INSERTED]


async def _aio_insert(conn: asyncpg.Connection, rows: list[NewMessage]) -> list[Added]:
    inserted = await conn.fetch(_INSERT_MESSAGES, *_columns(rows))
    return await _aio_added(conn, rows, inserted)


async def _aio_insert_clear(conn: asyncpg.Connection, rows: list[NewMessage]) -> list[Added] | None:
    """Insert `rows` if no (room, sender) pair's rules hold them back; None, and nothing
    stored, if one does."""
    inserted = await conn.fetch(_INSERT_CLEAR_MESSAGES, *_columns(rows))
    if not inserted[0]["clear"]:
        return None
    stored = [record for record in inserted if record["id"] is not None]
    return await _aio_added(conn, rows, stored)


async def _aio_added(
    conn: asyncpg.Connection, rows: list[NewMessage], inserted: list[asyncpg.Record]
) -> list[Added]:
    """Each of `rows` as stored: its inserted record, or its original if it was a resend."""
    # Match rows to what came back, in order: a row without a client id is always
    # stored; one with a client id is stored unless it was a resend.
    added: list[Added | NewMessage] = []
    fresh = iter(inserted)
    candidate = next(fresh, None)
    for row in rows:
        if candidate is not None and (
            row.outgoing.client_msg_id is None
            or (candidate["room_id"], candidate["sender_id"], candidate["client_msg_id"])
            == (row.room_id, row.sender_id, row.outgoing.client_msg_id)
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
            [row.outgoing.client_msg_id for row in resent],
        )
    }
    return [
        Added(originals[(item.room_id, item.sender_id, item.outgoing.client_msg_id)], new=False)
        if isinstance(item, NewMessage)
        else item
        for item in added
    ]


async def _aio_committed_after(
    pool: asyncpg.Pool, after: int, before: int, limit: int
) -> list[tuple[Message | Change, Room]]:
    bounds = (after, before, limit)
    # One snapshot for both tables: a message and a change committed between two separate
    # reads could otherwise be seen one without the other.
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        messages = await conn.fetch(
            COMMITTED_AFTER_SQL.format(after="$1", before="$2", limit="$3"), *bounds
        )
        changes = await conn.fetch(
            CHANGES_AFTER_SQL.format(after="$1", before="$2", limit="$3"), *bounds
        )
        files = await aio_files_of_messages(conn, ids_with_files(messages))
    return with_files_committed(
        in_position_order(
            committed_from_rows(messages, POSTGRES, message_of),
            committed_from_rows(changes, POSTGRES, lambda row: change_from_row(row, as_is)),
            limit,
        ),
        files,
    )


class PostgresMessages(PostgresBase):
    """`Messages` and `History` on PostgreSQL."""

    async def add_messages(
        self, rows: list[NewMessage], *, notify: Notifications | None = None
    ) -> list[Added]:
        return await self._call(_aio_add_messages, self._pool, rows, notify)

    async def last_position(self) -> int:
        row = await self._call(self._pool.fetchrow, LAST_POSITION_SQL)
        return int(max(row))

    async def committed_after(
        self, after: int, *, before: int | None = None, limit: int
    ) -> list[tuple[Message | Change, Room]]:
        below = NO_UPPER_BOUND if before is None else before
        return await self._call(_aio_committed_after, self._pool, after, below, limit)

    async def is_message_of_room(self, room_id: int, message_id: int) -> bool:
        sql = IS_MESSAGE_OF_ROOM_SQL.format(room="$1", message="$2")
        return await self._call(self._pool.fetchval, sql, room_id, message_id) is not None

    async def latest_messages(
        self, room_id: int, limit: int, *, skip_deleted: bool = False
    ) -> list[Message]:
        page = await self.messages_before(room_id, None, limit, skip_deleted=skip_deleted)
        return list(reversed(page))

    async def messages_before(
        self,
        room_id: int,
        before_id: int | None,
        limit: int,
        *,
        after_id: int = 0,
        skip_deleted: bool = False,
    ) -> list[Message]:
        live = " AND m.deleted_at IS NULL" if skip_deleted else ""
        with observed(self.history_seconds):
            rows = await self._call(
                self._pool.fetch,
                f"SELECT {_MESSAGE_COLUMNS} FROM messages AS m"
                " JOIN users AS u ON u.id = m.sender_id"
                f" WHERE m.room_id = $1 AND m.id < $2 AND m.id > $3{live}"
                " ORDER BY m.id DESC LIMIT $4",
                room_id,
                NO_UPPER_BOUND if before_id is None else before_id,
                after_id,
                limit,
            )
            return await messages_with_files(self, rows)

    async def messages_after(self, room_id: int, after_id: int, limit: int) -> list[Message]:
        with observed(self.history_seconds):
            rows = await self._call(self._pool.fetch, _MESSAGES_AFTER, room_id, after_id, limit)
            return await messages_with_files(self, rows[::-1])
