"""Thread summaries (``thread_summaries``, sql/*/NNNN_thread_summaries.sql): what a
thread's root shows of it, brought up to its replies after they are stored.

A summary counts its thread's replies up to one of them (``counted_through``). Storing
replies does not touch it: `refresh` adds the replies after that one, in a transaction
of its own (`chat.app.messages.thread_summaries` asks, soon after a reply and at most a
few times a second for a busy thread: one row updated per batch would bloat it and its
indexes). A deleted reply's thread is counted again from its replies (`recount`), as who
replied first and when the newest was sent may change. `stale_threads` finds threads
whose replies nobody counted (an instance stopped first).

Each change of a summary is also a `THREAD` change at a position of its own, in the one
stream: the row's ``seq``, taken anew each time. The messages' own selects read a root's
summary with it (`THREAD_COLUMNS` through `THREAD_JOIN`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from chat.core.records import MAX_THREAD_PARTICIPANTS, THREAD, Change, ThreadSummary
from chat.core.thread_records import summary_with_repliers
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

#: A thread's replies after $2 (0: all of them): how many show, when the newest that
#: shows was sent, and the newest of them, shown or not (what the summary then counts
#: through: a deleted reply is counted by leaving it out).
_COUNT = (
    "SELECT count(*) FILTER (WHERE deleted_at IS NULL) AS replies,"
    " max(created_at) FILTER (WHERE deleted_at IS NULL) AS last_reply_at,"
    " max(id) AS through FROM messages WHERE thread_id = $1 AND id > $2"
)
#: Who wrote the thread's replies after $2 that show, each with their first of them.
_REPLIERS = (
    "SELECT sender_id, min(id) AS first_id FROM messages"
    " WHERE thread_id = $1 AND id > $2 AND deleted_at IS NULL"
    f" GROUP BY sender_id ORDER BY first_id LIMIT {MAX_THREAD_PARTICIPANTS}"
)

#: Root $1's row, and its summary's (NULL columns: none yet).
_ROOT_AND_SUMMARY = (
    "SELECT r.room_id, s.root_id, s.replies, s.last_reply_at, s.participants,"
    " s.counted_through FROM messages AS r"
    " LEFT JOIN thread_summaries AS s ON s.root_id = r.id WHERE r.id = $1"
)

#: The threads with replies in ($1, $2] that their summaries do not count, each with its
#: room: `stale_threads`.
_STALE = (
    "SELECT m.thread_id AS root_id, min(m.room_id) AS room_id FROM messages AS m"
    " LEFT JOIN thread_summaries AS s ON s.root_id = m.thread_id"
    " WHERE m.thread_id IS NOT NULL AND m.id > $1 AND m.id <= $2"
    " AND (s.root_id IS NULL OR m.id > s.counted_through) GROUP BY m.thread_id"
)
_NEWEST_MESSAGE = "SELECT coalesce(max(id), 0) FROM messages"

#: PostgreSQL numbers and stamps a row by the columns' defaults, and an update anew (the
#: positions lock is held: the statement's trigger takes it before the first row).
_INSERT_POSTGRES = (
    "INSERT INTO thread_summaries"
    " (root_id, room_id, replies, last_reply_at, participants, counted_through)"
    " VALUES ($1, $2, $3, $4, $5, $6)" + _RETURNING
)
_UPDATE_POSTGRES = (
    "UPDATE thread_summaries SET seq = nextval('messages_id_seq'), replies = $3,"
    " last_reply_at = $4, participants = $5, counted_through = $6,"
    " changed_at = clock_timestamp() WHERE root_id = $1 AND room_id = $2" + _RETURNING
)
#: SQLite moves the messages' counter on by one (it has one writer).
_NEXT_POSITION_SQLITE = (
    "UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'messages' RETURNING seq"
)
_UPSERT_SQLITE = (
    "INSERT INTO thread_summaries (root_id, room_id, replies, last_reply_at, participants,"
    " counted_through, seq, changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    " ON CONFLICT (root_id) DO UPDATE SET seq = excluded.seq, replies = excluded.replies,"
    " last_reply_at = excluded.last_reply_at, participants = excluded.participants,"
    " counted_through = excluded.counted_through, changed_at = excluded.changed_at" + _RETURNING
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


async def _write(
    conn: Connection,
    root_id: int,
    room_id: int,
    summary: ThreadSummary,
    *,
    through: int,
    exists: bool,
) -> Change:
    """Store `summary` as thread `root_id`'s, counting its replies up to `through`, at
    the next position."""
    dialect = conn.dialect
    last = None if summary.last_reply_at is None else dialect.timestamp(summary.last_reply_at)
    participants = json.dumps(list(summary.participants))
    args = (root_id, room_id, summary.replies, last, participants, through)
    next_position = dialect.pick(sqlite=_NEXT_POSITION_SQLITE, postgres=None)
    if next_position is None:
        row = await conn.fetchrow(_UPDATE_POSTGRES if exists else _INSERT_POSTGRES, *args)
    else:
        position = await conn.fetchval(next_position)
        row = await conn.fetchrow(_UPSERT_SQLITE, *args, position, dialect.now())
    assert row is not None
    return thread_change_from_row(row, dialect)


async def _counted(conn: Connection, root_id: int, *, anew: bool) -> tuple[Change | None, bool]:
    """Bring thread `root_id`'s summary up to its replies: add those after the ones it
    counts, or (`anew`) count them all again. The `THREAD` change made (None: nothing
    new, or its root is gone: retention takes a root before its replies), and whether
    the root is there."""
    root = await conn.fetchrow(_ROOT_AND_SUMMARY, root_id)
    if root is None:
        return None, False
    dialect = conn.dialect
    exists = root["root_id"] is not None
    before = None
    after = 0
    if exists and not anew:
        before = _summary(root["replies"], root["last_reply_at"], root["participants"], dialect)
        after = root["counted_through"]
    counted = await conn.fetchrow(_COUNT, root_id, after)
    assert counted is not None  # aggregates: always one row
    if counted["through"] is None and not anew:
        return None, True  # nothing after what it counts
    repliers = [row["sender_id"] for row in await conn.fetch(_REPLIERS, root_id, after)]
    last = counted["last_reply_at"]
    summary = summary_with_repliers(
        before,
        replies=int(counted["replies"]),
        last_reply_at=None if last is None else dialect.moment(last),
        repliers=repliers,
    )
    through = counted["through"] or after
    change = await _write(conn, root_id, root["room_id"], summary, through=through, exists=exists)
    return change, True


async def refresh(conn: Connection, root_ids: Sequence[int]) -> list[Change]:
    """Add to each thread's summary the replies stored since it was written (the caller
    holds the positions lock, or SQLite's write lock: no reply commits meanwhile, and no
    other refresh counts them too): the `THREAD` changes made, in position order."""
    changes = []
    for root_id in root_ids:
        change, _there = await _counted(conn, root_id, anew=False)
        if change is not None:
            changes.append(change)
    return changes


async def recount(conn: Connection, root_id: int) -> Change | None:
    """Count thread `root_id` again (a reply of it was deleted; the caller holds the
    positions lock): the `THREAD` change made, or None if its root's row is gone."""
    change, _there = await _counted(conn, root_id, anew=True)
    return change


async def stale_threads(conn: Connection, after: int) -> tuple[list[tuple[int, int]], int]:
    """The threads (root id, room id) with replies after position `after` that their
    summaries do not count yet, and the newest message this looked at: the next look's
    `after`. Ids commit in id order, so every reply up to it was committed when this
    looked, and one that was not counted then is listed."""
    newest = int(await conn.fetchval(_NEWEST_MESSAGE))
    rows = await conn.fetch(_STALE, after, newest)
    return [(row["root_id"], row["room_id"]) for row in rows], newest
