"""One client's requests alone (chat/ws/session/request_order.py): answers in request order
while the queries overlap, read-your-writes, the limit on requests running at once,
work bound to the client, and cancellation at each await. Fast: no socket, no database;
a request's "query" is a function that waits for what the test lets it."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from functools import partial

import trio
import trio.testing
from memory_connection import cancelled_after

from chat.app.messages.pending import PendingMessage
from chat.core.records import Room
from chat.ws.session.request_order import MAX_REQUESTS, RequestOrder

LOBBY = Room(1, "lobby", "lobby", False, None, datetime(2026, 11, 23, tzinfo=UTC))


def pending() -> PendingMessage:
    return PendingMessage(LOBBY, 7, "hello", None)


class Client:
    """What the client received, and how to make a request's query wait."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.queries_started: list[str] = []

    async def deliver(self, frames: Sequence[str]) -> None:
        for frame in frames:
            await trio.lowlevel.checkpoint()  # sending takes a while
            self.received.append(frame)

    def query(
        self, name: str, frames: Sequence[str], until: trio.Event | None = None
    ) -> Callable[[], Awaitable[Sequence[str]]]:
        async def answer() -> Sequence[str]:
            self.queries_started.append(name)
            if until is not None:
                await until.wait()
            await trio.lowlevel.checkpoint()
            return frames

        return answer


async def test_a_requests_frames_come_after_all_of_the_request_before_it() -> None:
    order, client, slow = RequestOrder(), Client(), trio.Event()
    async with trio.open_nursery() as nursery:
        await order.launch(
            nursery.start_soon, client.query("a", ["a1", "a2"], until=slow), client.deliver
        )
        await order.launch(nursery.start_soon, client.query("b", ["b1", "b2"]), client.deliver)
        await trio.testing.wait_all_tasks_blocked()
        assert client.received == []  # b's answer is ready, but a's comes first
        slow.set()
    assert client.received == ["a1", "a2", "b1", "b2"]


async def test_the_queries_of_two_requests_run_at_the_same_time() -> None:
    order, client, slow = RequestOrder(), Client(), trio.Event()
    async with trio.open_nursery() as nursery:
        await order.launch(
            nursery.start_soon, client.query("a", ["a1"], until=slow), client.deliver
        )
        await order.launch(nursery.start_soon, client.query("b", ["b1"]), client.deliver)
        await trio.testing.wait_all_tasks_blocked()
        assert client.queries_started == ["a", "b"]
        slow.set()


async def test_turn_waits_until_every_launched_request_has_sent_its_frames() -> None:
    order, client, slow = RequestOrder(), Client(), trio.Event()
    async with trio.open_nursery() as nursery:
        await order.launch(
            nursery.start_soon, client.query("a", ["a1"], until=slow), client.deliver
        )

        async def answer_later() -> None:
            await order.turn()
            client.received.append("the next answer")

        nursery.start_soon(answer_later)
        await trio.testing.wait_all_tasks_blocked()
        assert client.received == []
        slow.set()
    assert client.received == ["a1", "the next answer"]


async def test_a_request_waits_for_the_writes_tracked_before_it_only() -> None:
    order, client = RequestOrder(), Client()
    before, after = pending(), pending()
    async with trio.open_nursery() as nursery:
        order.track_write(before)
        await order.launch(nursery.start_soon, client.query("a", ["a1"]), client.deliver)
        order.track_write(after)  # never committed while the request runs
        await trio.testing.wait_all_tasks_blocked()
        assert client.queries_started == []  # reads its own write: waits for it
        before.done.set()
    assert client.received == ["a1"]


async def test_writes_settled_waits_for_every_tracked_write() -> None:
    order, first, second = RequestOrder(), pending(), pending()
    order.track_write(first)
    order.track_write(second)
    settled = False

    async def settle() -> None:
        nonlocal settled
        await order.writes_settled()
        settled = True

    async with trio.open_nursery() as nursery:
        nursery.start_soon(settle)
        first.done.set()
        await trio.testing.wait_all_tasks_blocked()
        assert not settled
        second.done.set()
    assert settled


async def test_quiet_while_nothing_launched_is_unanswered_and_every_write_settled() -> None:
    # What lets a handler send an answer ready now itself, in order (`answer_now`).
    order, client, slow = RequestOrder(), Client(), trio.Event()
    assert order.quiet()
    write = pending()
    order.track_write(write)
    assert not order.quiet()
    write.done.set()
    assert order.quiet()
    async with trio.open_nursery() as nursery:
        await order.launch(
            nursery.start_soon, client.query("a", ["a1"], until=slow), client.deliver
        )
        assert not order.quiet()
        slow.set()
    assert order.quiet()


async def test_at_most_max_requests_run_at_once(autojump_clock: trio.testing.MockClock) -> None:
    order, client, slow = RequestOrder(), Client(), trio.Event()
    async with trio.open_nursery() as nursery:
        for i in range(MAX_REQUESTS):
            await order.launch(
                nursery.start_soon, client.query(f"{i}", [], until=slow), client.deliver
            )
        with trio.move_on_after(1) as waiting:  # no place free: `launch` waits
            await order.launch(nursery.start_soon, client.query("one too many", []), client.deliver)
        assert waiting.cancelled_caught
        slow.set()
        await order.launch(nursery.start_soon, client.query("later", ["x"]), client.deliver)
    assert client.received == ["x"]


async def test_work_bound_to_the_client_is_cancelled_when_it_goes() -> None:
    order = RequestOrder()
    with order.bound_to_client() as scope:
        order.client_gone()
        await trio.sleep_forever()
    assert scope.cancelled_caught


async def test_work_bound_after_the_client_went_is_cancelled_at_once() -> None:
    order = RequestOrder(client_gone=True)
    with order.bound_to_client() as scope:
        await trio.sleep_forever()
    assert scope.cancelled_caught


async def test_a_cancelled_request_still_lets_the_next_one_answer() -> None:
    order, client, never = RequestOrder(), Client(), trio.Event()
    async with trio.open_nursery() as nursery:
        await order.launch(
            nursery.start_soon, client.query("a", ["a1"], until=never), client.deliver
        )
        await trio.testing.wait_all_tasks_blocked()
        order.client_gone()  # cancels a's query
        await order.launch(nursery.start_soon, client.query("b", ["b1"]), client.deliver)
    with trio.fail_after(1):
        await order.turn()  # both are done (b was cancelled too: the client is gone)
    assert client.received == []


async def three_requests(order: RequestOrder, client: Client, write: PendingMessage) -> None:
    """The scenario cancelled at each await: a request after a write, a second, a wait
    for the writes, a third; the nursery stands in for the session's."""
    async with trio.open_nursery() as nursery:
        order.track_write(write)
        await order.launch(nursery.start_soon, client.query("a", ["a1", "a2"]), client.deliver)
        write.done.set()
        await order.launch(nursery.start_soon, client.query("b", ["b1"]), client.deliver)
        await order.writes_settled()
        await order.launch(
            nursery.start_soon, client.query("c", ["c1", "c2", "c3"]), client.deliver
        )


async def test_cancelled_at_any_await_answers_stay_in_order_and_none_twice() -> None:
    expected = ["a1", "a2", "b1", "c1", "c2", "c3"]
    for steps in itertools.count(1):
        order, client = RequestOrder(), Client()
        # Its requests end with the nursery either way.
        finished = await cancelled_after(steps, partial(three_requests, order, client, pending()))
        received = client.received
        assert received == expected[: len(received)]
        with trio.fail_after(1):
            await order.turn()  # every request set its "done", however it ended
        # Every place was given back: MAX_REQUESTS may start at once again.
        async with trio.open_nursery() as nursery:
            for _ in range(MAX_REQUESTS):
                with trio.fail_after(1):
                    await order.launch(
                        nursery.start_soon, client.query("again", []), client.deliver
                    )
        if finished:
            assert received == expected
            assert steps > 5  # it was cancelled at each of its awaits before this run
            return
