"""How many searches run at once: fewer than the database has connections.

A search can take the database's whole time limit (`SearchFilter.time_limit_s`), and
every other request needs a connection too: twelve costly searches once held all ten of
a pool's connections and another user's `GET /messages` waited 6.9 s. So searches take
a place here before they take a connection, and at most `at_once` (half the pool) hold
one at a time; the other half of the pool is always there for everything else.

A search that finds no place waits, first come first served, among at most `waiting`
others (a wait is then at most a few time limits); past that it is refused with
`Overloaded` (503, Retry-After) at once. One user holds at most `per_user` places,
running or waiting, so that nobody fills the queue alone: past that, `RateLimited`
(429).

Resource handling: a place is taken and given back around the caller's block
(`SearchGate.place`); a search cancelled while it waits, or while it runs, gives its
place back as the block exits, so no place outlives its search.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from chat.core.errors import Overloaded, RateLimited

BUSY = "the server is busy with other searches: try again in a moment"


class SearchGate:
    """At most `at_once` searches running, `waiting` more queued, `per_user` of one user's."""

    def __init__(self, *, at_once: int, waiting: int, per_user: int) -> None:
        self._running = trio.CapacityLimiter(at_once)
        self.waiting = waiting
        self.per_user = per_user
        self._held: Counter[int] = Counter()  # places (running or waiting) by user id

    @classmethod
    def for_pool(cls, pool_size: int) -> SearchGate:
        """The gate for a store of `pool_size` connections: half of them for searches,
        four times as many waiting, two a user."""
        at_once = max(1, pool_size // 2)
        return cls(at_once=at_once, waiting=4 * at_once, per_user=2)

    @property
    def at_once(self) -> int:
        return int(self._running.total_tokens)

    @property
    def running(self) -> int:
        """Searches holding a place to run now."""
        return self._running.borrowed_tokens

    @asynccontextmanager
    async def place(self, user_id: int) -> AsyncIterator[None]:
        """Run the block (one search of `user_id`'s) once it has a place; `RateLimited`
        if the user holds `per_user` places already, `Overloaded` if `waiting`
        searches wait already and no place is free. Both are raised before any wait."""
        if self._held[user_id] >= self.per_user:
            raise RateLimited(
                f"you have {self.per_user} searches under way: wait for their answers",
                retry_after=1,
            )
        stats = self._running.statistics()
        if stats.borrowed_tokens >= stats.total_tokens and stats.tasks_waiting >= self.waiting:
            raise Overloaded(BUSY)
        # No checkpoint between the checks above and this count: they hold when it is made.
        self._held[user_id] += 1
        try:
            async with self._running:
                yield
        finally:
            self._held[user_id] -= 1
            if not self._held[user_id]:
                del self._held[user_id]
