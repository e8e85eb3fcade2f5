"""Storing a batch of new messages (`Messages.add_messages`): one strategy per kind of
engine, chosen by `Dialect.inserts_from_arrays`.

- `insert_arrays` (PostgreSQL): the usual batch (no files) is one statement that reads
  its room rules and inserts every row from one array per column, unless the rules hold
  it back (or a message it answers is gone), and writes its threads' followers: one
  trip to the database (docs/PERFORMANCE.md, "Running a room"). Any other batch is one
  transaction: rules read, insert, rules checked on the new rows.
- `insert_rows` (SQLite): a row at a time in the caller's writing transaction, which
  holds the one write lock from its BEGIN IMMEDIATE to its commit.

Both answer a resend (a `client_msg_id` its sender already used in the room) with its
original, attach files and refuse replies to messages (and thread replies to roots)
deleted or removed meanwhile. Ids commit in
id order: PostgreSQL's insert takes the positions lock (sql/postgres/0004_cluster.sql),
SQLite has one writer.
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
    message_from_row,
    message_from_select,
    not_a_message_of_room,
    not_a_thread_of_room,
)
from chat.store.room_rules import HELD_SQL, RULES_SQL, RoomRules, batch_rules
from chat.store.threads import FOLLOWS_OF_STORED_REPLIES, remember_followers

#: Which of the messages a batch answers (list parameter $1) still show.
_SHOWING_AMONG = "SELECT id FROM messages WHERE {ids} AND deleted_at IS NULL"

# --- PostgreSQL: one array per column -------------------------------------------------

#: The fewest rows a batch's arrays carry. PostgreSQL counts an array's elements when it
#: plans for the values at hand (a custom plan) but guesses ten for its generic plan; a
#: batch of a few messages then always looks cheaper planned afresh, and planning this
#: statement costs several times running it once the tables hold real numbers of rows
#: (docs/PERFORMANCE.md, "Committing a batch on PostgreSQL"). Padded to ten, a custom
#: plan costs what the generic one does, and PostgreSQL keeps the generic plan after
#: its first five custom ones.
PLANNED_ROWS = 10

_ARRAYS = ", ".join(f"${n}::{inserted.pg_type}[]" for n, inserted in enumerate(INSERTED, 1))

# One statement for the whole batch, inserted in the batch's order (ORDER BY ord), so ids
# increase in that order. {gate}: a condition every row must also meet ("" for none).
_INSERT_ROWS = (
    f"m AS (INSERT INTO messages ({INSERTED_COLUMNS})"
    f" SELECT {INSERTED_COLUMNS} FROM unnest({_ARRAYS})"
    f" WITH ORDINALITY AS t({INSERTED_COLUMNS}, ord)"
    # A resend is left out before it takes an id: an id not stored is a gap in the
    # positions, which other instances settle from the table (chat.app.messages.writer).
    # ON CONFLICT stays for originals this snapshot cannot see (committed while the
    # insert waited for the lock) and resends within the batch: those take an id, rarely.
    # Rows without a room are the padding (`PLANNED_ROWS`).
    " WHERE t.room_id IS NOT NULL"
    " AND {gate}(t.client_msg_id IS NULL OR NOT EXISTS (SELECT 1 FROM messages AS o"
    " WHERE o.room_id = t.room_id AND o.sender_id = t.sender_id"
    " AND o.client_msg_id = t.client_msg_id))"
    " ORDER BY ord"
    " ON CONFLICT (room_id, sender_id, client_msg_id) WHERE client_msg_id IS NOT NULL"
    " DO NOTHING RETURNING *),"
    # Who the stored messages mention (sql/postgres/0014_mentions.sql): a data-modifying
    # CTE runs whether or not the query reads it.
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

# The usual batch: its (room, sender) pairs' rules read (`g`), the rows inserted only if
# none holds its messages back (chat.store.room_rules). One trip instead of two, a round
# trip less of every message's latency. The first column says whether the batch went
# through (a row with it and no message when nothing was stored).
_RULES_OF_PAIRS = (
    "p AS (SELECT DISTINCT q.room_id, q.user_id"
    " FROM unnest($1::bigint[], $2::bigint[]) AS q(room_id, user_id)),"
    " g AS (SELECT NOT EXISTS (SELECT 1 FROM ("
    + RULES_SQL.format(pairs="p", now="clock_timestamp()")
    + f") AS x WHERE ({HELD_SQL})) AS clear)"
)
_INSERT_CLEAR_MESSAGES = (
    f"WITH {_RULES_OF_PAIRS}, "
    + _INSERT_ROWS.format(gate="(SELECT clear FROM g) AND ")
    + f" SELECT g.clear, {MESSAGE_COLUMNS}"
    " FROM g LEFT JOIN (m JOIN users AS u ON u.id = m.sender_id) ON true ORDER BY m.id"
)

# A usual batch of replies and thread replies, in one trip too: also gated on the
# messages it answers still showing (`h`, looked at under the positions lock: sql/
# postgres/0035_showing_under_lock.sql), and writing its threads' followers (`f`), as
# the batch's transaction does otherwise (`_in_threads`; tests/test_store_threads.py).
_INSERT_CLEAR_ANSWERS = (
    f"WITH {_RULES_OF_PAIRS},"
    f" h AS (SELECT chat_showing_under_lock(${len(INSERTED) + 1}::bigint[]) AS showing), "
    + _INSERT_ROWS.format(gate="(SELECT clear FROM g) AND (SELECT showing FROM h) AND ")
    + f", {FOLLOWS_OF_STORED_REPLIES}"
    + f" SELECT g.clear AND h.showing AS clear, {MESSAGE_COLUMNS}"
    " FROM g CROSS JOIN h LEFT JOIN (m JOIN users AS u ON u.id = m.sender_id) ON true"
    " ORDER BY m.id"
)

_ORIGINAL_MESSAGES = (
    f"{MESSAGE_SELECT} WHERE (m.room_id, m.sender_id, m.client_msg_id) IN"
    " (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[]))"
)

# --- SQLite: a row at a time ----------------------------------------------------------

_INSERT_MESSAGE = (
    f"INSERT INTO messages ({INSERTED_COLUMNS}, created_at)"
    f" VALUES ({', '.join(f'${n}' for n in range(1, len(INSERTED) + 2))})"
    " ON CONFLICT (room_id, sender_id, client_msg_id) WHERE client_msg_id IS NOT NULL"
    " DO NOTHING"
    f" RETURNING {STORED_COLUMNS},"
    " (SELECT name FROM users WHERE users.id = sender_id) AS sender_name,"
    " (SELECT display_name FROM users WHERE users.id = sender_id) AS sender_display_name,"
    " (SELECT avatar_key FROM users WHERE users.id = sender_id) AS sender_avatar,"
    " (SELECT kind = 'bot' FROM users WHERE users.id = sender_id) AS sender_is_bot"
)

_ORIGINAL_MESSAGE = (
    f"{MESSAGE_SELECT} WHERE m.room_id = $1 AND m.sender_id = $2 AND m.client_msg_id = $3"
)


async def insert_arrays(conn: Connection, rows: list[NewMessage]) -> list[Added]:
    """PostgreSQL, outside any transaction (it opens its own)."""
    if not any(row.outgoing.files for row in rows):
        answered = _answered(rows)
        if answered:
            columns = [*_columns(rows), list(answered)]
            inserted = await conn.fetch(_INSERT_CLEAR_ANSWERS, *columns)
        else:
            inserted = await conn.fetch(_INSERT_CLEAR_MESSAGES, *_columns(rows))
        if inserted[0]["clear"]:
            stored = [record for record in inserted if record["id"] is not None]
            return (await _added(conn, rows, stored))[0]
    # Files, rules that may refuse or slow, or an answered message gone: one
    # transaction, so that files are attached with the message or not at all, the rules
    # are checked on the new rows (a refusal rolls the insert back) and replies' targets
    # and threads' roots are looked at under the positions lock the insert takes.
    rules = await batch_rules(conn, rows)
    async with conn.transaction():
        inserted = await conn.fetch(_INSERT_MESSAGES, *_columns(rows))
        added, originals = await _added(conn, rows, inserted)
        if rules is not None:
            await rules.check_new(rows, added)
        # After the insert, so its snapshot sees every deletion committed before the
        # insert got the positions lock (deletions take it too).
        await _refuse_replies_to_deleted(conn, rows)
        return await _in_threads(conn, await _attach(conn, rows, added, originals))


async def insert_rows(conn: Connection, rows: list[NewMessage]) -> list[Added]:
    """SQLite, in the caller's writing transaction."""
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
        original = stored = None
        if outgoing.client_msg_id is not None:
            original = await conn.fetchrow(_ORIGINAL_MESSAGE, *key)
        if original is None:
            values = [inserted.value(row) for inserted in INSERTED]
            stored = await conn.fetchrow(_INSERT_MESSAGE, *values, now)
        if stored is not None:
            await rules.check(row)  # after the insert, so a resend still answers its original
            if outgoing.mentions:
                await remember_mentions(conn, row.room_id, stored["id"], outgoing.mentions)
            added.append(Added(message_from_row(stored, dialect), new=True))
            continue
        # A resend: the write lock is ours, so the original cannot have changed since the
        # look (nor can a conflict the look missed happen; read it if so).
        if original is None:
            original = await conn.fetchrow(_ORIGINAL_MESSAGE, *key)
            assert original is not None
        originals.append(original)
        added.append(Added(message_from_select(original, dialect), new=False))
    # The write lock is ours: nothing can be deleted between this look and the commit.
    await _refuse_replies_to_deleted(conn, rows)
    return await _in_threads(conn, await _attach(conn, rows, added, originals))


def _columns(rows: list[NewMessage]) -> list[list[object]]:
    """The batch as one array per column, padded to `PLANNED_ROWS` with rows of NULLs
    (which the insert skips)."""
    padding = [None] * (PLANNED_ROWS - len(rows))
    return [[inserted.value(row) for row in rows] + padding for inserted in INSERTED]


async def _added(
    conn: Connection, rows: list[NewMessage], inserted: list[Row]
) -> tuple[list[Added], list[Row]]:
    """Each of `rows` as stored (its original if it was a resend), and the originals'
    rows."""
    # In order: a row without a client id is always stored; one with a client id is
    # stored unless it was a resend.
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
        return cast(list[Added], added), []
    # A second statement, so it sees originals that committed while this insert
    # waited for the id lock (the insert's own snapshot is older than that).
    found = await conn.fetch(
        _ORIGINAL_MESSAGES,
        [row.room_id for row in resent],
        [row.sender_id for row in resent],
        [row.outgoing.client_msg_id for row in resent],
    )
    originals = {(r["room_id"], r["sender_id"], r["client_msg_id"]): r for r in found}
    result: list[Added] = []
    for item in added:
        if isinstance(item, NewMessage):
            original = originals[(item.room_id, item.sender_id, item.outgoing.client_msg_id)]
            item = Added(message_from_select(original, dialect), new=False)
        result.append(item)
    return result, found


async def _attach(
    conn: Connection, rows: list[NewMessage], added: list[Added], originals: list[Row]
) -> list[Added]:
    """Attach each new message's files; a resend answers with its original's files (one
    more query, if one carries files)."""
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


async def _in_threads(conn: Connection, added: list[Added]) -> list[Added]:
    """The threads the batch's new replies are in: their followers
    (`chat.store.threads.remember_followers`). Their summaries count them later
    (`chat.store.thread_summaries.refresh`)."""
    replies = [item.message for item in added if item.new and item.message.thread_id is not None]
    if replies:
        await remember_followers(conn, replies)
    return added


def _answered(rows: list[NewMessage]) -> dict[int, None]:
    """The messages the batch names that must still show: replies' targets and threads'
    roots, each once."""
    return dict.fromkeys(
        message_id
        for row in rows
        for message_id in (row.outgoing.reply_to, row.outgoing.thread_id)
        if message_id is not None
    )


async def _refuse_replies_to_deleted(conn: Connection, rows: list[NewMessage]) -> None:
    """Raise `InvalidInput` (the transaction rolls back) if a row answers a message, or
    replies in a thread whose root was, deleted (or removed by retention) since the
    caller checked it, or since the service remembered it showed
    (`chat.app.messages.known_places`). The caller holds the positions lock or the write
    lock, which deletions take too."""
    answered = {
        row.outgoing.reply_to: row.room_id for row in rows if row.outgoing.reply_to is not None
    }
    roots = {
        row.outgoing.thread_id: row.room_id for row in rows if row.outgoing.thread_id is not None
    }
    if not answered and not roots:
        return
    dialect = conn.dialect
    sql = _SHOWING_AMONG.format(ids=dialect.is_among("id", 1))
    named = [*answered, *roots]
    showing = {row["id"] for row in await conn.fetch(sql, dialect.list_param(named))}
    deleted = next((message_id for message_id in named if message_id not in showing), None)
    if deleted is None:
        return
    if deleted in answered:
        raise not_a_message_of_room(deleted, answered[deleted])
    raise not_a_thread_of_room(deleted, roots[deleted])
