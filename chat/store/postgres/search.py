"""The PostgreSQL store's `Search`: one GIN index of rooms and pg_trgm's trigrams
(sql/postgres/0018_search.sql) answers `ARRAY[room_id] && rooms` with
`body ILIKE '%word%'` for each word of three characters or more in one scan, so only
matches in the rooms the user may read are fetched; shorter words are checked on the
rows found (they have no trigram to look up)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..records import Message, SearchFilter
from ..shared.messages import MESSAGE_COLUMNS
from ..shared.rows import NO_UPPER_BOUND
from ..shared.search import READABLE_ROOMS_SQL, like_pattern
from .base import PostgresBase
from .files import messages_with_files

if TYPE_CHECKING:
    import asyncpg

_READABLE_ROOMS = READABLE_ROOMS_SQL.format(admin="$1", user="$2")


def _search_sql(search: SearchFilter, rooms: list[int]) -> tuple[str, list[Any]]:
    values: list[Any] = [rooms, NO_UPPER_BOUND if search.before_id is None else search.before_id]
    conditions = []
    for word in search.words:
        values.append(like_pattern(word))
        conditions.append(f" AND m.body ILIKE ${len(values)}")
    for word in search.short_words:
        # Not indexable on purpose: the planner checks it on the rows the others find.
        values.append(word.lower())
        conditions.append(f" AND strpos(lower(m.body), ${len(values)}) > 0")
    if search.sender_id is not None:
        values.append(search.sender_id)
        conditions.append(f" AND m.sender_id = ${len(values)}")
    values.append(search.limit)
    sql = (
        f"SELECT {MESSAGE_COLUMNS} FROM messages AS m JOIN users AS u ON u.id = m.sender_id"
        # The rooms as an array overlap, which the index answers together with the
        # words (`m.room_id = ANY($1)` it cannot: that would be left to the table).
        " WHERE ARRAY[m.room_id] && $1::bigint[] AND m.id < $2 AND m.deleted_at IS NULL"
        f"{''.join(conditions)} ORDER BY m.id DESC LIMIT ${len(values)}"
    )
    return sql, values


async def _aio_search(pool: asyncpg.Pool, search: SearchFilter) -> list[Any]:
    async with pool.acquire() as conn, conn.transaction():
        # Planned for these very words, every time: how many rows a pattern matches
        # decides between walking the newest ids (a common word) and the trigram index
        # (a rare one), and a generic plan, which asyncpg's prepared statements would
        # get after five runs, knows neither.
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        readable = {
            row[0] for row in await conn.fetch(_READABLE_ROOMS, search.admin, search.user_id)
        }
        if search.room_id is not None:
            readable &= {search.room_id}
        if not readable:
            return []
        sql, values = _search_sql(search, sorted(readable))
        return list(await conn.fetch(sql, *values))


class PostgresSearch(PostgresBase):
    """`Search` on PostgreSQL."""

    async def search_messages(self, search: SearchFilter) -> list[Message]:
        rows = await self._call(_aio_search, self._pool, search)
        return await messages_with_files(self, rows)

    async def index_new_messages(self, limit: int) -> int:
        return 0  # the GIN index takes each message as it is inserted
