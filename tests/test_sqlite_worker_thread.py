"""The SQLite engine's hop to a worker thread (`chat.store.sqlite.engine.in_worker_thread`):
the function runs off the Trio thread, its result or error comes back to the caller, and
a cancelled caller waits for it, as `trio.to_thread.run_sync` does, before the
cancellation is raised. No database: any blocking function stands in for a statement."""

from __future__ import annotations

import threading

import pytest
import trio

from chat.store.sqlite.engine import in_worker_thread


def _thread_name(*_args: object) -> str:
    return threading.current_thread().name


async def test_the_function_runs_in_another_thread_and_its_result_comes_back() -> None:
    name = await in_worker_thread(_thread_name, 1, 2)
    assert name != threading.current_thread().name


async def test_an_error_in_the_thread_is_raised_in_the_caller() -> None:
    def fail() -> None:
        raise LookupError("no such row")

    with pytest.raises(LookupError, match="no such row"):
        await in_worker_thread(fail)


async def test_a_cancelled_call_waits_for_its_function_then_raises_cancelled() -> None:
    started, release = threading.Event(), threading.Event()
    finished: list[str] = []

    def statement() -> str:
        started.set()
        release.wait(10)
        finished.append("committed")
        return "committed"

    scope = trio.CancelScope()

    async def call() -> None:
        with scope:
            await in_worker_thread(statement)
            await trio.lowlevel.checkpoint()  # the cancellation is raised here

    async with trio.open_nursery() as nursery:
        nursery.start_soon(call)
        await trio.to_thread.run_sync(started.wait)
        scope.cancel()
        await trio.sleep(0.05)  # cancelled, the call still waits for the thread
        assert finished == []
        release.set()
    assert scope.cancelled_caught
    assert finished == ["committed"]


async def test_a_call_cancelled_before_it_starts_runs_nothing() -> None:
    ran: list[bool] = []
    with trio.CancelScope() as scope:
        scope.cancel()
        await in_worker_thread(ran.append, True)
    assert scope.cancelled_caught
    assert ran == []
