"""Thread summaries brought up to their replies (`ThreadSummaries.run`, one task).

Storing a batch of replies does not touch their threads' summaries: the writer tells
this task what it stored (`stored`, which marks the threads replied in: `replied`), and
the task counts them (`Threads.refresh_thread_summaries`) and publishes each `THREAD`
change it made through the writer (`MessageWriter.committed`), in position order with
everything else. A thread
is counted as soon as the task comes round (a quiet thread's summary follows its reply
within milliseconds), then not again for `INTERVAL_S`: a busy thread's summary is
written a few times a second instead of once per batch (a row updated dozens of times a
second bloats, and so do its indexes). At start and every `SWEEP_S` it also looks for
replies no summary counts (an instance stopped between storing and counting them: on
any instance, any of them finds it) and counts those.

Ownership: the task owns the threads due and when each was last counted; `replied`, in
the writer's task, only adds to them and wakes it. Cancellation: a count cancelled
midway rolls back; on the way out, what is due is counted once more (bounded, shielded),
and what still is not, the next sweep counts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NoReturn, Protocol

import trio

from chat.core.records import Change, Message, Room
from chat.core.task_failures import TaskFailures

if TYPE_CHECKING:
    from collections.abc import Sequence

#: The least time between two counts of one thread's summary.
INTERVAL_S = 0.25
#: How often every thread's replies are looked at for some no summary counts.
SWEEP_S = 60.0
#: How long a failed count (the database away) waits before the next try.
RETRY_S = 1.0
#: How long the last count may take on the way out.
LAST_COUNT_S = 5.0


def replied_threads(messages: Sequence[tuple[Message, Room]]) -> dict[int, Room]:
    """The threads (root id -> room) `messages` reply in."""
    return {m.thread_id: room for m, room in messages if m.thread_id is not None}


class SummaryStore(Protocol):
    """What the task needs of the store (`chat.store.roles.Threads`, and a room)."""

    async def refresh_thread_summaries(self, root_ids: Sequence[int]) -> list[Change]: ...

    async def stale_threads(self, after: int) -> tuple[list[tuple[int, int]], int]: ...

    async def room_by_id(self, room_id: int) -> Room | None: ...


class ThreadSummaries:
    """Owns the threads whose summaries are due, and the task that counts them."""

    def __init__(
        self,
        store: SummaryStore,
        publish: Callable[[Change, Room], None],
        *,
        interval: float = INTERVAL_S,
        sweep: float = SWEEP_S,
        failures: TaskFailures | None = None,
    ) -> None:
        self._store = store
        self._publish = publish
        self._interval = interval
        self._sweep_every = sweep
        self._failures = failures or TaskFailures()
        #: Root id -> its room (None: found by a sweep, read when published).
        self._due: dict[int, Room | None] = {}
        #: Root id -> when it may be counted again (only while that is to come).
        self._not_before: dict[int, float] = {}
        #: The newest message the sweeps have looked at.
        self._swept = 0
        self._woken = trio.Event()
        #: Counts made, and `THREAD` changes published (read by tests).
        self.counts = 0
        self.published = 0

    def stored(self, messages: Sequence[tuple[Message, Room]]) -> None:
        """The writer stored `messages` (`MessageWriter.tell_stored`): their threads'
        summaries are counted soon. Never waits."""
        threads = replied_threads(messages)
        if threads:
            self.replied(threads)

    def replied(self, threads: Mapping[int, Room]) -> None:
        """Replies were stored in `threads` (root id -> room): count them soon. Never
        waits (the writer's task calls it between two batches)."""
        self._due.update(threads)
        self._woken.set()

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Count what is due, sweep now and then. Runs until cancelled."""
        task_status.started()
        next_sweep = trio.current_time()
        try:
            while True:
                now = trio.current_time()
                if now >= next_sweep:
                    with self._failures.contained("thread-summaries", "a sweep of threads"):
                        await self._sweep()
                    next_sweep = now + self._sweep_every
                ready = [root for root in self._due if self._not_before.get(root, 0) <= now]
                if ready:
                    await self._count(ready, now)
                    continue
                self._not_before = {r: t for r, t in self._not_before.items() if t > now}
                wake_at = min([next_sweep, *(self._not_before[r] for r in self._due)])
                self._woken = trio.Event()
                with trio.move_on_at(wake_at):
                    await self._woken.wait()
        finally:
            # Shutdown: what this instance stored is counted now, if the database answers
            # in time (else a sweep counts it: here at the next start, or elsewhere).
            with trio.move_on_after(LAST_COUNT_S, shield=True):
                if self._due:
                    await self._count(list(self._due), -math.inf, publish=False)

    async def _sweep(self) -> None:
        stale, self._swept = await self._store.stale_threads(self._swept)
        for root_id, _room_id in stale:
            self._due.setdefault(root_id, None)

    async def _count(self, roots: list[int], now: float, *, publish: bool = True) -> None:
        """Count `roots`' summaries (one transaction) and publish their changes. Replies
        stored meanwhile make a root due again."""
        rooms = {root_id: self._due.pop(root_id, None) for root_id in roots}
        try:
            changes = await self._store.refresh_thread_summaries(roots)
        except Exception as error:
            for root_id, room in rooms.items():
                self._due.setdefault(root_id, room)
                self._not_before[root_id] = now + RETRY_S
            self._failures.record("thread-summaries", "counting thread replies", error)
            return
        self.counts += 1
        for root_id in roots:
            self._not_before[root_id] = now + self._interval
        if not publish:
            return
        for change in changes:
            room = rooms.get(change.message_id)
            if room is None:
                room = await self._store.room_by_id(change.room_id)
            if room is not None:
                self._publish(change, room)
                self.published += 1
