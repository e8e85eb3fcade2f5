"""What an instance knows of who follows a thread (chat/app/people/thread_follows.py): read
once, then kept by the replies it sees with the store's rule, forgotten on a choice (here
or, by event, elsewhere), read again when old, and bounded."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

import pytest
import trio

from chat.app.people.thread_follows import THREAD_FOLLOWS_EVENT, KnownFollows
from chat.core.records import Message
from chat.core.thread_records import ThreadFollows

pytestmark = pytest.mark.unit

ROOT, AUTHOR, ALICE, BOB, CAROL = 100, 1, 2, 3, 4


class Follows:
    """The store's follow states, in memory; counts its reads, and can hold one."""

    def __init__(self) -> None:
        self.states: dict[int, ThreadFollows] = {ROOT: ThreadFollows(AUTHOR, {AUTHOR: True})}
        self.reads: list[set[int]] = []
        self.held: trio.Event | None = None
        self.reading = trio.Event()

    async def thread_follows(self, thread_ids: Collection[int]) -> dict[int, ThreadFollows]:
        self.reads.append(set(thread_ids))
        found = {t: self.states[t] for t in thread_ids if t in self.states}
        self.reading.set()
        if self.held is not None:
            await self.held.wait()
        await trio.lowlevel.checkpoint()
        return found


def reply(sender: int, *, thread: int = ROOT, mentions: tuple[int, ...] = ()) -> Message:
    return Message(
        1000 + sender, 7, sender, f"u{sender}", "re", datetime.now(UTC), None, None,
        thread_id=thread, mentions=mentions,
    )  # fmt: skip


async def test_a_thread_is_read_once_then_kept_by_its_replies() -> None:
    store = Follows()
    known = KnownFollows(store)
    assert await known.followers_after([reply(ALICE)]) == [frozenset({AUTHOR, ALICE})]
    assert await known.followers_after([reply(BOB)]) == [frozenset({AUTHOR, ALICE, BOB})]
    assert store.reads == [{ROOT}]


async def test_each_reply_of_a_batch_is_answered_with_the_followers_after_it() -> None:
    known = KnownFollows(Follows())
    answers = await known.followers_after([reply(ALICE), reply(BOB)])
    assert answers == [frozenset({AUTHOR, ALICE}), frozenset({AUTHOR, ALICE, BOB})]


async def test_a_mentioned_user_follows_unless_they_chose_not_to() -> None:
    store = Follows()
    store.states[ROOT] = ThreadFollows(AUTHOR, {AUTHOR: True, BOB: False, CAROL: None})
    known = KnownFollows(store)
    (after,) = await known.followers_after([reply(ALICE, mentions=(BOB, CAROL))])
    assert after == {AUTHOR, ALICE, CAROL}


async def test_replying_follows_again_after_unfollowing() -> None:
    store = Follows()
    store.states[ROOT] = ThreadFollows(AUTHOR, {AUTHOR: True, ALICE: False})
    known = KnownFollows(store)
    assert await known.followers_after([reply(ALICE)]) == [frozenset({AUTHOR, ALICE})]


async def test_an_author_who_unfollowed_is_not_brought_back_by_a_reply() -> None:
    store = Follows()
    store.states[ROOT] = ThreadFollows(AUTHOR, {AUTHOR: False})
    known = KnownFollows(store)
    assert await known.followers_after([reply(ALICE)]) == [frozenset({ALICE})]


async def test_a_thread_whose_root_is_gone_has_no_followers() -> None:
    known = KnownFollows(Follows())
    assert await known.followers_after([reply(ALICE, thread=999)]) == [frozenset()]


async def test_a_choice_forgets_the_thread_so_the_next_reply_reads_it_again() -> None:
    store = Follows()
    known = KnownFollows(store)
    await known.followers_after([reply(ALICE)])
    store.states[ROOT] = ThreadFollows(AUTHOR, {AUTHOR: True, ALICE: False})
    await known.chose(ROOT)
    assert await known.followers_after([reply(BOB)]) == [frozenset({AUTHOR, BOB})]
    assert store.reads == [{ROOT}, {ROOT}]


async def test_another_instances_event_forgets_the_thread() -> None:
    store = Follows()
    known = KnownFollows(store)
    await known.followers_after([reply(ALICE)])
    known.on_event({"type": THREAD_FOLLOWS_EVENT, "ThreadID": ROOT})
    assert len(known) == 0
    known.on_event({"type": THREAD_FOLLOWS_EVENT, "ThreadID": "100"})  # malformed: ignored
    known.on_event({"type": THREAD_FOLLOWS_EVENT})


async def test_a_choice_made_while_the_thread_is_read_is_not_covered_by_that_read() -> None:
    store = Follows()
    store.held = trio.Event()
    known = KnownFollows(store)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(known.followers_after, [reply(ALICE)])
        await store.reading.wait()
        known.forget(ROOT)  # the read began before the choice was stored
        store.held.set()
    assert len(known) == 0
    store.held = None
    await known.followers_after([reply(BOB)])
    assert store.reads == [{ROOT}, {ROOT}]


async def test_a_thread_known_too_long_is_read_again(autojump_clock: trio.abc.Clock) -> None:
    store = Follows()
    known = KnownFollows(store, max_age_s=60)
    await known.followers_after([reply(ALICE)])
    await trio.sleep(30)
    await known.followers_after([reply(BOB)])
    assert len(store.reads) == 1
    await trio.sleep(31)
    await known.followers_after([reply(CAROL)])
    assert len(store.reads) == 2


async def test_the_threads_replied_in_least_recently_go_first() -> None:
    store = Follows()
    for thread in (1, 2, 3):
        store.states[thread] = ThreadFollows(AUTHOR, {})
    known = KnownFollows(store, max_threads=2)
    for thread in (1, 2, 1, 3):
        await known.followers_after([reply(ALICE, thread=thread)])
    assert len(known) == 2
    await known.followers_after([reply(ALICE, thread=1)])  # kept: replied in after 2
    await known.followers_after([reply(ALICE, thread=2)])  # gone: read again
    assert store.reads == [{1}, {2}, {3}, {2}]


def test_a_reply_that_changes_no_ones_state_keeps_the_states_as_they_are() -> None:
    # A long thread's replies mostly come from its followers: no copy of its states each.
    known = ThreadFollows(AUTHOR, {AUTHOR: True, ALICE: True, BOB: False})
    assert known.follows_after(reply(ALICE, mentions=(AUTHOR, BOB))) is known
    changed = known.follows_after(reply(BOB, mentions=(CAROL,)))
    assert changed.states == {AUTHOR: True, ALICE: True, BOB: True, CAROL: True}
    assert known.states == {AUTHOR: True, ALICE: True, BOB: False}
