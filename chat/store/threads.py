"""Threads: the `Threads` role (a thread's pages, a room's threads by last activity).

A thread is its root (a message of the room outside any thread) and the messages whose
``thread_id`` names it (chat/store/message_batches.py stores them; the service checks the
root). A thread's page reads the root's row by its primary key and the replies through
the partial index ``messages_by_thread``. A room's threads are read from their summaries
(`chat.store.thread_summaries`), each root as it is now, carrying its own.

Following (``thread_follows``, one row per user and thread): the transaction that stores
a thread reply makes its sender a follower, read up to it, and its root's author and
the people it mentions followers unless they chose otherwise (`remember_followers`);
the rest is the people's own choice and reading. A followed thread's unread count is a
range scan of ``messages_by_thread`` after the marker, so a list of hundreds of followed
threads costs one probe of that index per thread.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import cast

from chat.core.records import Change, Message, ThreadSummary
from chat.core.thread_records import THREAD_UNREAD_CAP, FollowedThread, ThreadFollows
from chat.store.base import StoreBase
from chat.store.database import NO_UPPER_BOUND, Connection
from chat.store.dialect import Dialect
from chat.store.files import messages_with_files
from chat.store.message_rows import MESSAGE_SELECT
from chat.store.thread_summaries import refresh, stale_threads

#: PostgreSQL's positions lock (sql/postgres/0012_message_changes.sql).
_LOCK_POSITIONS = "SELECT chat_lock_positions()"

#: Whether message $2 is one of room $1's that may root a thread: one outside any thread
#: (a tombstone too: its replies stay readable).
_IS_ROOT = "SELECT 1 FROM messages WHERE id = $2 AND room_id = $1 AND thread_id IS NULL"

_IN_THREAD = "m.room_id = $1 AND (m.thread_id = $2 OR m.id = $2)"

#: A page of thread $2 of room $1 (the root and its replies) with $4 < id < $3, newest
#: first, at most $5.
_THREAD_BEFORE = (
    f"{MESSAGE_SELECT} WHERE {_IN_THREAD} AND m.id < $3 AND m.id > $4 ORDER BY m.id DESC LIMIT $5"
)

#: The oldest $4 of thread $2 of room $1 newer than message $3.
_THREAD_AFTER = f"{MESSAGE_SELECT} WHERE {_IN_THREAD} AND m.id > $3 ORDER BY m.id LIMIT $4"

#: Room $1's threads with replies that show, the most recently answered first (by their
#: newest reply's time, then the newest summary), at most $2.
_ROOM_THREADS = (
    "SELECT root_id FROM thread_summaries WHERE room_id = $1 AND replies > 0"
    " ORDER BY last_reply_at DESC, seq DESC LIMIT $2"
)

_MESSAGES_AMONG = f"{MESSAGE_SELECT} WHERE {{ids}}"

_CREATED_AMONG = "SELECT id, created_at FROM messages WHERE {ids}"

_THREAD_ROOM = "SELECT room_id FROM messages WHERE id = $1 AND thread_id IS NULL"

#: Who a new thread reply makes a follower. Its sender ($1) follows, even after choosing
#: not to, and has read up to it ($4); {greatest} is the engine's two-argument maximum.
_FOLLOW_AS_REPLIER = (
    "INSERT INTO thread_follows (user_id, thread_id, room_id, following, read_id)"
    " VALUES ($1, $2, $3, $5, $4)"
    " ON CONFLICT (user_id, thread_id) DO UPDATE SET following = excluded.following,"
    " read_id = {greatest}(thread_follows.read_id, excluded.read_id)"
)
#: ...each user it mentions ($1) follows, unless they chose not to, with the thread
#: unread from its root on...
_FOLLOW_AS_NAMED = (
    "INSERT INTO thread_follows (user_id, thread_id, room_id, following, read_id)"
    " VALUES ($1, $2, $3, $4, $2)"
    " ON CONFLICT (user_id, thread_id) DO UPDATE SET following = excluded.following"
    " WHERE thread_follows.following IS NULL"
)
#: ...and so does the author of root $1, unless among its repliers ({repliers}, list
#: parameter $3, who follow as repliers): no read of the authors first.
_FOLLOW_AS_AUTHOR = (
    "INSERT INTO thread_follows (user_id, thread_id, room_id, following, read_id)"
    " SELECT r.sender_id, r.id, r.room_id, $2, r.id FROM messages AS r"
    " WHERE r.id = $1 AND r.sender_id NOT IN ({repliers})"
    " ON CONFLICT (user_id, thread_id) DO UPDATE SET following = excluded.following"
    " WHERE thread_follows.following IS NULL"
)

#: What `remember_followers` writes, as a common table expression of the PostgreSQL
#: statement that stores a batch (chat.store.message_batches), from its stored rows
#: ``m``: one row per user and thread, a replier's (read up to their newest reply) over
#: the root author's or a named user's (read from the root on, the root's own id). A
#: marker past the root is what tells a replier's row from the others in the conflict.
FOLLOWS_OF_STORED_REPLIES = (
    "f AS (INSERT INTO thread_follows (user_id, thread_id, room_id, following, read_id)"
    " SELECT DISTINCT ON (w.user_id, w.thread_id) w.user_id, w.thread_id, w.room_id, true,"
    " w.read_id FROM ("
    " SELECT sender_id AS user_id, thread_id, room_id, id AS read_id FROM m"
    " WHERE thread_id IS NOT NULL"
    " UNION ALL SELECT r.sender_id, r.id, r.room_id, r.id FROM messages AS r"
    " WHERE r.id IN (SELECT thread_id FROM m)"
    " UNION ALL SELECT j.uid::bigint, m.thread_id, m.room_id, m.thread_id"
    " FROM m CROSS JOIN LATERAL jsonb_array_elements_text(m.mentions::jsonb) AS j(uid)"
    " WHERE m.thread_id IS NOT NULL AND m.mentions IS NOT NULL) AS w"
    " ORDER BY w.user_id, w.thread_id, w.read_id DESC"
    " ON CONFLICT (user_id, thread_id) DO UPDATE"
    " SET following = excluded.read_id > excluded.thread_id"
    " OR coalesce(thread_follows.following, true),"
    " read_id = greatest(thread_follows.read_id, excluded.read_id)"
    # Only a row that changes is written anew: the author's, a named one's, is mostly not.
    " WHERE thread_follows.following IS NULL OR (excluded.read_id > excluded.thread_id"
    " AND (NOT thread_follows.following OR thread_follows.read_id < excluded.read_id)))"
)

#: A follow or an unfollow by choice ($4); a first one has read the thread to its newest.
_CHOOSE = (
    "INSERT INTO thread_follows (user_id, thread_id, room_id, following, read_id)"
    " VALUES ($1, $2, $3, $4,"
    " coalesce((SELECT max(id) FROM messages WHERE thread_id = $2), $2))"
    " ON CONFLICT (user_id, thread_id) DO UPDATE SET following = excluded.following"
)

#: The marker moved up to $4, never back; NULL `following`: reading is no choice.
#: Whether user $1 follows thread $2 (no row, or NULL: not).
_FOLLOWS = "SELECT following FROM thread_follows WHERE user_id = $1 AND thread_id = $2"

_MARK_READ = (
    "INSERT INTO thread_follows (user_id, thread_id, room_id, following, read_id)"
    " VALUES ($1, $2, $3, NULL, $4)"
    " ON CONFLICT (user_id, thread_id) DO UPDATE"
    " SET read_id = {greatest}(thread_follows.read_id, excluded.read_id)"
    " RETURNING read_id"
)

#: Each root's author, and every row of its thread's follows (none: NULLs).
_FOLLOWS_AMONG = (
    "SELECT r.id AS thread_id, r.sender_id AS author_id, f.user_id, f.following"
    " FROM messages AS r LEFT JOIN thread_follows AS f ON f.thread_id = r.id"
    " WHERE {ids}"
)

#: The unread replies of followed thread t: others', that show, after the marker.
_UNREAD_REPLIES = (
    "FROM messages AS m WHERE m.thread_id = t.thread_id AND m.id > t.read_id"
    " AND m.sender_id <> $1 AND m.deleted_at IS NULL"
)
#: The threads user $1 follows in the rooms they may read (lobby $2, one of theirs, or a
#: support thread if they are an operator, $4),
#: newest reply first (a thread without replies by its root), at most $3.
_FOLLOWED = f"""
SELECT t.thread_id, t.room_id, t.read_id, t.last_id,
       (SELECT count(*) FROM (SELECT 1 {_UNREAD_REPLIES} LIMIT {THREAD_UNREAD_CAP}) AS u)
           AS unread,
       (SELECT count(*) FROM (
            SELECT 1 {_UNREAD_REPLIES}
              AND (m.mentions_room OR EXISTS (
                   SELECT 1 FROM message_mentions AS n
                   WHERE n.user_id = $1 AND n.room_id = t.room_id AND n.message_id = m.id))
            LIMIT {THREAD_UNREAD_CAP}) AS n) AS mentions
FROM (SELECT f.thread_id, f.room_id, f.read_id,
             (SELECT max(m.id) FROM messages AS m
              WHERE m.thread_id = f.thread_id AND m.deleted_at IS NULL) AS last_id
      FROM thread_follows AS f
      WHERE f.user_id = $1 AND f.following
        AND (f.room_id = $2 OR EXISTS (
             SELECT 1 FROM room_members AS r WHERE r.room_id = f.room_id AND r.user_id = $1)
             OR ($4 AND EXISTS (
             SELECT 1 FROM rooms AS s WHERE s.id = f.room_id AND s.kind = 'support')))
     ) AS t
ORDER BY coalesce(t.last_id, t.thread_id) DESC
LIMIT $3
"""


def _greatest(dialect: Dialect) -> str:
    """The engine's two-argument maximum."""
    return dialect.pick(sqlite="max", postgres="greatest")


async def remember_followers(conn: Connection, replies: Sequence[Message]) -> None:
    """Make the followers of each of `replies` (new thread replies, in the transaction
    that stores them): its sender, its root's author, the people it mentions. A batch
    costs two statements however many replies it holds, a third if they mention anyone
    (the same follower of the same thread is written once, read up to their newest
    reply; a replier is not written again as named)."""
    if not replies:
        return
    dialect = conn.dialect
    repliers: dict[tuple[int, int], tuple[int, int]] = {}  # (user, thread) -> (room, read)
    by_thread: dict[int, list[int]] = {}  # thread -> its repliers
    for reply in replies:
        assert reply.thread_id is not None
        repliers[(reply.sender_id, reply.thread_id)] = (reply.room_id, reply.id)  # id order
        by_thread.setdefault(reply.thread_id, []).append(reply.sender_id)
    await conn.executemany(
        _FOLLOW_AS_REPLIER.format(greatest=_greatest(dialect)),
        [(user, thread, room, read, True) for (user, thread), (room, read) in repliers.items()],
    )
    await conn.executemany(
        _FOLLOW_AS_AUTHOR.format(repliers=dialect.values(3)),
        [(thread, True, dialect.list_param(users)) for thread, users in sorted(by_thread.items())],
    )
    named = {
        (user_id, reply.thread_id): reply.room_id
        for reply in replies
        for user_id in reply.mentions
        if (user_id, reply.thread_id) not in repliers
    }
    if named:
        await conn.executemany(
            _FOLLOW_AS_NAMED,
            [(user, thread, room, True) for (user, thread), room in sorted(named.items())],
        )


async def _followed(
    conn: Connection, user_id: int, lobby_id: int, limit: int, operator: bool
) -> list[FollowedThread]:
    rows = await conn.fetch(_FOLLOWED, user_id, lobby_id, limit, operator)
    dialect = conn.dialect
    last_ids = [row["last_id"] for row in rows if row["last_id"] is not None]
    created = {}
    if last_ids:
        sql = _CREATED_AMONG.format(ids=dialect.is_among("id", 1))
        for row in await conn.fetch(sql, dialect.list_param(last_ids)):
            created[row["id"]] = dialect.moment(row["created_at"])
    return [
        FollowedThread(
            thread_id=row["thread_id"],
            room_id=row["room_id"],
            read_id=row["read_id"],
            last_reply_id=row["last_id"],
            last_reply_at=created.get(row["last_id"]),
            unread=int(row["unread"]),
            mentions=int(row["mentions"]),
        )
        for row in rows
    ]


async def _page_before(
    conn: Connection, room_id: int, root_id: int, before: int, after: int, limit: int
) -> list[Message]:
    rows = await conn.fetch(_THREAD_BEFORE, room_id, root_id, before, after, limit)
    return await messages_with_files(conn, rows)


async def _page_after(
    conn: Connection, room_id: int, root_id: int, after: int, limit: int
) -> list[Message]:
    rows = await conn.fetch(_THREAD_AFTER, room_id, root_id, after, limit)
    return await messages_with_files(conn, rows[::-1])


async def _room_threads(
    conn: Connection, room_id: int, limit: int
) -> list[tuple[Message, ThreadSummary]]:
    root_ids = [row["root_id"] for row in await conn.fetch(_ROOM_THREADS, room_id, limit)]
    if not root_ids:
        return []
    dialect = conn.dialect
    sql = _MESSAGES_AMONG.format(ids=dialect.is_among("m.id", 1))
    roots = {
        m.id: m
        for m in await messages_with_files(
            conn, await conn.fetch(sql, dialect.list_param(root_ids))
        )
    }
    # Each root carries its summary (`chat.store.thread_summaries`), read with it.
    return [
        (roots[root_id], summary)
        for root_id in root_ids
        if root_id in roots and (summary := roots[root_id].thread) is not None
    ]


async def _refresh(conn: Connection, root_ids: Sequence[int]) -> list[Change]:
    # SQLite: BEGIN IMMEDIATE holds the write lock to the commit. PostgreSQL: the
    # positions lock, before the summaries are read, so that a refresh elsewhere (or a
    # deletion's recount) counts after this one, from what it wrote.
    async with conn.transaction():
        lock = conn.dialect.pick(sqlite=None, postgres=_LOCK_POSITIONS)
        if lock is not None:
            await conn.execute(lock)
        return await refresh(conn, root_ids)


class StoredThreads(StoreBase):
    """`Threads`: a thread's pages, and a room's threads."""

    async def is_thread_root(self, room_id: int, message_id: int) -> bool:
        return await self.db.fetchval(_IS_ROOT, room_id, message_id) is not None

    async def thread_before(
        self, room_id: int, root_id: int, before_id: int | None, limit: int, *, after_id: int = 0
    ) -> list[Message]:
        below = NO_UPPER_BOUND if before_id is None else before_id
        return await self.db.run(_page_before, room_id, root_id, below, after_id, limit)

    async def thread_after(
        self, room_id: int, root_id: int, after_id: int, limit: int
    ) -> list[Message]:
        return await self.db.run(_page_after, room_id, root_id, after_id, limit)

    async def room_threads(self, room_id: int, limit: int) -> list[tuple[Message, ThreadSummary]]:
        return await self.db.run(_room_threads, room_id, limit)

    async def thread_room(self, thread_id: int) -> int | None:
        return cast("int | None", await self.db.fetchval(_THREAD_ROOM, thread_id))

    async def refresh_thread_summaries(self, root_ids: Sequence[int]) -> list[Change]:
        return await self.db.run(_refresh, root_ids)

    async def stale_threads(self, after: int) -> tuple[list[tuple[int, int]], int]:
        return await self.db.run(stale_threads, after)

    async def follow_thread(
        self, user_id: int, room_id: int, thread_id: int, *, following: bool
    ) -> None:
        await self.db.execute(_CHOOSE, user_id, thread_id, room_id, following)

    async def follows_thread(self, user_id: int, thread_id: int) -> bool:
        return bool(await self.db.fetchval(_FOLLOWS, user_id, thread_id))

    async def mark_thread_read(
        self, user_id: int, room_id: int, thread_id: int, message_id: int
    ) -> int:
        sql = _MARK_READ.format(greatest=_greatest(self.dialect))
        return cast(int, await self.db.fetchval(sql, user_id, thread_id, room_id, message_id))

    async def thread_follows(self, thread_ids: Collection[int]) -> dict[int, ThreadFollows]:
        if not thread_ids:
            return {}
        sql = _FOLLOWS_AMONG.format(ids=self.dialect.is_among("r.id", 1))
        authors: dict[int, int] = {}
        states: dict[int, dict[int, bool | None]] = {}
        for row in await self.db.fetch(sql, self.dialect.list_param(sorted(thread_ids))):
            authors[row["thread_id"]] = row["author_id"]
            thread_states = states.setdefault(row["thread_id"], {})
            if row["user_id"] is not None:
                following = row["following"]
                thread_states[row["user_id"]] = None if following is None else bool(following)
        return {thread: ThreadFollows(authors[thread], states[thread]) for thread in authors}

    async def followed_threads(
        self, user_id: int, lobby_id: int, limit: int, *, operator: bool
    ) -> list[FollowedThread]:
        return await self.db.run(_followed, user_id, lobby_id, limit, operator)
