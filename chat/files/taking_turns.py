"""Places for work that users take turns at: the least recently served user first.

A first-come-first-served queue lets whoever sends the most keep it full: one user's
dozen costly images, queued first, would keep everyone else's image waiting behind all
of them. Here each user's waiting work is a queue of its own, and a place that comes
free goes to the waiting user served longest ago (one never served first), so another
user waits for at most one piece of each other user's work, whatever they queued.

Resource handling: a place is handed from the work that finishes straight to the next
(`_hand_on`), so nothing slips in between; a waiter cancelled after it was handed a place
hands it on in turn, and one cancelled before leaves its queue.
"""

from __future__ import annotations

import itertools
from collections import Counter, deque
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager

import trio


class TakingTurns:
    """`places` pieces of work at once; users waiting for one are served in turn."""

    def __init__(self, places: int) -> None:
        self._free = places
        self._waiting: dict[Hashable, deque[trio.Event]] = {}
        self._running: Counter[Hashable] = Counter()
        # When each user waiting or running was last handed a place (a grant count).
        self._served: dict[Hashable, int] = {}
        self._grants = itertools.count()

    @asynccontextmanager
    async def turn(self, user: Hashable) -> AsyncIterator[None]:
        """Run the block once `user` has a place (at once if one is free and nobody
        waits); it is the next user's when the block ends, however it ends."""
        if self._free and not self._waiting:
            self._free -= 1
            self._grant(user)
        else:
            await self._wait(user)
        try:
            yield
        finally:
            self._running[user] -= 1
            if not self._running[user]:
                del self._running[user]
                if user not in self._waiting:
                    del self._served[user]
            self._hand_on()

    async def _wait(self, user: Hashable) -> None:
        turn = trio.Event()
        self._waiting.setdefault(user, deque()).append(turn)
        try:
            await turn.wait()
        except BaseException:
            if turn.is_set():  # handed a place just as it was cancelled: pass it on
                self._running[user] -= 1
                if not self._running[user]:
                    del self._running[user]
                self._hand_on()
            else:
                turns = self._waiting[user]
                turns.remove(turn)
                if not turns:
                    del self._waiting[user]
            if user not in self._waiting and user not in self._running:
                self._served.pop(user, None)
            raise

    def _grant(self, user: Hashable) -> None:
        self._running[user] += 1
        self._served[user] = next(self._grants)

    def _hand_on(self) -> None:
        """A place is free: to the waiting user served longest ago, or kept free."""
        if not self._waiting:
            self._free += 1
            return
        user = min(self._waiting, key=lambda waiting: self._served.get(waiting, -1))
        turns = self._waiting[user]
        turn = turns.popleft()
        if not turns:
            del self._waiting[user]
        self._grant(user)
        turn.set()
