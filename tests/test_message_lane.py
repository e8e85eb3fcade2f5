"""The connection a pool holds back for messages (`chat.store.connection_slots`): calls
on the message lane take it past any queue of other callers, and nobody else takes it."""

from __future__ import annotations

import contextlib
from functools import partial
from typing import Any

import pytest
import trio
import trio.testing
from support import STEP

from chat.core.config import Config
from chat.core.records import PoolUsage
from chat.store import Store, open_store
from chat.store.connection_slots import ConnectionSlots, on_message_lane

# A read that holds its connection for a while (a fifth of a second to a second).
SLOW_READ = {
    "sqlite": "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000000)"
    " SELECT count(*) FROM n",
    "postgres": "SELECT pg_sleep(1)",
}


async def _holding(
    slots: ConnectionSlots,
    done: trio.Event,
    *,
    lane: bool = False,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """Take a token (on the message lane or not), say which, and hold it until `done`."""
    with on_message_lane() if lane else contextlib.nullcontext():
        limiter = await slots.take()
    task_status.started(limiter)
    await done.wait()
    limiter.release()


async def test_the_message_lane_takes_its_connection_past_callers_waiting() -> None:
    slots = ConnectionSlots(3)
    done = trio.Event()
    async with trio.open_nursery() as nursery:
        for _ in range(2):  # both shared tokens
            await nursery.start(partial(_holding, slots, done))
        nursery.start_soon(partial(_holding, slots, done))  # waits for a shared one
        await trio.testing.wait_all_tasks_blocked()
        await nursery.start(partial(_holding, slots, done, lane=True))
        assert slots.usage() == PoolUsage(3, 3, 1)
        done.set()
    assert slots.usage() == PoolUsage(3, 0, 0)


async def test_callers_off_the_lane_never_take_the_held_back_connection() -> None:
    slots = ConnectionSlots(2)
    done = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(_holding, slots, done))
        with pytest.raises(trio.WouldBlock):
            slots.take_nowait()
        with trio.move_on_after(0.05) as waiting:
            await slots.take()
        assert waiting.cancelled_caught
        assert slots.usage() == PoolUsage(2, 1, 0)
        done.set()


async def test_the_message_lane_waits_for_its_own_connection_not_the_shared_queue() -> None:
    slots = ConnectionSlots(2)
    shared_done, lane_done, second_done = trio.Event(), trio.Event(), trio.Event()
    got: list[trio.CapacityLimiter] = []

    async def writer_again() -> None:
        with on_message_lane():
            got.append(await slots.take())
        await second_done.wait()
        got[0].release()

    async with trio.open_nursery() as nursery:
        await nursery.start(partial(_holding, slots, shared_done))
        first = await nursery.start(partial(_holding, slots, lane_done, lane=True))
        nursery.start_soon(partial(_holding, slots, shared_done))  # in the shared queue
        nursery.start_soon(writer_again)
        await trio.testing.wait_all_tasks_blocked()
        assert got == [] and slots.usage() == PoolUsage(2, 2, 2)
        lane_done.set()  # the lane's connection: the lane's next call has it
        await trio.testing.wait_all_tasks_blocked()
        assert got == [first] and slots.usage() == PoolUsage(2, 2, 1)
        second_done.set()
        shared_done.set()


async def test_a_task_started_on_the_lane_is_not_on_it() -> None:
    slots = ConnectionSlots(2)
    done = trio.Event()
    taken: list[object] = []

    async def started_from_the_lane() -> None:
        try:
            taken.append(slots.take_nowait())
        except trio.WouldBlock:
            taken.append(None)

    async with trio.open_nursery() as nursery:
        await nursery.start(partial(_holding, slots, done))  # the shared token
        with on_message_lane():
            nursery.start_soon(started_from_the_lane)  # copies this task's context
        await trio.testing.wait_all_tasks_blocked()
        assert taken == [None]  # off the lane: the held-back connection is not its
        done.set()


async def test_a_pool_of_one_connection_shares_it_with_the_writer() -> None:
    slots = ConnectionSlots(1)
    done = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(_holding, slots, done, lane=True))
        with pytest.raises(trio.WouldBlock):
            slots.take_nowait()
        done.set()
    assert slots.usage() == PoolUsage(1, 0, 0)


def test_a_pool_needs_a_connection() -> None:
    with pytest.raises(ValueError):
        ConnectionSlots(0)


async def _slow_reads_then(store: Store, config: Config, *, on_lane: bool) -> list[str]:
    """Three slow reads on a pool of two, then a ping (on the message lane or not):
    what finished, in order."""
    sql = SLOW_READ["sqlite" if config.database_url is None else "postgres"]
    finished: list[str] = []

    async def read() -> None:
        await store.db.fetchval(sql)
        finished.append("read")

    async def ping() -> None:
        if on_lane:
            with on_message_lane():
                await store.ping()
        else:
            await store.ping()
        finished.append("ping")

    with trio.fail_after(2 * STEP):  # three slow reads one after the other
        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(read)
            while store.pool_usage().waiting < 2:
                await trio.lowlevel.checkpoint()
            nursery.start_soon(ping)
    return finished


async def test_the_message_lane_does_not_wait_behind_a_pool_of_slow_reads(config: Config) -> None:
    async with open_store(config.replace(db_pool_size=2)) as store:
        finished = await _slow_reads_then(store, config, on_lane=True)
    assert finished == ["ping", "read", "read", "read"]


async def test_a_call_off_the_lane_waits_its_turn_behind_slow_reads(config: Config) -> None:
    async with open_store(config.replace(db_pool_size=2)) as store:
        finished = await _slow_reads_then(store, config, on_lane=False)
    assert finished == ["read", "read", "read", "ping"]
