"""The PostgreSQL store's `Search`: one GIN index of rooms and pg_trgm's trigrams
(sql/postgres/0018_search.sql) answers `ARRAY[room_id] && rooms` with
`body ILIKE '%word%'` for each word of three characters or more in one scan, so only
matches in the rooms the user may read are fetched; shorter words are checked on the
rows found (they have no trigram to look up).

A GIN index yields its matches in no order, and "the newest 20" of a common word would
mean fetching all of them; walking the newest ids instead reads every room's rows,
readable or not, until 20 match, without bound (bench/search.py: 170-350 ms either way
on a million messages, when the newest rows of a readable room match nothing). So a
search looks in windows of ids, newest first, each `WIDEN` times wider than the last,
until its page is full. In the first windows the planner may walk them (a common word
fills its page there, reading at most a window's rows); in wider ones only bitmap scans
are allowed (the index's matches in the window), so no walk is longer than
`WALKED_WINDOW` ids.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chat.core.records import Message, SearchFilter
from chat.store.postgres.base import PostgresBase
from chat.store.postgres.files import messages_with_files
from chat.store.shared.messages import MESSAGE_COLUMNS
from chat.store.shared.search import READABLE_ROOMS_SQL, like_pattern

if TYPE_CHECKING:
    import asyncpg

#: The ids of the newest window a search looks in, and how much wider each next one is.
FIRST_WINDOW = 50_000
WIDEN = 8
#: The widest window the planner may walk id by id; wider ones are read by the index.
WALKED_WINDOW = 50_000

_READABLE_ROOMS = READABLE_ROOMS_SQL.format(admin="$1", user="$2")
_NEXT_ID = "SELECT coalesce(max(id), 0) + 1 FROM messages"
_FOUND = (
    f"SELECT {MESSAGE_COLUMNS} FROM messages AS m JOIN users AS u ON u.id = m.sender_id"
    " WHERE m.id = ANY($1::bigint[]) ORDER BY m.id DESC"
)


def _window_sql(search: SearchFilter) -> tuple[str, list[Any]]:
    """The ids of a window's matches, newest first: $1 the rooms, $2 and $3 the window
    (low included, high not), the words, the sender, then the most wanted."""
    values: list[Any] = []
    conditions = []
    for word in search.words:
        values.append(like_pattern(word))
        conditions.append(f" AND m.body ILIKE ${len(values) + 3}")
    for word in search.short_words:
        # Not indexable on purpose: checked on the rows the others find.
        values.append(word.lower())
        conditions.append(f" AND strpos(lower(m.body), ${len(values) + 3}) > 0")
    if search.sender_id is not None:
        values.append(search.sender_id)
        conditions.append(f" AND m.sender_id = ${len(values) + 3}")
    sql = (
        "SELECT m.id FROM messages AS m"
        # The rooms as an array overlap, which the index answers together with the
        # words (`m.room_id = ANY($1)` it cannot: that would be left to the table).
        " WHERE ARRAY[m.room_id] && $1::bigint[] AND m.id >= $2 AND m.id < $3"
        f" AND m.deleted_at IS NULL{''.join(conditions)}"
        f" ORDER BY m.id DESC LIMIT ${len(values) + 4}"
    )
    return sql, values


async def _aio_search(pool: asyncpg.Pool, search: SearchFilter) -> list[Any]:
    async with pool.acquire() as conn, conn.transaction():
        readable = {
            row[0] for row in await conn.fetch(_READABLE_ROOMS, search.admin, search.user_id)
        }
        if search.room_id is not None:
            readable &= {search.room_id}
        if not readable:
            return []
        high = search.before_id or await conn.fetchval(_NEXT_ID)
        rooms = sorted(readable)
        # Planned for these very words, every time: a generic plan, which asyncpg's
        # prepared statements would get after five runs, knows nothing of how many rows
        # a pattern matches.
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        sql, values = _window_sql(search)
        found: list[int] = []
        window = FIRST_WINDOW
        walking = True
        while len(found) < search.limit and high > 1:
            if walking and window > WALKED_WINDOW:
                # From here on, bitmap scans only (until the transaction ends).
                await conn.execute("SET LOCAL enable_indexscan = off")
                await conn.execute("SET LOCAL enable_seqscan = off")
                walking = False
            low = max(1, high - window)
            wanted = search.limit - len(found)
            found += [row[0] for row in await conn.fetch(sql, rooms, low, high, *values, wanted)]
            high, window = low, window * WIDEN
        if not found:
            return []
        if not walking:
            await conn.execute("RESET enable_indexscan")
            await conn.execute("RESET enable_seqscan")
        return list(await conn.fetch(_FOUND, found))


class PostgresSearch(PostgresBase):
    """`Search` on PostgreSQL."""

    async def search_messages(self, search: SearchFilter) -> list[Message]:
        rows = await self._call(_aio_search, self._pool, search)
        return await messages_with_files(self, rows)

    async def index_new_messages(self, limit: int) -> int:
        return 0  # the GIN index takes each message as it is inserted
