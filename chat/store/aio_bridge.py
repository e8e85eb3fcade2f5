"""The asyncio loop the PostgreSQL store runs asyncpg on: trio-asyncio's, stepped faster.

trio-asyncio runs asyncio's callbacks in one Trio task (the loop's main loop), one
callback per step, and every step waits for a pass of Trio's scheduler (receiving from
its queue is a checkpoint). asyncio's own loop runs every callback that is ready in one
iteration. One asyncpg query through a pool queues about ten callbacks (the task's
steps, the pool's `shield` callbacks, the statement timer, the reader's
``synchronize``...), most of them queued by the callback before: eleven scheduler passes
per query, each one a full round of every runnable Trio task and an ``epoll_wait`` (see
docs/PERFORMANCE.md, "History on PostgreSQL").

`open_aio_loop` opens trio-asyncio's loop and makes each of its steps run the callbacks
that are ready, up to `MORE_PER_STEP` more, before it gives Trio back the CPU: about two
steps per query. Semantics are asyncio's: callbacks still run one at a time, in the
order they were queued; what changes is only that Trio's other tasks do not run between
two callbacks that are both ready.

This reaches into trio-asyncio: it wraps the loop's private `_main_loop_one` (its
``no_wait`` mode, which runs one ready callback or raises `trio.WouldBlock`).
pyproject.toml pins trio-asyncio to the releases tests/test_aio_bridge.py checks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio

#: Callbacks one step may run after its first, before it yields to Trio whatever is
#: still queued: a bound, so that asyncio code that keeps queueing callbacks cannot
#: starve Trio's tasks (asyncio's own loop bounds an iteration the same way).
MORE_PER_STEP = 64


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
        yield loop


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
