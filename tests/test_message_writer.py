"""The message writer alone (chat/app/messages/writer.py), without a server: batching, the
order of publication, resends, a store that fails, posters cancelled while their message
is on its way, another instance's messages, and shutdown. The store is the in-memory
`Messages` (tests/memory_messages.py, held to the real stores' promises by
tests/test_messages_contract.py); the broadcaster is the real one, recording what it
delivers. Fast: no socket, no database."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import trio
import trio.testing
from memory_messages import MemoryMessages

from chat.app.messages.broadcaster import Broadcaster, Event
from chat.app.messages.pending import PendingMessage
from chat.app.messages.thread_summaries import replied_threads
from chat.app.messages.writer import MAX_BATCH, QUEUE_SIZE, MessageWriter
from chat.bus.carried import Payload, decode
from chat.bus.carrier import Carrier
from chat.bus.local import LocalBus
from chat.core.errors import Gone, Unavailable
from chat.core.outgoing import OutgoingMessage
from chat.core.records import Added, Change, Message, NewMessage, Room
from chat.core.task_failures import TaskFailures
from chat.store.connection_slots import ConnectionSlots
from chat.store.roles import Notifications

NOW = datetime(2026, 11, 23, tzinfo=UTC)
LOBBY = Room(1, "lobby", "lobby", False, None, NOW)
GROUP = Room(2, "group", "group", False, 7, NOW)
#: A room the store does not know (deleted meanwhile): storing into it raises `Gone`.
DELETED = Room(99, "deleted", "group", False, 7, NOW)
ALICE, BOB = 7, 9


class RecordingBroadcaster(Broadcaster):
    """The real broadcaster, keeping (id, body, skip) of every event it delivers."""

    def __init__(self) -> None:
        super().__init__()
        self.delivered: list[tuple[int, str, int | None]] = []
        self.batches: list[list[str]] = []  # the bodies of each delivery, as delivered

    def deliver(self, events: list[Event]) -> None:
        self.delivered.extend((e.item.id, e.item.body, e.skip) for e in events)
        self.batches.append([e.item.body for e in events])
        super().deliver(events)

    def bodies(self) -> list[str]:
        return [body for _id, body, _skip in self.delivered]


class RecordingBus(LocalBus):
    """One instance's bus, keeping the positions the writer announces."""

    def __init__(self) -> None:
        super().__init__()
        self.announced: list[int] = []

    def announce(self, position: int) -> None:
        self.announced.append(position)


class CarryingBus(RecordingBus):
    """A bus of a cluster, keeping the payloads the carrier sends."""

    carries = True
    max_payload_bytes = 7900

    def __init__(self) -> None:
        super().__init__()
        self.payloads: list[Payload] = []

    async def send_carried(self, payload: Payload) -> None:
        await trio.lowlevel.checkpoint()
        self.payloads.append(payload)


@dataclass
class Harness:
    store: MemoryMessages
    writer: MessageWriter
    broadcaster: RecordingBroadcaster
    bus: RecordingBus
    failures: TaskFailures
    nursery: trio.Nursery

    async def post(self, body: str, room: Room = LOBBY, **options: object) -> PendingMessage:
        """`MessageWriter.add` from alice, not skipping anyone unless told."""
        skip = options.pop("skip", None)
        assert skip is None or isinstance(skip, int)
        client_msg_id = options.pop("client_msg_id", None)
        assert client_msg_id is None or isinstance(client_msg_id, str)
        sent = OutgoingMessage(body, client_msg_id)
        return await self.writer.add(room, ALICE, sent, skip=skip)

    async def submit(self, body: str, room: Room = LOBBY) -> PendingMessage:
        return await self.writer.submit(room, ALICE, OutgoingMessage(body), skip=None)

    async def delivered_up_to(self, position: int) -> None:
        with trio.fail_after(5):
            await self.broadcaster.wait_for_position(position)

    def stored_bodies(self) -> list[str]:
        return [message.body for message in self.store.messages]


def new_store() -> MemoryMessages:
    return MemoryMessages([LOBBY, GROUP], {ALICE: "alice", BOB: "bob"})


@asynccontextmanager
async def running(
    store: MemoryMessages | None = None,
    *,
    carrying: bool = False,
    heard: Callable[[], bool] | None = None,
    gather_window: float = 0.0,
) -> AsyncIterator[Harness]:
    """A writer and its broadcaster running on `store`, stopped (cancelled) on exit;
    `carrying`: as one instance of a cluster whose bus carries committed items, which
    hears another instance whenever `heard` says so (always, if None)."""
    store = store or new_store()
    broadcaster, failures = RecordingBroadcaster(), TaskFailures()
    bus = CarryingBus() if carrying else RecordingBus()
    carrier = Carrier(bus, listening=heard) if carrying else None
    writer = MessageWriter(
        store, broadcaster, bus, carrier=carrier, failures=failures, gather_window=gather_window
    )
    # Holds the broadcaster, the writer and the carrier; the end of the block cancels them.
    async with trio.open_nursery() as nursery:
        await nursery.start(broadcaster.run)
        await nursery.start(writer.run)
        if carrier is not None:
            await nursery.start(carrier.run)
        yield Harness(store, writer, broadcaster, bus, failures, nursery)
        nursery.cancel_scope.cancel()


# --- committing and publishing ---


async def test_add_returns_the_message_once_committed_and_published() -> None:
    async with running() as h:
        pending = await h.post("hello")
        message = await pending.result()
        assert (message.id, message.body, message.sender_name) == (1, "hello", "alice")
        assert h.stored_bodies() == ["hello"]
        await h.delivered_up_to(1)
        assert h.broadcaster.delivered == [(1, "hello", None)]
        assert h.writer.position == 1 and h.writer.stored == 1
        assert h.bus.announced == [1]


async def test_after_a_commit_the_writer_tells_which_threads_it_stored_replies_in() -> None:
    told: list[dict[int, Room]] = []
    async with running() as h:
        h.writer.tell_stored(
            lambda stored: told.append(threads) if (threads := replied_threads(stored)) else None
        )
        root = await (await h.post("root", GROUP)).result()
        release = h.store.hold()
        first = await h.writer.submit(GROUP, ALICE, OutgoingMessage("x"), skip=None)
        await h.store.in_flight.wait()
        in_thread = OutgoingMessage("re", thread_id=root.id)
        replies = [await h.writer.submit(GROUP, BOB, in_thread, skip=None) for _ in range(3)]
        release.set()
        for pending in [first, *replies]:
            await pending.result()
    assert told == [{root.id: GROUP}]


async def test_messages_waiting_together_are_committed_as_one_batch() -> None:
    async with running() as h:
        release = h.store.hold()
        first = await h.submit("first")
        await h.store.in_flight.wait()
        rest = [await h.submit(f"m{n}") for n in range(5)]
        release.set()
        for pending in [first, *rest]:
            await pending.result()
        assert [len(batch) for batch in h.store.batches] == [1, 5]


async def test_a_batch_holds_at_most_max_batch_messages() -> None:
    async with running() as h:
        release = h.store.hold()
        first = await h.submit("first")
        await h.store.in_flight.wait()
        rest = [await h.submit(f"m{n}") for n in range(MAX_BATCH + 1)]
        release.set()
        await rest[-1].result()
        assert [len(batch) for batch in h.store.batches] == [1, MAX_BATCH, 1]
        assert first.done.is_set()


async def test_messages_are_published_in_the_order_they_were_submitted() -> None:
    async with running() as h:
        pending = [await h.submit(f"m{n}", LOBBY if n % 2 else GROUP) for n in range(20)]
        messages = [await p.result() for p in pending]
        assert [m.id for m in messages] == list(range(1, 21))
        await h.delivered_up_to(20)
        assert h.broadcaster.bodies() == [f"m{n}" for n in range(20)]


async def test_the_sender_to_skip_travels_with_its_message() -> None:
    async with running() as h:
        await h.post("not to myself", skip=42)
        await h.delivered_up_to(1)
        assert h.broadcaster.delivered == [(1, "not to myself", 42)]


async def test_a_resent_message_gets_the_original_and_is_not_published_again() -> None:
    async with running() as h:
        resent: list[Message] = []
        first = await h.post("once", client_msg_id="c1")
        again = await h.writer.submit(
            LOBBY, ALICE, OutgoingMessage("twice", "c1"), skip=None, on_resent=resent.append
        )
        original = await again.result()
        assert (again.resent, original) == (True, first.message)
        assert resent == [original]
        assert h.stored_bodies() == ["once"] and h.writer.stored == 1
        await h.post("after")
        await h.delivered_up_to(2)
        assert h.broadcaster.bodies() == ["once", "after"]


class PoolOfTwoInUse(MemoryMessages):
    """A store on a pool of two connections whose shared one another caller holds: a
    commit finds a connection only on the message lane (`ConnectionSlots`)."""

    def __init__(self) -> None:
        super().__init__([LOBBY, GROUP], {ALICE: "alice", BOB: "bob"})
        self.slots = ConnectionSlots(2)

    async def add_messages(
        self, rows: list[NewMessage], *, notify: Notifications | None = None
    ) -> list[Added]:
        limiter = self.slots.take_nowait()  # trio.WouldBlock off the lane
        try:
            return await super().add_messages(rows, notify=notify)
        finally:
            limiter.release()


async def test_the_writer_commits_on_the_connection_held_back_for_it() -> None:
    store = PoolOfTwoInUse()
    reader_done = trio.Event()

    async def reader(task_status: trio.TaskStatus[None]) -> None:
        limiter = store.slots.take_nowait()
        task_status.started()
        await reader_done.wait()
        limiter.release()

    async with running(store) as h:
        await h.nursery.start(reader)
        message = await (await h.post("past the readers")).result()
        reader_done.set()
    assert message.body == "past the readers" and h.stored_bodies() == ["past the readers"]


# --- a store that fails ---


async def test_one_bad_message_fails_alone_and_the_rest_of_its_batch_is_stored() -> None:
    async with running() as h:
        errors: list[BaseException] = []
        release = h.store.hold()
        first = await h.submit("first")
        await h.store.in_flight.wait()
        good = await h.submit("good")
        bad = await h.writer.submit(
            DELETED, ALICE, OutgoingMessage("lost"), skip=None, on_error=errors.append
        )
        later = await h.submit("later")
        release.set()
        with pytest.raises(Gone):
            await bad.result()
        assert [type(error) for error in errors] == [Gone]
        for pending in (first, good, later):
            await pending.result()
        await h.delivered_up_to(3)
        assert h.broadcaster.bodies() == ["first", "good", "later"]


async def test_an_unavailable_database_fails_the_whole_batch_and_the_writer_goes_on() -> None:
    async with running() as h:
        release = h.store.hold()
        first = await h.submit("first")
        await h.store.in_flight.wait()
        a, b = await h.submit("a"), await h.submit("b")
        # For the next batch (a and b): the one in flight goes through.
        h.store.fail_next = Unavailable(detail="the database is away")
        release.set()
        await first.result()
        for pending in (a, b):
            with pytest.raises(Unavailable):
                await pending.result()
        assert [len(batch) for batch in h.store.batches] == [1, 2]  # not retried one by one
        assert h.writer.position == 1
        after = await h.post("after")
        assert (await after.result()).id == 2
        await h.delivered_up_to(2)
        assert h.broadcaster.bodies() == ["first", "after"]


async def test_an_unexpected_store_error_reaches_its_poster_and_the_writer_goes_on() -> None:
    async with running() as h:
        h.store.fail_next = RuntimeError("a bug in the store")
        with pytest.raises(RuntimeError, match="a bug in the store"):
            await h.post("unlucky")
        assert (await (await h.post("next")).result()).body == "next"


async def test_a_catch_up_that_fails_is_retried_and_skips_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running() as h:
        await h.store.add_messages([NewMessage(LOBBY.id, BOB, OutgoingMessage("from elsewhere"))])
        h.store.fail_next_read = Unavailable(detail="the database is away")
        h.writer.wake(1)
        await h.delivered_up_to(1)  # after RETRY_S on the mock clock
        assert h.broadcaster.bodies() == ["from elsewhere"]


# --- posters cancelled while their message is on its way ---


async def test_a_poster_cancelled_during_its_commit_leaves_the_message_whole() -> None:
    async with running() as h:
        release = h.store.hold()
        with trio.CancelScope() as poster:
            h.nursery.start_soon(lambda: cancel_when(h.store.in_flight, poster))
            await h.post("in flight")
        assert poster.cancelled_caught
        release.set()
        # Committed and published, as if the poster had waited.
        await h.delivered_up_to(1)
        assert h.stored_bodies() == ["in flight"]
        assert h.broadcaster.bodies() == ["in flight"]


async def test_a_poster_cancelled_while_queued_still_has_its_message_committed() -> None:
    async with running() as h:
        release = h.store.hold()
        first = await h.submit("first")
        await h.store.in_flight.wait()
        queued = trio.Event()
        with trio.CancelScope() as poster:
            h.nursery.start_soon(lambda: cancel_when(queued, poster))
            pending = await h.submit("queued")
            queued.set()
            await pending.result()
        assert poster.cancelled_caught
        release.set()
        await first.result()
        assert (await pending.result()).body == "queued"
        await h.delivered_up_to(2)
        assert h.broadcaster.bodies() == ["first", "queued"]


async def test_a_poster_cancelled_before_its_message_was_queued_leaves_nothing() -> None:
    async with running() as h:
        release = h.store.hold()
        await h.submit("first")
        await h.store.in_flight.wait()
        queued = [await h.submit(f"m{n}") for n in range(QUEUE_SIZE)]  # the queue is full
        with trio.move_on_after(0.01) as poster:
            await h.submit("never queued")
        assert poster.cancelled_caught
        release.set()
        await queued[-1].result()
        assert "never queued" not in h.stored_bodies()
        await h.delivered_up_to(QUEUE_SIZE + 1)
        assert "never queued" not in h.broadcaster.bodies()


async def cancel_when(event: trio.Event, scope: trio.CancelScope) -> None:
    await event.wait()
    scope.cancel()


# --- other instances ---


async def test_the_writer_starts_after_the_newest_stored_message() -> None:
    store = new_store()
    await store.add_messages(
        [NewMessage(LOBBY.id, ALICE, OutgoingMessage(f"old{n}")) for n in range(3)]
    )
    async with running(store) as h:
        assert h.writer.position == h.broadcaster.position == 3
        await h.post("new")
        await h.delivered_up_to(4)
        assert h.broadcaster.bodies() == ["new"]


async def test_a_wake_makes_an_idle_writer_publish_what_another_instance_committed() -> None:
    async with running() as h:
        await h.store.add_messages(
            [NewMessage(GROUP.id, BOB, OutgoingMessage(f"b{n}")) for n in range(3)]
        )
        h.writer.wake(3)
        await h.delivered_up_to(3)
        assert h.broadcaster.bodies() == ["b0", "b1", "b2"]
        assert h.bus.announced == []  # not ours to announce


async def test_messages_another_instance_committed_first_are_published_before_ours() -> None:
    async with running() as h:
        # Committed elsewhere, not yet announced: our message's id shows the gap.
        await h.store.add_messages([NewMessage(LOBBY.id, BOB, OutgoingMessage("earlier"))])
        await h.post("ours")
        await h.delivered_up_to(2)
        assert h.broadcaster.bodies() == ["earlier", "ours"]
        assert h.bus.announced == [2]


async def test_a_gap_before_ours_is_read_however_long_the_read_takes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running() as h:
        await h.store.add_messages([NewMessage(LOBBY.id, BOB, OutgoingMessage("earlier"))])
        h.store.read_delay = 60.0  # a slow, lossy link: reads take a minute
        await h.post("ours")
        await h.delivered_up_to(2)  # published after the commit, not before `post` returns
        assert h.broadcaster.bodies() == ["earlier", "ours"]


# --- other instances, their items carried on the bus ---


async def _elsewhere(store: MemoryMessages, *bodies: str) -> list[tuple[Message, Room]]:
    """Messages another instance committed: stored, with the room the bus carries."""
    added = await store.add_messages(
        [NewMessage(LOBBY.id, BOB, OutgoingMessage(body)) for body in bodies]
    )
    return [(item.message, LOBBY) for item in added]


async def test_carried_items_are_published_in_position_order_without_a_table_read() -> None:
    async with running(carrying=True) as h:
        first, second = await _elsewhere(h.store, "b1", "b2")
        h.writer.carried([second])
        h.writer.carried([first])
        await h.delivered_up_to(2)
        assert h.broadcaster.bodies() == ["b1", "b2"]
        assert h.writer.table_reads == {}


async def test_a_gap_the_bus_does_not_fill_is_read_from_the_table_after_a_grace() -> None:
    async with running(carrying=True) as h:
        _first, second = await _elsewhere(h.store, "b1", "b2")
        h.writer.carried([second])  # b1's payload never comes
        await h.delivered_up_to(2)
        assert h.broadcaster.bodies() == ["b1", "b2"]
        assert h.writer.table_reads == {"gap": 1}


async def test_a_read_marker_makes_the_writer_read_the_table() -> None:
    async with running(carrying=True) as h:
        await _elsewhere(h.store, "b1", "b2", "b3")
        h.writer.carried([], read=3)
        await h.delivered_up_to(3)
        assert h.broadcaster.bodies() == ["b1", "b2", "b3"]
        assert h.writer.table_reads == {"marker": 1}


async def test_our_batch_after_a_gap_waits_for_the_bus_to_bring_what_came_first() -> None:
    async with running(carrying=True) as h:
        (earlier,) = await _elsewhere(h.store, "earlier")
        h.nursery.start_soon(h.post, "ours")
        await trio.testing.wait_all_tasks_blocked()
        assert len(h.store.messages) == 2  # ours is committed: its id shows the gap
        assert h.broadcaster.bodies() == []
        h.writer.carried([earlier])
        await h.delivered_up_to(2)
        assert h.broadcaster.bodies() == ["earlier", "ours"]
        assert h.writer.table_reads == {}


async def test_what_came_first_from_elsewhere_is_delivered_with_our_batch_in_one_go() -> None:
    # One delivery, so each connection gets one write for both (not one per batch).
    async with running(carrying=True) as h:
        (earlier,) = await _elsewhere(h.store, "earlier")
        h.nursery.start_soon(h.post, "ours")
        await trio.testing.wait_all_tasks_blocked()
        h.writer.carried([earlier])
        await h.delivered_up_to(2)
        assert h.broadcaster.batches == [["earlier", "ours"]]


def _carried_items(h: Harness) -> list[tuple[Message | Change, Room]]:
    """What the one payload the bus sent carries, as another instance decodes it."""
    assert isinstance(h.bus, CarryingBus)
    (payload,) = h.bus.payloads
    event = {"type": "carried", "items": [json.loads(text) for text in payload.texts]}
    carried = decode(event)
    assert carried is not None
    return carried.items


async def test_our_batch_is_carried_to_the_other_instances() -> None:
    async with running(carrying=True) as h:
        pending = await h.post("ours")
        await trio.testing.wait_all_tasks_blocked()
        assert _carried_items(h) == [(await pending.result(), LOBBY)]


async def test_an_instance_that_hears_no_other_carries_nothing() -> None:
    others = False
    async with running(carrying=True, heard=lambda: others) as h:
        await h.post("alone")
        await trio.testing.wait_all_tasks_blocked()
        assert h.bus.payloads == []
        assert h.bus.announced == [1]  # the wake-up still goes out: nobody misses it
        others = True
        pending = await h.post("heard")
        await trio.testing.wait_all_tasks_blocked()
        assert _carried_items(h) == [(await pending.result(), LOBBY)]


async def test_items_carried_from_elsewhere_are_not_carried_again() -> None:
    async with running(carrying=True) as h:
        items = await _elsewhere(h.store, "b1")
        h.writer.carried(items)
        await h.delivered_up_to(1)
        await trio.testing.wait_all_tasks_blocked()
        assert h.bus.payloads == []


# --- gathering: an idle writer holding a message for others ---

WINDOW = 0.005


async def _post_at(h: Harness, per_second: float, count: int) -> list[PendingMessage]:
    """`count` messages submitted `per_second`, as a steady sender sends them."""
    sent = []
    for n in range(count):
        sent.append(await h.submit(f"m{n}"))
        await trio.sleep(1 / per_second)
    return sent


async def test_messages_arriving_within_the_window_share_a_commit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running(gather_window=WINDOW) as h:
        sent = await _post_at(h, 400, 400)
        for pending in sent:
            await pending.result()
    sizes = [len(batch) for batch in h.store.batches]
    assert sum(sizes) == 400
    # Two or three a batch once the rate is known (400/s: 2 in 5 ms), not one each.
    assert len(sizes) < 250
    assert h.writer.batches_held >= 90


async def test_a_held_message_waits_at_most_the_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running(gather_window=WINDOW) as h:
        await _post_at(h, 400, 200)
        sent_at = trio.current_time()
        pending = await h.submit("late")
        await pending.result()
        assert trio.current_time() - sent_at <= WINDOW + 1e-9
        assert h.writer.batches_held > 0


async def test_messages_slower_than_one_a_window_are_never_held(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running(gather_window=WINDOW) as h:
        for pending in await _post_at(h, 100, 100):
            await pending.result()
    assert [len(batch) for batch in h.store.batches] == [1] * 100
    assert h.writer.batches_held == 0


async def test_without_a_window_each_idle_message_is_committed_alone(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running() as h:
        for pending in await _post_at(h, 400, 100):
            await pending.result()
    assert [len(batch) for batch in h.store.batches] == [1] * 100


async def test_shutdown_commits_the_messages_held_for_others(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = new_store()
    async with running(store, gather_window=1.0) as h:
        sent = await _post_at(h, 400, 200)  # a hold began once the rate was known
        assert h.writer.batches_held == 1 and not sent[-1].done.is_set()
        h.nursery.cancel_scope.cancel()
    assert [m.body for m in store.messages] == [f"m{n}" for n in range(200)]
    assert all(pending.done.is_set() for pending in sent)


# --- shutdown ---


async def test_shutdown_commits_what_was_accepted_and_answers_its_posters() -> None:
    store = new_store()
    async with running(store) as h:
        release = store.hold()
        first = await h.submit("first")
        await store.in_flight.wait()
        accepted = [await h.submit("a"), await h.submit("b")]
        h.nursery.cancel_scope.cancel()
        release.set()
    assert [m.body for m in store.messages] == ["first", "a", "b"]
    for pending in (first, *accepted):
        assert pending.done.is_set()
    assert [(await p.result()).body for p in accepted] == ["a", "b"]
    # Nobody is left to deliver them to live: they are in the history.
    assert h.broadcaster.bodies() == []


async def test_after_shutdown_a_new_message_is_refused_as_unavailable() -> None:
    async with running() as h:
        pass
    with pytest.raises(Unavailable, match="shutting down"):
        await h.submit("too late")
