"""Full-text search of messages (sql/sqlite/0017_search.sql, sql/postgres/0018_search.sql):
the `Search` role. Each engine finds candidates with its own trigram index (FTS5's; a GIN
index of rooms and pg_trgm's); shared: the rooms the user may read now (read at query
time, so leaving a room takes effect at once), present text only, newest first, in
ranges of ids ("windows"), each read with a LIMIT of what the page lacks. Words reach
the database only as bound values; those under three characters (no trigram) are
checked on the rows found.

SQLite indexes new messages in batches (`index_new_messages`: one FTS5 segment per
batch). A search reads the messages above `indexed_up_to` directly, then the rest
through the index, newest rowid first: a common word costs a page's worth of rows.
The index is asked for a word's distinct trigrams (at most `MATCHED_TRIGRAMS` of them),
each a term of its own, and every row it finds is checked for the whole word: FTS5's
phrase query would match the word's trigrams position by position, and a word that
repeats one trigram against messages that repeat it too ("aaaa...c", 190 letters,
against 1,000 messages of 3,900 "a"s) cost about 2.8 s for no result.

Every search runs under a time limit (`SearchFilter.time_limit_s`, the engine's
`Connection.time_limit`), so no phrase holds a connection longer than that:
`StatementTimeout` otherwise.

PostgreSQL: a GIN index yields its matches in no order, and walking the newest ids reads
rows until 20 match, without bound (bench/search.py: 170-350 ms either way on a million
messages). So windows start at `FIRST_WINDOW` ids and widen `WIDEN` times each; the
planner may walk the first ones (a common word fills its page there), and wider ones
are read by bitmap scans only, so no walk is longer than `WALKED_WINDOW` ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chat.core.records import Message, SearchFilter
from chat.store.base import StoreBase
from chat.store.database import NO_UPPER_BOUND, Connection
from chat.store.dialect import Dialect
from chat.store.files import messages_with_files
from chat.store.message_rows import MESSAGE_SELECT

#: PostgreSQL: the ids of the newest window, and how much wider each next one is.
FIRST_WINDOW = 50_000
WIDEN = 8
#: PostgreSQL: the widest window the planner may walk id by id.
WALKED_WINDOW = 50_000
#: SQLite: the most distinct trigrams of a query the index is asked for (spread over
#: its words); the rows it finds are checked for every whole word all the same.
MATCHED_TRIGRAMS = 16

#: The rooms a user may read ($1 whether an operator, $2 the user): the lobby, their
#: rooms (direct conversations and their support thread among them), and for an operator
#: every support thread.
_READABLE_ROOMS = """
SELECT id FROM rooms WHERE kind = 'lobby' OR ($1 AND kind = 'support')
UNION
SELECT room_id FROM room_members WHERE user_id = $2
"""

#: The ids of a window's matches, newest first: $1 the rooms (a list parameter), $2 and
#: $3 the window (low included, high not), $4 the most wanted, $5... the conditions.
#: {source} and {id} are the engine's (the FTS5 table drives SQLite's indexed window,
#: by its rowid); so is {in_rooms}.
_WINDOW = """
SELECT {id} FROM {source}
WHERE {in_rooms} AND {id} >= $2 AND {id} < $3 AND m.deleted_at IS NULL{conditions}
ORDER BY {id} DESC LIMIT $4
"""
_FIRST_CONDITION = 5

_FOUND = f"{MESSAGE_SELECT} WHERE {{ids}} ORDER BY m.id DESC"

# SQLite: the index holds every message up to `indexed_up_to`, none above it.
_INDEXED_UP_TO = "SELECT indexed_up_to FROM message_search_state"
_FTS5_SOURCE = "message_search AS s JOIN messages AS m ON m.id = s.rowid"
#: The id of the last of the next $2 messages to index (NULL: none).
_BATCH_END = "SELECT max(id) FROM (SELECT id FROM messages WHERE id > $1 ORDER BY id LIMIT $2)"
_INDEX_BATCH = (
    "INSERT INTO message_search (rowid, body)"
    " SELECT id, body FROM messages WHERE id > $1 AND id <= $2"
)
_MOVE_UP_TO = "UPDATE message_search_state SET indexed_up_to = $1"

# PostgreSQL: the rooms as an array overlap, which the index answers together with the
# words (`m.room_id = ANY($1)` it cannot: that would be left to the table).
_PG_IN_ROOMS = "ARRAY[m.room_id] && $1::bigint[]"
_NEXT_ID = "SELECT coalesce(max(id), 0) + 1 FROM messages"
#: Planned for these very words, every time: a generic plan, which asyncpg's prepared
#: statements would get after five runs, knows nothing of how many rows a pattern matches.
_CUSTOM_PLANS = ("SET LOCAL plan_cache_mode = force_custom_plan",)
#: From the first window too wide to walk on, bitmap scans only (until `_RESET`).
_BITMAP_ONLY = ("SET LOCAL enable_indexscan = off", "SET LOCAL enable_seqscan = off")
_RESET = ("RESET enable_indexscan", "RESET enable_seqscan")


@dataclass(frozen=True, slots=True)
class _Window:
    """A range of ids, its statement (`_WINDOW`) and values from $5 on; the statements
    to run before it, and after the last window if it was read."""

    sql: str
    values: Sequence[object]
    low: int
    high: int
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()


def _conditions(
    dialect: Dialect,
    search: SearchFilter,
    matched: Sequence[tuple[str, object]],
    words: Sequence[str],
) -> tuple[str, list[object]]:
    """`_WINDOW`'s {conditions} and their values: the sender, `matched` (conditions on
    the index, each with its ``{n}``), and `words` as case-insensitive substrings."""
    # SQLite: chat.store.sqlite.engine's CONTAINS_FOLDED, which folds case as Python does.
    contains, fold = dialect.pick(
        sqlite=("chat_contains_folded(m.body, ${n})", str.casefold),
        postgres=("strpos(lower(m.body), ${n}) > 0", str.lower),
    )
    checks = [*matched, *((contains, fold(word)) for word in words)]
    if search.sender_id is not None:
        checks.insert(0, ("m.sender_id = ${n}", search.sender_id))
    sql = "".join(
        " AND " + check.format(n=n) for n, (check, _) in enumerate(checks, _FIRST_CONDITION)
    )
    return sql, [value for _, value in checks]


def _trigram_match(words: Sequence[str]) -> str:
    """SQLite: an FTS5 query of the distinct trigrams of `words` (each three characters
    or more), at most `MATCHED_TRIGRAMS` spread evenly over them, every one a term that
    must appear: what the whole words then need checking on (the caller's substring
    conditions). Each trigram is an FTS5 string, its double quotes doubled: every
    character is text (no operator, column filter or prefix star)."""
    distinct: dict[str, str] = {}  # by lower case, as FTS5's trigrams fold it
    for word in words:
        for start in range(len(word) - 2):
            trigram = word[start : start + 3]
            distinct.setdefault(trigram.lower(), trigram)
    trigrams = list(distinct.values())
    if len(trigrams) > MATCHED_TRIGRAMS:
        step = len(trigrams) / MATCHED_TRIGRAMS
        trigrams = [trigrams[int(n * step)] for n in range(MATCHED_TRIGRAMS)]
    return " ".join('"' + trigram.replace('"', '""') + '"' for trigram in trigrams)


async def _fts5_windows(conn: Connection, search: SearchFilter, high: int) -> list[_Window]:
    """SQLite: the messages the index does not hold yet (above `indexed_up_to`), every
    word checked on each row; then those it holds, found by the longer words' trigrams
    (`_trigram_match`) and every word checked on each row found."""
    dialect = conn.dialect
    up_to = await conn.fetchval(_INDEXED_UP_TO)
    rooms = dialect.is_among("m.room_id", 1)
    every_word = search.words + search.short_words
    conditions, values = _conditions(dialect, search, (), every_word)
    matched = [("message_search MATCH ${n}", _trigram_match(search.words))]
    by_index, index_values = _conditions(dialect, search, matched, every_word)
    newest = _WINDOW.format(
        id="m.id", source="messages AS m", in_rooms=rooms, conditions=conditions
    )
    indexed = _WINDOW.format(id="s.rowid", source=_FTS5_SOURCE, in_rooms=rooms, conditions=by_index)
    return [
        _Window(newest, values, up_to + 1, high),
        _Window(indexed, index_values, 1, min(high, up_to + 1)),
    ]


async def _trigram_windows(conn: Connection, search: SearchFilter, high: int) -> list[_Window]:
    """PostgreSQL: windows of ids from `high` down, each `WIDEN` times wider."""
    if high == NO_UPPER_BOUND:
        high = await conn.fetchval(_NEXT_ID)
    # Each word anywhere, its wildcards escaped with the default escape character.
    escaped = (
        w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for w in search.words
    )
    words = [("m.body ILIKE ${n}", f"%{word}%") for word in escaped]
    conditions, values = _conditions(conn.dialect, search, words, search.short_words)
    sql = _WINDOW.format(
        id="m.id", source="messages AS m", in_rooms=_PG_IN_ROOMS, conditions=conditions
    )
    windows: list[_Window] = []
    width, walking = FIRST_WINDOW, True
    while high > 1:
        low = max(1, high - width)
        before: tuple[str, ...] = () if windows else _CUSTOM_PLANS
        if walking and width > WALKED_WINDOW:
            before, walking = before + _BITMAP_ONLY, False
        windows.append(_Window(sql, values, low, high, before, () if walking else _RESET))
        high, width = low, width * WIDEN
    return windows


async def _search(conn: Connection, search: SearchFilter) -> list[Message]:
    dialect = conn.dialect
    # One read transaction: the readable rooms, where the index stands and every window
    # at the same moment, so a batch indexed meanwhile is neither missed nor found twice.
    async with conn.transaction(readonly=True), conn.time_limit(search.time_limit_s):
        rooms = {row[0] for row in await conn.fetch(_READABLE_ROOMS, search.admin, search.user_id)}
        if search.room_id is not None:
            rooms &= {search.room_id}
        if not rooms:
            return []
        rooms_param = dialect.list_param(sorted(rooms))
        high = NO_UPPER_BOUND if search.before_id is None else search.before_id
        windows = dialect.pick(sqlite=_fts5_windows, postgres=_trigram_windows)
        found: list[int] = []
        after: tuple[str, ...] = ()
        for window in await windows(conn, search, high):
            if len(found) >= search.limit:
                break
            if window.low >= window.high:
                continue
            for statement in window.before:
                await conn.execute(statement)
            after = window.after
            wanted = search.limit - len(found)
            rows = await conn.fetch(
                window.sql, rooms_param, window.low, window.high, wanted, *window.values
            )
            found += [row[0] for row in rows]
        if not found:
            return []
        for statement in after:
            await conn.execute(statement)
        rows = await conn.fetch(
            _FOUND.format(ids=dialect.is_among("m.id", 1)), dialect.list_param(found)
        )
        return await messages_with_files(conn, rows)


async def _index_batch(conn: Connection, limit: int) -> int:
    """SQLite: index the next `limit` messages at most (in the caller's transaction)."""
    after = await conn.fetchval(_INDEXED_UP_TO)
    through = await conn.fetchval(_BATCH_END, after, limit)
    if through is None:
        return 0
    indexed = await conn.execute(_INDEX_BATCH, after, through)
    await conn.execute(_MOVE_UP_TO, through)
    return indexed


class StoredSearch(StoreBase):
    """`Search`."""

    async def search_messages(self, search: SearchFilter) -> list[Message]:
        return await self.db.run(_search, search)

    async def index_new_messages(self, limit: int) -> int:
        # PostgreSQL's GIN index takes each message as it is inserted.
        if not self.dialect.pick(sqlite=True, postgres=False):
            return 0
        return await self.db.transaction(_index_batch, limit)
