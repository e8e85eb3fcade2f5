"""Storing a batch of new messages (`Messages.add_messages`): the two strategies, one per
kind of engine, chosen by `Dialect.inserts_from_arrays` (chat.store.messages).

- `insert_arrays` (PostgreSQL): the usual batch (no replies, no files) is one statement
  that reads its room rules and inserts every row from one array per column, unless the
  rules hold it back: one trip to the database (docs/PERFORMANCE.md, "Running a room").
  Any other batch is one transaction: rules read, insert, rules checked on the new rows.
- `insert_rows` (SQLite): a row at a time in the caller's writing transaction, which
  holds the one write lock from its BEGIN IMMEDIATE to its commit.

Both look up the originals of resent messages (a `client_msg_id` its sender already used
in the room: not stored again), attach files (`chat.store.files.attach_files`) and
refuse replies to messages deleted meanwhile, the same way. Ids commit in id order:
PostgreSQL's insert takes the positions lock (sql/postgres/0004_cluster.sql), SQLite has
one writer.
"""

from __future__ import annotations

from dataclasses import replace
from typing import cast

from chat.core.records import Added, NewMessage
from chat.store.database import Connection, Row
from chat.store.files import attach_files, files_of_messages, ids_with_files
from chat.store.mentions import remember_mentions
from chat.store.message_rows import (
    INSERTED,
    INSERTED_COLUMNS,
    MESSAGE_COLUMNS,
    MESSAGE_SELECT,
    STORED_COLUMNS,
    inserted_values,
    message_from_row,
    not_a_message_of_room,
)
from chat.store.room_rules import HELD_SQL, RULES_SQL, RoomRules, batch_rules

#: Which of the messages a batch answers (list parameter $1) have been deleted meanwhile.
_DELETED_AMONG = "SELECT id FROM messages WHERE id IN ({ids}) AND deleted_at IS NOT NULL"

# --- PostgreSQL: one array per column -------------------------------------------------

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
    + f" SELECT {MESSAGE_COLUMNS} FROM m JOIN users AS u ON u.id = m.sender_id ORDER BY m.id"
)

# The usual batch's statement: the rules of its (room, sender) pairs read (`g`), and the
# rows inserted only if none of them holds its messages back (a refusal or slow mode,
# chat.store.room_rules). One trip to the database instead of two (a read of the rules,
# then the insert): a trip through the bridge less per batch, and a round trip less of
# every message's latency. The first column says whether the rules let the batch
# through; a row with it and no message when nothing was stored.
_INSERT_CLEAR_MESSAGES = (
    "WITH p AS (SELECT DISTINCT q.room_id, q.user_id"
    " FROM unnest($1::bigint[], $2::bigint[]) AS q(room_id, user_id)),"
    " g AS (SELECT NOT EXISTS (SELECT 1 FROM ("
    + RULES_SQL.format(pairs="p", now="clock_timestamp()")
    + f") AS x WHERE ({HELD_SQL})) AS clear), "
    + _INSERT_ROWS.format(gate="(SELECT clear FROM g) AND ")
    + f" SELECT g.clear, {MESSAGE_COLUMNS}"
    " FROM g LEFT JOIN (m JOIN users AS u ON u.id = m.sender_id) ON true ORDER BY m.id"
)

_ORIGINAL_MESSAGES = (
    f"{MESSAGE_SELECT} WHERE (m.room_id, m.sender_id, m.client_msg_id) IN"
    " (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[]))"
)

# --- SQLite: a row at a time ----------------------------------------------------------

# A resent client_msg_id conflicts with the original and inserts nothing (no row back).
_INSERT_MESSAGE = (
    f"INSERT INTO messages ({INSERTED_COLUMNS}, created_at)"
    f" VALUES ({', '.join(f'${n}' for n in range(1, len(INSERTED) + 2))})"
    " ON CONFLICT (room_id, sender_id, client_msg_id) WHERE client_msg_id IS NOT NULL"
    " DO NOTHING"
    f" RETURNING {', '.join(STORED_COLUMNS)},"
    " (SELECT name FROM users WHERE users.id = sender_id) AS sender_name"
)

_ORIGINAL_MESSAGE = (
    f"{MESSAGE_SELECT} WHERE m.room_id = $1 AND m.sender_id = $2 AND m.client_msg_id = $3"
)


async def insert_arrays(conn: Connection, rows: list[NewMessage]) -> list[Added]:
    """Store `rows` on PostgreSQL, outside any transaction (it opens its own)."""
    if not any(row.outgoing.reply_to is not None or row.outgoing.files for row in rows):
        # The usual batch: one statement reads the rules and stores it, unless they hold
        # it back.
        inserted = await conn.fetch(_INSERT_CLEAR_MESSAGES, *_columns(rows))
        if inserted[0]["clear"]:
            stored = [record for record in inserted if record["id"] is not None]
            return (await _added(conn, rows, stored))[0]
    # Replies, files, or a room that may refuse or slow one of these: one transaction, so
    # that the look at the replies' targets happens under the positions lock the insert
    # takes (and holds to the commit), the files are attached with the message or not at
    # all, and the rules, read again, are checked on the new rows after the insert (a
    # refusal rolls it back).
    rules = await batch_rules(conn, rows)
    async with conn.transaction():
        inserted = await conn.fetch(_INSERT_MESSAGES, *_columns(rows))
        added, originals = await _added(conn, rows, inserted)
        if rules is not None:
            await rules.check_new(rows, added)
        # A statement of its own after the insert: its snapshot is taken after the
        # insert got the positions lock, so it sees every deletion committed before
        # (deletions take the same lock).
        await _refuse_replies_to_deleted(conn, rows)
        return await _attach(conn, rows, added, originals)


async def insert_rows(conn: Connection, rows: list[NewMessage]) -> list[Added]:
    """Store `rows` on SQLite, in the caller's writing transaction."""
    dialect = conn.dialect
    now = dialect.now()
    rules = RoomRules(conn, now)
    added = []
    originals: list[Row] = []
    for row in rows:
        outgoing = row.outgoing
        key = (row.room_id, row.sender_id, outgoing.client_msg_id)
        # A resend is found before the insert: a conflicting insert would still take an
        # id (AUTOINCREMENT), a gap in the positions.
        original = (
            None if outgoing.client_msg_id is None else await conn.fetchrow(_ORIGINAL_MESSAGE, *key)
        )
        stored = (
            None
            if original is not None
            else await conn.fetchrow(_INSERT_MESSAGE, *inserted_values(row), now)
        )
        if stored is not None:
            # After the insert, so a resend still answers its original.
            await rules.check(row)
            if outgoing.mentions:
                await remember_mentions(conn, row.room_id, stored["id"], outgoing.mentions)
            added.append(Added(message_from_row(stored, dialect), new=True))
            continue
        # A resend: answer with the original (the write lock is ours, so it cannot have
        # changed since the look). (A conflict the look missed cannot happen while the
        # lock is ours; read it if so.)
        if original is None:
            original = await conn.fetchrow(_ORIGINAL_MESSAGE, *key)
            assert original is not None
        originals.append(original)
        added.append(Added(message_from_row(original, dialect), new=False))
    # The write lock is ours: nothing can be deleted between this look and the commit.
    await _refuse_replies_to_deleted(conn, rows)
    return await _attach(conn, rows, added, originals)


def _columns(rows: list[NewMessage]) -> list[list[object]]:
    """The batch insert's parameters: one array per column (`INSERTED`)."""
    return [[inserted.value(row) for row in rows] for inserted in INSERTED]


async def _added(
    conn: Connection, rows: list[NewMessage], inserted: list[Row]
) -> tuple[list[Added], list[Row]]:
    """Each of `rows` as stored: its inserted row, or its original if it was a resend;
    and the originals' rows."""
    # Match rows to what came back, in order: a row without a client id is always
    # stored; one with a client id is stored unless it was a resend.
    dialect = conn.dialect
    added: list[Added | NewMessage] = []
    fresh = iter(inserted)
    candidate = next(fresh, None)
    for row in rows:
        if candidate is not None and (
            row.outgoing.client_msg_id is None
            or (candidate["room_id"], candidate["sender_id"], candidate["client_msg_id"])
            == (row.room_id, row.sender_id, row.outgoing.client_msg_id)
        ):
            added.append(Added(message_from_row(candidate, dialect), new=True))
            candidate = next(fresh, None)
        else:
            added.append(row)
    resent = [row for row in added if isinstance(row, NewMessage)]
    if not resent:
        return cast(list[Added], added), []  # no resends: every item is an Added
    # A second statement, so it sees originals that committed while this insert
    # waited for the id lock (the insert's own snapshot is older than that).
    found = await conn.fetch(
        _ORIGINAL_MESSAGES,
        [row.room_id for row in resent],
        [row.sender_id for row in resent],
        [row.outgoing.client_msg_id for row in resent],
    )
    originals = {(r["room_id"], r["sender_id"], r["client_msg_id"]): r for r in found}
    result = [
        Added(
            message_from_row(
                originals[(item.room_id, item.sender_id, item.outgoing.client_msg_id)], dialect
            ),
            new=False,
        )
        if isinstance(item, NewMessage)
        else item
        for item in added
    ]
    return result, found


async def _attach(
    conn: Connection, rows: list[NewMessage], added: list[Added], originals: list[Row]
) -> list[Added]:
    """Attach each new message's files; a resend answers with its original's files
    (`originals`: their rows; one more query, if one carries files)."""
    carried = await files_of_messages(conn, ids_with_files(originals))
    result = []
    for row, item in zip(rows, added, strict=True):
        files_sent = row.outgoing.files
        if item.new and files_sent:
            files = await attach_files(conn, item.message.id, row.sender_id, files_sent)
            item = Added(replace(item.message, files=files), new=True)
        elif not item.new and item.message.id in carried:
            item = Added(replace(item.message, files=carried[item.message.id]), new=False)
        result.append(item)
    return result


async def _refuse_replies_to_deleted(conn: Connection, rows: list[NewMessage]) -> None:
    """Raise `InvalidInput` (the transaction rolls back) if a row of the batch answers a
    message deleted since the caller checked it (the caller holds the positions lock or
    the write lock, which deletions take too)."""
    answered = {
        row.outgoing.reply_to: row.room_id for row in rows if row.outgoing.reply_to is not None
    }
    if not answered:
        return
    dialect = conn.dialect
    sql = _DELETED_AMONG.format(ids=dialect.values(1))
    deleted = await conn.fetchval(sql, dialect.list_param(list(answered)))
    if deleted is not None:
        raise not_a_message_of_room(deleted, answered[deleted])
