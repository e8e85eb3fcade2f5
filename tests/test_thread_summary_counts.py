"""The task that counts thread replies in their summaries (chat/app/messages/
thread_summaries.py), alone: when it counts, what it publishes, the sweep, a store
that fails. The store is the in-memory double (tests/memory_messages.py, held to the
real stores' promises by tests/test_messages_contract.py); time is Trio's MockClock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
import trio
import trio.testing
from memory_messages import MemoryMessages

from chat.app.messages.thread_summaries import INTERVAL_S, RETRY_S, SWEEP_S, ThreadSummaries
from chat.core.errors import Unavailable
from chat.core.outgoing import OutgoingMessage
from chat.core.records import Change, NewMessage, Room
from chat.core.task_failures import TaskFailures

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 28, tzinfo=UTC)
GROUP = Room(2, "group", "group", False, 7, NOW)
ALICE, BOB = 7, 9


class FailingStore(MemoryMessages):
    """The double, whose next counts raise `Unavailable` while `failing` is set."""

    failing = 0

    async def refresh_thread_summaries(self, root_ids):  # type: ignore[no-untyped-def]
        if self.failing:
            self.failing -= 1
            raise Unavailable("the database is away")
        return await super().refresh_thread_summaries(root_ids)


class Published(list[tuple[Change, Room]]):
    """What the task published, in order; `first` waits for the first of it."""

    def __init__(self) -> None:
        super().__init__()
        self._some = trio.Event()

    def __call__(self, change: Change, room: Room) -> None:
        self.append((change, room))
        self._some.set()

    async def first(self) -> None:
        await self._some.wait()


@asynccontextmanager
async def counting(
    store: FailingStore | None = None,
) -> AsyncIterator[tuple[FailingStore, ThreadSummaries, Published]]:
    """The task running on `store` (a new one if None), cancelled on exit."""
    store = store or FailingStore([GROUP], {ALICE: "alice", BOB: "bob"})
    published = Published()
    summaries = ThreadSummaries(store, published, failures=TaskFailures())
    async with trio.open_nursery() as nursery:
        await nursery.start(summaries.run)
        yield store, summaries, published
        nursery.cancel_scope.cancel()


async def _root_and_replies(store: MemoryMessages, *senders: int) -> int:
    (root,) = await store.add_messages([NewMessage(GROUP.id, ALICE, OutgoingMessage("q"))])
    await _replies(store, root.message.id, *senders)
    return root.message.id


async def _a_thread_after_the_first_sweep(store: MemoryMessages) -> int:
    """A root and bob's reply, stored once the start's sweep is over (nobody told)."""
    await trio.sleep(SWEEP_S / 2)
    return await _root_and_replies(store, BOB)


async def _replies(store: MemoryMessages, root_id: int, *senders: int) -> None:
    sent = OutgoingMessage("re", thread_id=root_id)
    await store.add_messages([NewMessage(GROUP.id, sender, sent) for sender in senders])


async def test_a_quiet_threads_replies_are_counted_and_published_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with counting() as (store, summaries, published):
        root = await _a_thread_after_the_first_sweep(store)
        started = trio.current_time()
        summaries.replied({root: GROUP})
        await published.first()
        assert trio.current_time() - started < 0.01
    ((change, room),) = published
    assert (change.message_id, room) == (root, GROUP)
    assert change.thread is not None and change.thread.replies == 1


async def test_a_busy_threads_replies_are_counted_at_most_once_an_interval(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with counting() as (store, summaries, published):
        root = await _a_thread_after_the_first_sweep(store)
        started = trio.current_time()
        for _batch in range(20):  # a batch every 10 ms for 0.2 s
            summaries.replied({root: GROUP})
            await trio.sleep(0.01)
            await _replies(store, root, ALICE, BOB)
        summaries.replied({root: GROUP})
        await trio.sleep(INTERVAL_S * 2)
    at = [change.at for change, _ in published]
    assert len(published) == 2, at  # at once, then after the interval
    replies = [change.thread.replies for change, _ in published if change.thread]
    assert replies == [1, 41]
    assert summaries.counts == 2
    assert trio.current_time() - started >= INTERVAL_S


async def test_the_sweep_at_start_counts_replies_nobody_counted() -> None:
    store = FailingStore([GROUP], {ALICE: "alice", BOB: "bob"})
    root = await _root_and_replies(store, BOB, ALICE)
    async with counting(store) as (_store, _summaries, published):
        await published.first()
    ((change, room),) = published
    assert (change.message_id, room) == (root, GROUP)
    assert change.thread is not None and change.thread.replies == 2


async def test_a_count_that_fails_is_tried_again(autojump_clock: trio.testing.MockClock) -> None:
    async with counting() as (store, summaries, published):
        root = await _a_thread_after_the_first_sweep(store)
        store.failing = 2
        summaries.replied({root: GROUP})
        await trio.sleep(RETRY_S * 3)
    ((change, _room),) = published
    assert change.thread is not None and change.thread.replies == 1
    assert store.failing == 0


async def test_what_is_due_is_counted_on_the_way_out_without_publishing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with counting() as (store, summaries, published):
        root = await _a_thread_after_the_first_sweep(store)
        summaries.replied({root: GROUP})
        await published.first()
        await _replies(store, root, ALICE)
        summaries.replied({root: GROUP})  # due in a quarter of a second: not yet
    assert len(published) == 1
    assert await store.stale_threads(0) == ([], store.messages[-1].id)
