"""The queue for bcrypt's worker threads, fair to every client address.

bcrypt takes about 0.25 s a check at cost 12 and two threads do the work, so a few dozen
requests a second fill any queue. A first-come-first-served queue lets whoever sends the
most keep it full for everyone: a few addresses flooding logins, or a flood of made-up
names, and the owner of a real account waits behind all of it, then gets 503. So:

- **Shares.** Of the `size` places in the queue, one address may hold at most a quarter,
  and checks for names that do not exist (which cost the same bcrypt, so that answer
  times do not say which names exist) at most half. Past its share a request gets
  `Overloaded` (503 with Retry-After) at once, while the rest of the queue stays open to
  others.
- **Order.** A free thread takes the next check of an existing account before any check
  of an unknown name, and within each, the addresses take turns (round robin), so one
  address's backlog never stands between another address and its turn.

Under a flood of unknown names, a real account's login is then answered sooner than an
unknown name's, which says that the name exists; registration says as much to anyone
(409 for a taken name), so nothing is given away that was not already public.

Resource handling: a place is handed from the finishing check straight to the next one
(`_hand_on`), so no check can slip in between; a waiter cancelled after it was handed a
place hands it on in turn. Each check runs in `trio.to_thread.run_sync` with a
`CapacityLimiter` of the same size, which the places never let it wait on.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TypeVar

import trio

from chat.core.errors import Overloaded

T = TypeVar("T")

BUSY = "the server is busy checking passwords: try again in a moment"


class PasswordQueue:
    """`workers` threads for bcrypt, and a fair queue of at most `size` checks waiting."""

    def __init__(self, workers: int, size: int) -> None:
        self._limiter = trio.CapacityLimiter(workers)
        self._free = workers  # threads nobody holds
        self.size = size
        self._address_share = max(1, size // 4)
        self._unknown_share = max(1, size // 2)
        # Waiting checks by class (existing accounts first), then by address in turn.
        self._known: OrderedDict[str, deque[trio.Event]] = OrderedDict()
        self._unknown: OrderedDict[str, deque[trio.Event]] = OrderedDict()
        self._waiting = 0
        self._waiting_unknown = 0
        self._waiting_from: dict[str, int] = {}

    async def run(self, work: Callable[[], T], *, address: str, known: bool) -> T:
        """Run `work` (a bcrypt call) in a worker thread once it is this check's turn;
        `Overloaded` at once if the queue, the address's share or the unknown names'
        share is full. `known`: the account exists (or it is not a login at all)."""
        if self._free and not self._waiting:
            self._free -= 1
            await trio.lowlevel.checkpoint()  # the cancellation point a wait would be
        else:
            await self._wait_for_turn(address, known)
        try:
            return await trio.to_thread.run_sync(work, limiter=self._limiter)
        finally:
            self._hand_on()

    async def _wait_for_turn(self, address: str, known: bool) -> None:
        """Queue and return holding a thread; `Overloaded` if this check is past a share."""
        from_address = self._waiting_from.get(address, 0)
        if (
            self._waiting >= self.size
            or from_address >= self._address_share
            or (not known and self._waiting_unknown >= self._unknown_share)
        ):
            raise Overloaded(BUSY)
        turn = trio.Event()
        queue = self._known if known else self._unknown
        queue.setdefault(address, deque()).append(turn)
        self._waiting += 1
        self._waiting_unknown += not known
        self._waiting_from[address] = from_address + 1
        try:
            await turn.wait()
        except BaseException:
            if turn.is_set():
                self._hand_on()  # handed a thread just as we were cancelled: pass it on
            else:
                self._forget(queue, address, turn, known)
            raise

    def _hand_on(self) -> None:
        """A thread is free: hand it to the next waiting check, or keep it free."""
        for known, queue in ((True, self._known), (False, self._unknown)):
            if queue:
                address, turns = next(iter(queue.items()))
                turn = turns.popleft()
                if turns:
                    queue.move_to_end(address)  # the next address's turn first
                else:
                    del queue[address]
                self._count_out(address, known)
                turn.set()
                return
        self._free += 1

    def _forget(
        self,
        queue: OrderedDict[str, deque[trio.Event]],
        address: str,
        turn: trio.Event,
        known: bool,
    ) -> None:
        turns = queue[address]
        turns.remove(turn)
        if not turns:
            del queue[address]
        self._count_out(address, known)

    def _count_out(self, address: str, known: bool) -> None:
        self._waiting -= 1
        self._waiting_unknown -= not known
        left = self._waiting_from[address] - 1
        if left:
            self._waiting_from[address] = left
        else:
            del self._waiting_from[address]
