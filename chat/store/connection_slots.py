"""A pool's connections as tokens, with one held back for the message lane.

A message is read (its sender's checks) and committed (the writer) while most other
calls are reads a client asked for. In a reconnection storm thousands of handshakes and
resumes read at once; in one first-come-first-served queue a message's reads and commit
waited behind all of them, and senders were told "database unavailable". The writer's
task and a message's checks run `on_message_lane()`: their calls take the connection
held back for them, queueing behind other messages only.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import trio

from chat.core.records import PoolUsage

# The tasks inside an `on_message_lane` block, by task and not by context variable: a
# task started from one (the jobs a stored message starts) copies its context, and
# must not take the lane with it.
_ON_LANE: weakref.WeakKeyDictionary[trio.lowlevel.Task, int] = weakref.WeakKeyDictionary()


@contextmanager
def on_message_lane() -> Iterator[None]:
    """Database calls this task makes inside may take the connection held back for
    messages, and wait for it rather than behind other callers. Tasks it starts do
    not."""
    task = trio.lowlevel.current_task()
    _ON_LANE[task] = _ON_LANE.get(task, 0) + 1
    try:
        yield
    finally:
        if _ON_LANE[task] == 1:
            del _ON_LANE[task]
        else:
            _ON_LANE[task] -= 1


def _on_lane() -> bool:
    return trio.lowlevel.current_task() in _ON_LANE


class ConnectionSlots:
    """One token per connection of a pool: holding one means a connection is the
    holder's. With two connections or more, one is held back for the message lane and
    the rest are shared, first come first served."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"a pool needs a connection, not {size}")
        self._lane = trio.CapacityLimiter(1) if size > 1 else None
        self._shared = trio.CapacityLimiter(size - 1 if size > 1 else 1)

    def take_nowait(self) -> trio.CapacityLimiter:
        """Take a token without a checkpoint; the limiter to release it to. Raises
        `trio.WouldBlock` if none is free or others already wait (so the queue stays
        first come, first served)."""
        lane = self._callers_lane()
        if lane is not None:
            try:
                lane.acquire_nowait()
                return lane
            except trio.WouldBlock:
                pass
        self._shared.acquire_nowait()
        return self._shared

    async def take(self) -> trio.CapacityLimiter:
        """Take a token, waiting in line if none is free: the message lane waits for
        its own connection, everyone else for a shared one. A cancelled wait holds
        nothing."""
        try:
            return self.take_nowait()
        except trio.WouldBlock:
            pass
        limiter = self._callers_lane() or self._shared
        await limiter.acquire()
        return limiter

    def _callers_lane(self) -> trio.CapacityLimiter | None:
        """The held-back connection's limiter, if the calling task is on the lane."""
        return self._lane if self._lane is not None and _on_lane() else None

    def usage(self) -> PoolUsage:
        """Connections in all, in use and callers waiting, over both kinds of token."""
        limiters = [self._shared] if self._lane is None else [self._shared, self._lane]
        stats = [limiter.statistics() for limiter in limiters]
        return PoolUsage(
            sum(int(s.total_tokens) for s in stats),
            sum(s.borrowed_tokens for s in stats),
            sum(s.tasks_waiting for s in stats),
        )
