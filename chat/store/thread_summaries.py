"""Thread summaries (``thread_summaries``, sql/*/NNNN_thread_summaries.sql): what a
thread's root shows of it, kept by the transactions that store and delete its replies.

Each change of a summary is also a `THREAD` change at a position of its own, in the one
stream: the row's ``seq``, taken anew each time. A batch of new replies adds to the
summaries it reads (`count_new_replies`: one read, and one write per thread); a deleted
reply's thread is counted again from its replies (`recount`), as who replied first and
when the newest was sent may change. The messages' own selects read a root's summary
with it (`THREAD_COLUMNS` through `THREAD_JOIN`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from chat.core.records import MAX_THREAD_PARTICIPANTS, THREAD, Change, Message, ThreadSummary
from chat.core.thread_records import summary_with_replies
from chat.store.database import Connection, Row
from chat.store.dialect import Dialect

#: A root's summary beside its message (``m``), for `thread_of_row`: NULL for no thread.
THREAD_COLUMNS = (
    "ts.replies AS thread_replies, ts.last_reply_at AS thread_last_reply_at,"
    " ts.participants AS thread_participants"
)
THREAD_JOIN = "LEFT JOIN thread_summaries AS ts ON ts.root_id = m.id"

#: A summary row's columns that make its `THREAD` change (`thread_change_from_row`).
_CHANGE_COLUMNS = (
    "root_id",
    "room_id",
    "seq",
    "replies",
    "last_reply_at",
    "participants",
    "changed_at",
)
#: What `thread_change_from_row` reads, from ``thread_summaries AS s``.
THREAD_CHANGE_COLUMNS = ", ".join(f"s.{column}" for column in _CHANGE_COLUMNS)
_RETURNING = " RETURNING " + ", ".join(_CHANGE_COLUMNS)

_SUMMARIES_AMONG = (
    f"SELECT {THREAD_CHANGE_COLUMNS} FROM thread_summaries AS s WHERE s.root_id IN ({{ids}})"
)

#: A thread's replies that show, counted again; who wrote them, each with their first.
_COUNT = (
    "SELECT count(*) AS replies, max(created_at) AS last_reply_at FROM messages"
    " WHERE thread_id = $1 AND deleted_at IS NULL"
)
_REPLIERS = (
    "SELECT sender_id, min(id) AS first_id FROM messages"
    " WHERE thread_id = $1 AND deleted_at IS NULL"
    f" GROUP BY sender_id ORDER BY first_id LIMIT {MAX_THREAD_PARTICIPANTS}"
)
#: What `count_new_replies` writes, as a common table expression of the PostgreSQL
#: statement that stores a batch (chat.store.message_batches), from its stored rows
#: ``m``: each thread's new replies added to its summary, the new repliers after the
#: known ones in the order each first replied. It reads ``m`` whole before its first
#: row, so each change's position follows the batch's replies'.
SUMMARIES_OF_STORED_REPLIES = (
    "s AS (INSERT INTO thread_summaries (root_id, room_id, replies, last_reply_at,"
    " participants)"
    " SELECT y.thread_id, min(y.room_id), count(*), max(y.created_at),"
    " (SELECT json_agg(p.sender_id ORDER BY p.first_id)::text FROM ("
    " SELECT x.sender_id, min(x.id) AS first_id FROM m AS x WHERE x.thread_id = y.thread_id"
    f" GROUP BY x.sender_id ORDER BY first_id LIMIT {MAX_THREAD_PARTICIPANTS}) AS p)"
    " FROM m AS y WHERE y.thread_id IS NOT NULL GROUP BY y.thread_id"
    " ON CONFLICT (root_id) DO UPDATE SET seq = nextval('messages_id_seq'),"
    " replies = thread_summaries.replies + excluded.replies,"
    " last_reply_at = excluded.last_reply_at,"
    # Merged only if someone new replied and there is room: most batches of a busy
    # thread are from people already named.
    " participants = CASE WHEN thread_summaries.participants::jsonb"
    " @> excluded.participants::jsonb"
    f" OR json_array_length(thread_summaries.participants::json) >= {MAX_THREAD_PARTICIPANTS}"
    " THEN thread_summaries.participants ELSE (SELECT json_agg(q.uid ORDER BY q.first)::text FROM ("
    " SELECT e.uid, min(e.o) AS first FROM ("
    " SELECT a.uid::bigint, a.o FROM json_array_elements_text(thread_summaries.participants::json)"
    " WITH ORDINALITY AS a(uid, o)"
    " UNION ALL SELECT b.uid::bigint, 1000 + b.o"
    " FROM json_array_elements_text(excluded.participants::json) WITH ORDINALITY AS b(uid, o)"
    f") AS e(uid, o) GROUP BY e.uid ORDER BY first LIMIT {MAX_THREAD_PARTICIPANTS}) AS q) END,"
    " changed_at = clock_timestamp()" + _RETURNING + ")"
)
#: Beside each thread's newest stored reply (``m``), the change its thread got (``s``),
#: the reply that carries it (`chat.core.thread_records.with_thread_changes`); NULLs
#: beside the others, so that a batch's answer holds each change once.
STORED_REPLY_CHANGE_COLUMNS = ", ".join(
    f"s.{column} AS change_{column}" for column in _CHANGE_COLUMNS
)
STORED_REPLY_CHANGE_JOIN = (
    "LEFT JOIN (s JOIN (SELECT thread_id, max(id) AS newest_id FROM m"
    " WHERE thread_id IS NOT NULL GROUP BY thread_id) AS l ON l.thread_id = s.root_id)"
    " ON l.newest_id = m.id"
)

#: Whether root $1's row is there, and whether its summary's is (NULL: not yet).
_ROOT_AND_SUMMARY = (
    "SELECT s.root_id FROM messages AS r"
    " LEFT JOIN thread_summaries AS s ON s.root_id = r.id WHERE r.id = $1"
)

#: PostgreSQL numbers and stamps a row by the columns' defaults, and an update anew (the
#: positions lock is held: the statement's trigger takes it before the first row).
_INSERT_POSTGRES = (
    "INSERT INTO thread_summaries (root_id, room_id, replies, last_reply_at, participants)"
    " VALUES ($1, $2, $3, $4, $5)" + _RETURNING
)
_UPDATE_POSTGRES = (
    "UPDATE thread_summaries SET seq = nextval('messages_id_seq'), replies = $3,"
    " last_reply_at = $4, participants = $5, changed_at = clock_timestamp()"
    " WHERE root_id = $1 AND room_id = $2" + _RETURNING
)
#: SQLite moves the messages' counter on by one (it has one writer).
_NEXT_POSITION_SQLITE = (
    "UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'messages' RETURNING seq"
)
_UPSERT_SQLITE = (
    "INSERT INTO thread_summaries"
    " (root_id, room_id, replies, last_reply_at, participants, seq, changed_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7)"
    " ON CONFLICT (root_id) DO UPDATE SET seq = excluded.seq, replies = excluded.replies,"
    " last_reply_at = excluded.last_reply_at, participants = excluded.participants,"
    " changed_at = excluded.changed_at" + _RETURNING
)


def _summary(replies: int, last: object, participants: str, dialect: Dialect) -> ThreadSummary:
    return ThreadSummary(
        replies=int(replies),
        last_reply_at=None if last is None else dialect.moment(last),
        participants=tuple(int(uid) for uid in json.loads(participants)),
    )


def thread_of_row(row: Row, dialect: Dialect) -> ThreadSummary | None:
    """The summary a message's row was read with (`THREAD_COLUMNS`): None if it roots no
    thread."""
    replies = row["thread_replies"]
    if replies is None:
        return None
    return _summary(replies, row["thread_last_reply_at"], row["thread_participants"], dialect)


def thread_change_from_row(row: Row, dialect: Dialect, *, prefix: str = "") -> Change:
    """A `THREAD` change from `THREAD_CHANGE_COLUMNS` (each named with `prefix`)."""
    return Change(
        seq=row[prefix + "seq"],
        room_id=row[prefix + "room_id"],
        message_id=row[prefix + "root_id"],
        kind=THREAD,
        at=dialect.moment(row[prefix + "changed_at"]),
        thread=_summary(
            row[prefix + "replies"],
            row[prefix + "last_reply_at"],
            row[prefix + "participants"],
            dialect,
        ),
    )


def stored_reply_changes(rows: Sequence[Row], dialect: Dialect) -> dict[int, Change]:
    """Root id -> the `THREAD` change its new replies made, from the rows of a batch
    stored with `SUMMARIES_OF_STORED_REPLIES` (`STORED_REPLY_CHANGE_COLUMNS`)."""
    return {
        row["thread_id"]: thread_change_from_row(row, dialect, prefix="change_")
        for row in rows
        if row["change_seq"] is not None
    }


async def _write(
    conn: Connection, root_id: int, room_id: int, summary: ThreadSummary, *, exists: bool
) -> Change:
    """Store `summary` as thread `root_id`'s, at the next position."""
    dialect = conn.dialect
    last = None if summary.last_reply_at is None else dialect.timestamp(summary.last_reply_at)
    participants = json.dumps(list(summary.participants))
    args = (root_id, room_id, summary.replies, last, participants)
    next_position = dialect.pick(sqlite=_NEXT_POSITION_SQLITE, postgres=None)
    if next_position is None:
        row = await conn.fetchrow(_UPDATE_POSTGRES if exists else _INSERT_POSTGRES, *args)
    else:
        position = await conn.fetchval(next_position)
        row = await conn.fetchrow(_UPSERT_SQLITE, *args, position, dialect.now())
    assert row is not None
    return thread_change_from_row(row, dialect)


async def count_new_replies(conn: Connection, replies: Sequence[Message]) -> dict[int, Change]:
    """Add `replies` (new thread replies of one commit, in id order, whose roots show) to
    their threads' summaries: root id -> the `THREAD` change made."""
    roots = list(dict.fromkeys(reply.thread_id for reply in replies if reply.thread_id))
    if not roots:
        return {}
    dialect = conn.dialect
    sql = _SUMMARIES_AMONG.format(ids=dialect.values(1))
    known = {
        row["root_id"]: thread_change_from_row(row, dialect).thread
        for row in await conn.fetch(sql, dialect.list_param(roots))
    }
    changes = {}
    for root_id in roots:
        added = [reply for reply in replies if reply.thread_id == root_id]
        summary = summary_with_replies(known.get(root_id), added)
        room_id = added[0].room_id
        changes[root_id] = await _write(conn, root_id, room_id, summary, exists=root_id in known)
    return changes


async def recount(conn: Connection, room_id: int, root_id: int) -> Change | None:
    """Count thread `root_id` again (a reply of it was deleted): the `THREAD` change made,
    or None if its root's row is gone (retention takes the root before its replies)."""
    root = await conn.fetchrow(_ROOT_AND_SUMMARY, root_id)
    if root is None:
        return None
    dialect = conn.dialect
    counted = await conn.fetchrow(_COUNT, root_id)
    assert counted is not None
    repliers = [row["sender_id"] for row in await conn.fetch(_REPLIERS, root_id)]
    last = counted["last_reply_at"]
    summary = ThreadSummary(
        replies=int(counted["replies"]),
        last_reply_at=None if last is None else dialect.moment(last),
        participants=tuple(repliers),
    )
    return await _write(conn, root_id, room_id, summary, exists=root["root_id"] is not None)
