"""The broadcaster alone (chat/app/messages/broadcaster.py), without a server: who gets which
frames,
in what order and in how many offers, what a full or gone subscriber costs the others,
where the position stands, and a batch that fails. Subscribers are plain objects that
keep what they are offered; the clock is Trio's MockClock. Fast: no socket, no database."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
import trio
import trio.testing

from chat.app.messages.broadcaster import Broadcaster, Event, room_topic, topics_for, user_topic
from chat.core.frames import text_frame
from chat.core.records import Change, Departure, Message, Room
from chat.core.task_failures import TaskFailures

NOW = datetime(2026, 11, 23, tzinfo=UTC)
LOBBY = Room(1, "lobby", "lobby", False, None, NOW)
DIRECT = Room(2, None, "direct", True, None, NOW, pair=(7, 9))


@dataclass(eq=False)
class Keeper:
    """A subscriber that keeps every offer; `full` makes it refuse them (a slow consumer)."""

    id: int
    full: bool = False
    offers: list[bytes] = field(default_factory=list)

    def offer(self, data: bytes) -> bool:
        if self.full:
            return False
        self.offers.append(data)
        return True


def message(message_id: int, room: Room = LOBBY, text: str | None = None) -> Message:
    return Message(message_id, room.id, 7, "alice", text or f"m{message_id}", NOW)


def events(*messages: Message, room: Room = LOBBY, skip: int | None = None) -> list[Event]:
    return [Event(room_topic(room.id), m, room, skip) for m in messages]


def body(event: Event) -> str:
    return event.item.body


def frames(*texts: str) -> bytes:
    return b"".join(text_frame(text) for text in texts)


def edited(seq: int, message_id: int = 10) -> Event:
    change = Change(seq, LOBBY.id, message_id, "edited", NOW, text=f"v{seq}")
    return Event(room_topic(LOBBY.id), change, LOBBY)


def messages_only(event: Event) -> str | None:
    """A dialect with no frame for a change (TokenTalker, spec 003, spec 001)."""
    return event.item.body if isinstance(event.item, Message) else None


def everything(event: Event) -> str:
    """The room protocol: a frame for messages and changes alike."""
    item = event.item
    return item.body if isinstance(item, Message) else f"{item.kind} {item.text}"


@pytest.mark.parametrize("batch", [False, True])
def test_a_dialect_with_no_frame_for_an_event_is_skipped_and_the_others_get_it(
    batch: bool,
) -> None:
    broadcaster = Broadcaster()
    old, new = Keeper(1), Keeper(2)
    broadcaster.subscribe(room_topic(1), old, messages_only)
    broadcaster.subscribe(room_topic(1), new, everything)
    broadcaster.deliver([*events(message(10)), edited(11)] if batch else [edited(11)])
    assert new.offers == ([frames("m10", "edited v11")] if batch else [frames("edited v11")])
    assert old.offers == ([frames("m10")] if batch else [])
    assert broadcaster.stats.refused == 0


def test_the_position_moves_to_the_last_changes_seq() -> None:
    broadcaster = Broadcaster()
    broadcaster.deliver([*events(message(10)), edited(11)])
    assert broadcaster.position == 11


def test_each_subscriber_of_the_topic_gets_the_event_once() -> None:
    broadcaster = Broadcaster()
    a, b, elsewhere = Keeper(1), Keeper(2), Keeper(3)
    broadcaster.subscribe(room_topic(1), a, body)
    broadcaster.subscribe(room_topic(1), b, body)
    broadcaster.subscribe(room_topic(5), elsewhere, body)
    broadcaster.deliver(events(message(10)))
    assert a.offers == b.offers == [frames("m10")]
    assert elsewhere.offers == []


def test_a_batch_reaches_each_subscriber_in_one_offer_in_id_order() -> None:
    broadcaster = Broadcaster()
    a = Keeper(1)
    broadcaster.subscribe(room_topic(1), a, body)
    broadcaster.deliver(events(message(10), message(11), message(12)))
    assert a.offers == [frames("m10", "m11", "m12")]


def test_the_subscriber_named_in_skip_does_not_get_it() -> None:
    broadcaster = Broadcaster()
    sender, other = Keeper(1), Keeper(2)
    for subscriber in (sender, other):
        broadcaster.subscribe(room_topic(1), subscriber, body)
    broadcaster.deliver(events(message(10), skip=1))
    assert (sender.offers, other.offers) == ([], [frames("m10")])


def shouted(event: Event) -> str:
    return body(event).upper()


def odd_only(event: Event) -> str | None:
    return body(event) if event.item.id % 2 else None


@pytest.mark.parametrize("seed", range(20))
def test_a_batch_delivers_what_its_events_delivered_one_at_a_time_deliver(seed: int) -> None:
    # Runs of one topic, topics interleaved, subscribers of several topics with different
    # encoders (one with no frame for some events), senders skipped for their own events.
    rng = random.Random(seed)
    topics = [room_topic(n) for n in range(1, 4)]
    batched, one_by_one = Broadcaster(), Broadcaster()
    keepers: list[tuple[Keeper, Keeper]] = []
    for n in range(rng.randint(1, 8)):
        pair = (Keeper(n), Keeper(n))
        keepers.append(pair)
        for topic in rng.sample(topics, rng.randint(1, 3)):
            encode = rng.choice([body, shouted, odd_only])
            batched.subscribe(topic, pair[0], encode)
            one_by_one.subscribe(topic, pair[1], encode)
    batch = []
    topic = rng.choice(topics)
    for message_id in range(1, rng.randint(2, 40)):
        if rng.random() < 0.3:
            topic = rng.choice(topics)
        skip = rng.choice([None, None, rng.randrange(8)])
        batch.append(Event(topic, message(message_id), LOBBY, skip))
    batched.deliver(batch)
    for event in batch:
        one_by_one.deliver([event])
    for mine, reference in keepers:
        assert len(mine.offers) <= 1
        assert b"".join(mine.offers) == b"".join(reference.offers)
    assert batched.stats == one_by_one.stats


def test_each_event_is_encoded_once_per_encoder_not_per_subscriber() -> None:
    calls: list[int] = []

    def counting(event: Event) -> str:
        calls.append(event.item.id)
        return body(event)

    broadcaster = Broadcaster()
    for n in range(50):
        broadcaster.subscribe(room_topic(1), Keeper(n), counting)
    broadcaster.deliver(events(message(10)))
    broadcaster.deliver(events(message(11), message(12)))
    assert calls == [10, 11, 12]


def test_a_full_subscriber_is_counted_refused_and_holds_up_nobody() -> None:
    broadcaster = Broadcaster()
    slow, fast = Keeper(1, full=True), Keeper(2)
    broadcaster.subscribe(room_topic(1), slow, body)
    broadcaster.subscribe(room_topic(1), fast, body)
    broadcaster.deliver(events(message(10), message(11)))
    assert fast.offers == [frames("m10", "m11")]
    assert (broadcaster.stats.deliveries, broadcaster.stats.refused) == (2, 2)


def test_unsubscribing_twice_is_harmless_and_stops_delivery() -> None:
    broadcaster = Broadcaster()
    a = Keeper(1)
    subscription = broadcaster.subscribe(room_topic(1), a, body)
    broadcaster.unsubscribe(subscription)
    broadcaster.unsubscribe(subscription)
    broadcaster.deliver(events(message(10)))
    assert a.offers == []


def test_a_direct_message_goes_to_the_room_and_to_both_users() -> None:
    assert topics_for(DIRECT) == [room_topic(2), user_topic(7), user_topic(9)]
    assert topics_for(LOBBY) == [room_topic(1)]


def test_the_position_is_the_last_message_delivered_even_with_nobody_listening() -> None:
    broadcaster = Broadcaster()
    broadcaster.start_at(9)
    broadcaster.deliver(events(message(10), message(11)))
    assert broadcaster.position == 11


async def test_run_delivers_batches_in_the_order_they_were_published() -> None:
    broadcaster = Broadcaster()
    a = Keeper(1)
    broadcaster.subscribe(room_topic(1), a, body)
    async with trio.open_nursery() as nursery:
        await nursery.start(broadcaster.run)
        for n in range(10, 20):
            await broadcaster.publish(events(message(n)))
        await broadcaster.wait_for_position(19)
        nursery.cancel_scope.cancel()
    assert b"".join(a.offers) == frames(*(f"m{n}" for n in range(10, 20)))


async def test_batches_published_in_one_step_reach_each_subscriber_in_one_offer() -> None:
    broadcaster = Broadcaster()
    a = Keeper(1)
    broadcaster.subscribe(room_topic(1), a, body)
    async with trio.open_nursery() as nursery:
        await nursery.start(broadcaster.run)
        # Another instance's batch, then ours, with no schedule point between them.
        broadcaster.publish_nowait(events(message(10), message(11)))
        broadcaster.publish_nowait(events(message(12)))
        await broadcaster.wait_for_position(12)
        nursery.cancel_scope.cancel()
    assert a.offers == [frames("m10", "m11", "m12")]


# --- the pace: fan-out steps at least `pace` apart ---

PACE = 0.005


@asynccontextmanager
async def paced_after_one_step() -> AsyncIterator[tuple[Broadcaster, Keeper]]:
    """A running broadcaster with a pace, and a subscriber that has had m10 (one step)."""
    broadcaster = Broadcaster(pace=PACE)
    keeper = Keeper(1)
    broadcaster.subscribe(room_topic(1), keeper, body)
    async with trio.open_nursery() as nursery:
        await nursery.start(broadcaster.run)
        await broadcaster.publish(events(message(10)))
        await broadcaster.wait_for_position(10)
        yield broadcaster, keeper
        nursery.cancel_scope.cancel()


async def test_with_a_pace_batches_published_within_it_reach_a_subscriber_in_one_offer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with paced_after_one_step() as (broadcaster, keeper):
        for n in (11, 12, 13):  # a millisecond apart, all within the pace
            await trio.sleep(PACE / 5)
            await broadcaster.publish(events(message(n)))
        await broadcaster.wait_for_position(13)
    assert keeper.offers == [frames("m10"), frames("m11", "m12", "m13")]


async def test_with_a_pace_a_batch_after_a_quiet_spell_is_fanned_out_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with paced_after_one_step() as (broadcaster, keeper):
        await trio.sleep(PACE * 2)
        published_at = trio.current_time()
        await broadcaster.publish(events(message(11)))
        await broadcaster.wait_for_position(11)
        assert trio.current_time() == published_at
    assert keeper.offers == [frames("m10"), frames("m11")]


async def test_with_a_pace_a_step_nobody_listened_to_holds_nothing_back(
    autojump_clock: trio.testing.MockClock,
) -> None:
    broadcaster = Broadcaster(pace=PACE)
    a = Keeper(1)
    broadcaster.subscribe(room_topic(2), a, body)  # not the lobby's
    async with trio.open_nursery() as nursery:
        await nursery.start(broadcaster.run)
        await broadcaster.publish(events(message(10)))
        await broadcaster.wait_for_position(10)
        published_at = trio.current_time()
        await broadcaster.publish(events(message(11), room=Room(2, "b", "group", False, 7, NOW)))
        await broadcaster.wait_for_position(11)
        assert trio.current_time() == published_at
        nursery.cancel_scope.cancel()
    assert a.offers == [frames("m11")]


async def test_with_a_pace_an_event_waits_at_most_the_pace(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with paced_after_one_step() as (broadcaster, _keeper):
        published_at = trio.current_time()
        await broadcaster.publish(events(message(11)))
        await broadcaster.wait_for_position(11)
        assert 0 < trio.current_time() - published_at <= PACE


def departure(seq: int, user_id: int = 9, room: Room = LOBBY) -> Departure:
    return Departure(seq, room.id, user_id, 7, "alice", "spam", NOW)


def test_a_departure_is_applied_after_the_events_before_it_and_before_those_after() -> None:
    broadcaster = Broadcaster()
    leaving, staying = Keeper(9), Keeper(2)
    subscription = broadcaster.subscribe(room_topic(1), leaving, body)
    broadcaster.subscribe(room_topic(1), staying, body)
    seen: list[tuple[Departure, list[bytes]]] = []

    def departed(gone: Departure) -> None:
        # What the real listener does: the member's connections leave the room.
        seen.append((gone, list(leaving.offers)))
        broadcaster.unsubscribe(subscription)

    broadcaster.on_departure(departed)
    broadcaster.deliver_published(
        [events(message(10), message(11)), departure(12), events(message(13))]
    )
    assert seen == [(departure(12), [frames("m10", "m11")])]
    assert leaving.offers == [frames("m10", "m11")]
    assert b"".join(staying.offers) == frames("m10", "m11", "m13")
    assert broadcaster.position == 13


async def test_run_applies_a_departure_in_its_place_among_batches_published_together() -> None:
    broadcaster = Broadcaster()
    leaving = Keeper(9)
    subscription = broadcaster.subscribe(room_topic(1), leaving, body)
    broadcaster.on_departure(lambda _gone: broadcaster.unsubscribe(subscription))
    async with trio.open_nursery() as nursery:
        await nursery.start(broadcaster.run)
        broadcaster.publish_nowait(events(message(10)))
        broadcaster.publish_nowait(departure(11))
        broadcaster.publish_nowait(events(message(12), message(13)))
        await broadcaster.wait_for_position(13)
        nursery.cancel_scope.cancel()
    assert leaving.offers == [frames("m10")]


def test_a_departure_listener_that_raises_costs_the_events_after_it_nothing() -> None:
    failures = TaskFailures()
    broadcaster = Broadcaster(failures=failures)
    a = Keeper(1)
    broadcaster.subscribe(room_topic(1), a, body)

    def broken(_gone: Departure) -> None:
        raise RuntimeError("a bug")

    broadcaster.on_departure(broken)
    broadcaster.deliver_published([departure(10), events(message(11))])
    assert a.offers == [frames("m11")] and broadcaster.position == 11
    assert sum(failures.counts.values()) == 1


def test_publish_nowait_refuses_a_batch_when_the_inbox_is_full() -> None:
    broadcaster = Broadcaster(inbox_size=1)
    broadcaster.publish_nowait(events(message(10)))
    with pytest.raises(trio.WouldBlock):
        broadcaster.publish_nowait(events(message(11)))


async def test_wait_for_position_returns_once_the_position_is_delivered() -> None:
    broadcaster = Broadcaster()
    reached: list[int] = []

    async def waiter() -> None:
        await broadcaster.wait_for_position(11)
        reached.append(broadcaster.position)

    async with trio.open_nursery() as nursery:
        await nursery.start(broadcaster.run)
        nursery.start_soon(waiter)
        await broadcaster.publish(events(message(10)))
        await trio.testing.wait_all_tasks_blocked()
        assert reached == []
        await broadcaster.publish(events(message(11)))
        await trio.testing.wait_all_tasks_blocked()
        assert reached == [11]
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("batch", [1, 3])
async def test_a_batch_whose_encoding_fails_is_counted_and_the_next_one_delivered(
    batch: int,
) -> None:
    def fragile(event: Event) -> str:
        if event.item.body == "poison":
            raise ValueError("an encoder with a bug")
        return body(event)

    failures = TaskFailures()
    broadcaster = Broadcaster(failures=failures)
    a = Keeper(1)
    broadcaster.subscribe(room_topic(1), a, fragile)
    poisoned = [message(10, text="poison"), *(message(10 + n) for n in range(1, batch))]
    async with trio.open_nursery() as nursery:
        await nursery.start(broadcaster.run)
        await broadcaster.publish(events(*poisoned))
        await broadcaster.publish(events(message(20)))
        with trio.fail_after(1):
            await broadcaster.wait_for_position(20)
        nursery.cancel_scope.cancel()
    assert failures.counts["broadcaster"] >= 1
    # Only the event that could not be encoded is lost.
    delivered = b"".join(a.offers)
    assert delivered == frames(*(f"m{n}" for n in range(11, 10 + batch)), "m20")
    assert broadcaster.position == 20


async def test_a_subscriber_whose_offer_raises_costs_the_others_nothing() -> None:
    @dataclass(eq=False)
    class Broken:
        id: int

        def offer(self, data: bytes) -> bool:
            raise RuntimeError("a connection with a bug")

    failures = TaskFailures()
    broadcaster = Broadcaster(failures=failures)
    before, after = Keeper(1), Keeper(3)
    broadcaster.subscribe(room_topic(1), before, body)
    broadcaster.subscribe(room_topic(1), Broken(2), body)
    broadcaster.subscribe(room_topic(1), after, body)
    broadcaster.deliver(events(message(10)))
    broadcaster.deliver(events(message(11), message(12)))
    assert before.offers == after.offers == [frames("m10"), frames("m11", "m12")]
    assert failures.counts == {"broadcaster": 2}
    assert broadcaster.stats.refused == 3
