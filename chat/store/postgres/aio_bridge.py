"""The asyncio loop the PostgreSQL store runs asyncpg on: trio-asyncio's, stepped faster.

trio-asyncio runs asyncio's callbacks in one Trio task (the loop's main loop), one
callback per step, and every step waits for a pass of Trio's scheduler (receiving from
its queue is a checkpoint). asyncio's own loop runs every callback that is ready in one
iteration. One asyncpg query queues several callbacks (the task's steps, the statement
timer, the reader's ``synchronize``, the ``done_cb``...), most of them queued by the
callback before: a scheduler pass each, each one a full round of every runnable Trio
task and an ``epoll_wait`` (see docs/PERFORMANCE.md, "History on PostgreSQL").

`open_aio_loop` opens trio-asyncio's loop and makes each of its steps run the callbacks
that are ready, up to `MORE_PER_STEP` more, before it gives Trio back the CPU: about two
steps per query. Semantics are asyncio's: callbacks still run one at a time, in the
order they were queued; what changes is only that Trio's other tasks do not run between
two callbacks that are both ready.

It also drops cancelled timers from the loop's heap, as asyncio's own loop does
(`_dropping_cancelled_timers`): trio-asyncio keeps a cancelled timer until it would have
fired, and asyncpg sets a timer per statement (its ``command_timeout``) and cancels it
when the answer comes; asyncpg's pool, which the store used, set another per query for
five minutes. By count, that was more than half of the soak's growth (80 MB per
instance, flat only once the first timers fell due).

And it checks a callback's type only in debug mode, as asyncio's own loop does:
trio-asyncio checks every `call_soon` and `call_later` (`_check_callback`: is it a
coroutine function? `inspect` answers in about 1.5 us), about thirteen per query: some
5% of the server's CPU for a small query through the bridge (docs/PERFORMANCE.md).

This reaches into trio-asyncio: it wraps the loop's private `_main_loop_one` (its
``no_wait`` mode, which runs one ready callback or raises `trio.WouldBlock`), replaces
its `_timer_handle_cancelled` hook and rebuilds its private heap `_timers`, and replaces
its `_check_callback` (asyncio's own, which both loops inherit).
pyproject.toml pins trio-asyncio to the releases tests/test_aio_bridge.py checks.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio

#: Callbacks one step may run after its first, before it yields to Trio whatever is
#: still queued: a bound, so that asyncio code that keeps queueing callbacks cannot
#: starve Trio's tasks (asyncio's own loop bounds an iteration the same way).
MORE_PER_STEP = 64

#: Cancelled timers the loop's heap may hold before it is rebuilt without them, once
#: they are also more than half of it: asyncio's own rule (`_MIN_SCHEDULED_TIMER_HANDLES`
#: and `_MIN_CANCELLED_TIMER_HANDLES_FRACTION` in asyncio/base_events.py).
MIN_CANCELLED_TIMERS = 100


@asynccontextmanager
async def open_aio_loop() -> AsyncIterator[Any]:
    """trio-asyncio's `open_loop`, with the loop's steps running every ready callback.

    Yields the loop. `trio_asyncio` is imported here, not at module level (see
    chat/store/postgres/opening.py: importing it changes `asyncio.run()` for the process).
    """
    import trio_asyncio

    async with trio_asyncio.open_loop() as loop:
        # The main loop looks the method up on every step, so replacing it on the
        # instance takes effect from the next step on (the current one is waiting for
        # the first callback and handles it as before).
        loop._main_loop_one = _stepping_all_ready(loop._main_loop_one)
        # `asyncio.TimerHandle.cancel` calls this on the loop, found on the instance.
        loop._timer_handle_cancelled = _dropping_cancelled_timers(loop._timers)
        if not loop.get_debug():
            # What asyncio's `call_soon` checks in debug mode only (PYTHONASYNCIODEBUG).
            loop._check_callback = _unchecked
        yield loop


def _unchecked(callback: object, method: str) -> None:
    """A callback as the loop takes it outside debug mode: unchecked."""


def _stepping_all_ready(
    step: Callable[..., Awaitable[None]],
) -> Callable[..., Awaitable[None]]:
    """`step`, then up to `MORE_PER_STEP` more callbacks while one is ready."""

    async def step_all_ready(no_wait: bool = False) -> None:
        # The first callback as trio-asyncio runs it: waiting (a checkpoint) unless
        # `no_wait`, which is how the loop's shutdown drains its queue.
        await step(no_wait)
        # Then the ones already queued, without a checkpoint in between. WouldBlock:
        # nothing is ready (a timer not yet due does not count), so Trio's turn.
        # trio-asyncio's own exit (TrioAsyncioExit from `stop`) passes through, as it
        # would from `step`.
        for _ in range(MORE_PER_STEP):
            try:
                await step(True)
            except trio.WouldBlock:
                return

    return step_all_ready


def _dropping_cancelled_timers(timers: list[asyncio.TimerHandle]) -> Callable[[Any], None]:
    """The loop's hook for a timer being cancelled: rebuild the heap `timers` without its
    cancelled timers once more than `MIN_CANCELLED_TIMERS` were cancelled since the last
    rebuild and they are more than half of it.

    Why: trio-asyncio's loop keeps every timer on its heap until the timer is due, and
    its hook does nothing, so a cancelled timer (its handle, the copy of the context it
    was made in) stays there until then. asyncpg sets a timer per statement and cancels
    it when the statement ends (`command_timeout`, 15 s): at a thousand statements a
    second, 15,000 dead timers at any moment; asyncpg's pool's idle timer (300 s) made
    it 300,000, about 45 MB of Python objects per instance, growing for five minutes
    until the first fell due: the soak (docs/PERFORMANCE.md, "Memory over a soak").

    Bound: at most about twice the live timers, plus `MIN_CANCELLED_TIMERS`. Each
    rebuild costs one pass over the heap, after at least as many cancellations as live
    timers: constant time per cancellation, amortised. Timers cancelled while still in
    the loop's queue (not yet on the heap) are counted too; that only brings a rebuild
    forward. The rebuild is in place: the loop holds this very list."""
    cancelled = 0

    def timer_handle_cancelled(handle: Any) -> None:
        nonlocal cancelled
        cancelled += 1
        if cancelled > MIN_CANCELLED_TIMERS and cancelled * 2 > len(timers):
            # `handle` is marked cancelled just after this returns: it stays until the
            # next rebuild, or until it is due (the loop then skips it).
            timers[:] = [timer for timer in timers if not timer.cancelled()]
            heapq.heapify(timers)
            cancelled = 0

    return timer_handle_cancelled
