"""The seam with trio-asyncio (chat/store/postgres/aio_bridge.py): the loop's steps run every
ready asyncio callback, and still share the CPU with Trio and shut down as before; its
cancelled timers are dropped; its callbacks are type-checked in debug mode only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import trio
import trio_asyncio

from chat.store.postgres.aio_bridge import MIN_CANCELLED_TIMERS, MORE_PER_STEP, open_aio_loop


class Ticker:
    """A Trio task counting the scheduler passes it sees."""

    def __init__(self) -> None:
        self.ticks = 0

    async def run(self) -> None:
        while True:
            await trio.lowlevel.checkpoint()
            self.ticks += 1


@asynccontextmanager
async def ticking() -> AsyncIterator[Ticker]:
    ticker = Ticker()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker.run)
        yield ticker
        nursery.cancel_scope.cancel()


async def _in_asyncio(fn: Callable[[asyncio.AbstractEventLoop], None]) -> None:
    """Run `fn(loop)` on the asyncio loop, then let its callbacks finish."""

    async def call() -> None:
        fn(asyncio.get_running_loop())
        await asyncio.sleep(0.01)

    await trio_asyncio.aio_as_trio(call)()


async def test_callbacks_queued_one_by_another_run_without_trio_in_between() -> None:
    seen: list[int] = []
    async with open_aio_loop(), ticking() as ticker:

        def chain(loop: asyncio.AbstractEventLoop, left: int) -> None:
            seen.append(ticker.ticks)
            if left:
                loop.call_soon(chain, loop, left - 1)

        await _in_asyncio(lambda loop: loop.call_soon(chain, loop, 20))
    assert len(seen) == 21
    assert len(set(seen)) == 1, seen


async def test_asyncio_code_that_keeps_queueing_callbacks_does_not_starve_trio() -> None:
    ran = 0
    stop = False
    async with open_aio_loop(), ticking() as ticker:

        def until_stopped(loop: asyncio.AbstractEventLoop) -> None:
            nonlocal ran
            ran += 1
            if not stop:
                loop.call_soon(until_stopped, loop)

        await _in_asyncio(until_stopped)
        await trio.sleep(0.05)
        assert ticker.ticks > 10
        stop = True  # else the loop's shutdown, which runs what is queued, never ends
    # At most one step's worth of callbacks between two scheduler passes.
    assert ran <= (ticker.ticks + 2) * (MORE_PER_STEP + 1)


async def test_callbacks_queued_before_the_loop_closes_still_run() -> None:
    ran: list[str] = []
    async with open_aio_loop() as loop:
        for name in ("first", "second", "third"):
            loop.call_soon(ran.append, name)
    assert ran == ["first", "second", "third"]


async def test_a_timer_not_yet_due_waits_while_ready_callbacks_run() -> None:
    # Each callback notes whether its timer was due when it ran: on a busy machine the
    # step that runs "soon" may come late, but a step never runs "later" early.
    ran: list[tuple[str, bool]] = []
    later_ran = trio.Event()
    async with open_aio_loop() as loop:
        due = loop.time() + 0.05

        def later() -> None:
            ran.append(("later", loop.time() >= due))
            later_ran.set()  # asyncio's callbacks run in a Trio task: Trio's own thread

        loop.call_at(due, later)
        loop.call_soon(lambda: ran.append(("soon", True)))
        with trio.fail_after(10):
            await later_ran.wait()
    assert ran == [("soon", True), ("later", True)]


async def test_cancelled_timers_are_dropped_from_the_loop() -> None:
    # asyncpg's pattern: timers set in one callback (a query starts), cancelled in a
    # later one (it ended). trio-asyncio alone kept them all until due.
    timers: list[asyncio.TimerHandle] = []
    async with open_aio_loop() as loop:

        def set_timers(loop: asyncio.AbstractEventLoop) -> None:
            timers.extend(loop.call_later(300, print) for _ in range(10 * MIN_CANCELLED_TIMERS))

        await _in_asyncio(set_timers)
        await _in_asyncio(lambda _loop: [timer.cancel() for timer in timers])
        assert len(loop._timers) <= MIN_CANCELLED_TIMERS + 1


async def test_a_timer_among_cancelled_ones_still_fires() -> None:
    fired = trio.Event()
    async with open_aio_loop():
        timers: list[asyncio.TimerHandle] = []

        def set_timers(loop: asyncio.AbstractEventLoop) -> None:
            timers.append(loop.call_later(0.2, fired.set))
            timers.extend(loop.call_later(300, print) for _ in range(10 * MIN_CANCELLED_TIMERS))

        await _in_asyncio(set_timers)
        await _in_asyncio(lambda _loop: [timer.cancel() for timer in timers[1:]])
        with trio.fail_after(10):
            await fired.wait()


async def test_callbacks_are_not_type_checked_outside_debug_mode() -> None:
    # The seam: trio-asyncio's loop checks every callback it is given; asyncio's own
    # checks only in debug mode, and so does ours. Seen through `_check_callback`.
    async with open_aio_loop() as loop:
        assert not loop.get_debug()
        loop._check_callback(asyncio.sleep, "call_soon")  # a coroutine function: no error
        ran = trio.Event()
        await _in_asyncio(lambda aio: aio.call_soon(ran.set))
        assert ran.is_set()


async def test_callbacks_are_type_checked_in_debug_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONASYNCIODEBUG", "1")
    async with open_aio_loop() as loop:
        assert loop.get_debug()
        with pytest.raises(TypeError, match="coroutines cannot be used with call_soon"):
            loop._check_callback(asyncio.sleep, "call_soon")
