"""`SearchIndexer`: the task that keeps the search index up to date where the store
indexes new messages in batches (SQLite: sql/sqlite/0017_search.sql says why).

Twice a second it asks the store to index what was stored since the last time, a batch
at a time, until it is up to date. Searches do not wait for it: the store reads the
messages the index does not hold yet directly, so a message is found as soon as it is
stored. On PostgreSQL, whose index follows every insert, each call answers 0 at once.

Error handling: a failed pass is logged and counted (`TaskFailures`) and tried again at
the next one; the index only ever lags, it never misses a message.
"""

from __future__ import annotations

from typing import NoReturn

import trio

from chat.core.task_failures import TaskFailures
from chat.store import Search

#: Messages indexed per transaction: enough that FTS5's per-statement segment costs
#: little per message, few enough that the write lock is held for milliseconds (about
#: 15 ms for 2,000 messages on a two-core machine), not longer.
BATCH = 2000


class SearchIndexer:
    """Brings the search index up to date every `period` seconds."""

    def __init__(
        self, store: Search, *, period: float = 0.5, failures: TaskFailures | None = None
    ) -> None:
        self._store = store
        self._period = period
        self._failures = failures or TaskFailures()
        #: Messages indexed since the start (for tests and metrics).
        self.indexed = 0

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Index what is new every `period` seconds. Runs until cancelled."""
        task_status.started()
        while True:
            await trio.sleep(self._period)
            with self._failures.contained("search-index", "indexing new messages"):
                await self.catch_up()

    async def catch_up(self) -> int:
        """Index every message stored so far, a batch per transaction; how many."""
        total = 0
        while True:
            # Each batch is its own transaction: between two, other writers take turns.
            indexed = await self._store.index_new_messages(BATCH)
            total += indexed
            self.indexed += indexed
            if indexed < BATCH:
                return total
