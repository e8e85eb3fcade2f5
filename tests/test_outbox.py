"""One client's outbox alone (chat/ws/session/outbox.py), over an in-memory connection
(tests/memory_connection.py): the fast path, the queue and its writer, eviction, the
close marker and the close frame, the timeouts, and cancellation at each await. Fast:
no socket, no database; timeouts on Trio's MockClock."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

import trio
import trio.testing
from memory_connection import CLOSE, MemoryConnection, cancelled_after, frame

from chat.ws.session.outbox import Outbox, OutboxSettings

SETTINGS = OutboxSettings(queue_size=8, write_timeout=5.0, close_timeout=2.0)


@dataclass
class Owner:
    """The session, as the outbox sees it: evicting a slow consumer evicts; its tasks
    start in `nursery` (the session's), none once `ended`."""

    nursery: trio.Nursery | None = None
    id: int = 1
    close_reason: tuple[int, str] | None = None
    outbox: Outbox | None = None
    evictions: int = 0
    ended: bool = False
    writers_started: int = 0

    def evict_slow_consumer(self) -> None:
        self.evictions += 1
        self.close_reason = self.close_reason or (1008, "slow consumer")
        assert self.outbox is not None
        self.outbox.evict()

    def start_task(self, async_fn: Callable[..., Awaitable[object]], *args: object) -> bool:
        if self.ended:
            return False
        assert self.nursery is not None
        self.writers_started += 1
        self.nursery.start_soon(async_fn, *args)
        return True


@asynccontextmanager
async def opened(
    settings: OutboxSettings = SETTINGS,
) -> AsyncIterator[tuple[Outbox, MemoryConnection, Owner, trio.Nursery]]:
    """An outbox whose writer runs in a nursery standing in for the session's; the
    nursery is cancelled when the block ends, as the session's is."""
    connection = MemoryConnection()
    async with trio.open_nursery() as nursery:
        owner = Owner(nursery=nursery)
        outbox = Outbox(owner, connection.ws, connection.stream, settings)
        owner.outbox = outbox
        yield outbox, connection, owner, nursery
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()


async def test_a_frame_is_written_at_once_when_nothing_is_queued() -> None:
    async with opened() as (outbox, connection, _, _):
        assert outbox.offer(frame("hello"))
        assert not outbox.has_writer  # no task was needed
        assert await connection.texts() == ["hello"]


async def test_a_frame_that_cannot_be_written_now_is_written_by_the_writer() -> None:
    async with opened() as (outbox, connection, _, _):
        connection.stream.room = 0  # the socket's buffer is full
        assert outbox.offer(frame("later"))
        assert outbox.has_writer
        assert await connection.texts() == ["later"]
        assert outbox.unwritten == 0


async def test_a_frame_never_overtakes_one_queued_before_it() -> None:
    async with opened() as (outbox, connection, _, _):
        connection.stream.room = 0
        outbox.offer(frame("first"))
        connection.stream.room = None  # room again, before the writer has run
        outbox.offer(frame("second"))
        assert await connection.texts() == ["first", "second"]


async def test_the_rest_of_a_partly_written_frame_goes_out_before_the_next() -> None:
    async with opened() as (outbox, connection, _, _):
        connection.stream.room = 10
        outbox.offer(frame("a long frame, written in part"))
        outbox.offer(frame("next"))
        assert await connection.texts() == ["a long frame, written in part", "next"]


async def test_send_waits_for_room_in_the_queue() -> None:
    async with opened(OutboxSettings(1, 5.0, 2.0)) as (outbox, connection, _, _):
        connection.stream.room = 0
        await outbox.send(frame("one"))
        await outbox.send(frame("two"))  # waits until the writer took "one"
        await outbox.send(frame("three"))
        assert await connection.texts() == ["one", "two", "three"]


async def test_a_full_queue_evicts_a_slow_consumer() -> None:
    async with opened(OutboxSettings(2, 5.0, 2.0)) as (outbox, connection, owner, _):
        connection.stream.room = 0
        assert outbox.offer(frame("1")) and outbox.offer(frame("2"))
        assert not outbox.offer(frame("3"))
        assert owner.evictions == 1
        assert outbox.evicted
        assert not outbox.offer(frame("4"))  # nothing more for an evicted client


async def test_eviction_drops_the_backlog_and_sends_the_close_frame() -> None:
    async with opened() as (outbox, connection, owner, _):
        connection.stream.room = 0
        outbox.offer(frame("dropped"))
        owner.close_reason = (1008, "slow consumer")
        outbox.evict()
        (close,) = await connection.frames()
        assert (close.opcode, close.code, close.reason) == (CLOSE, 1008, "slow consumer")


async def test_an_idle_outbox_evicted_starts_a_writer_for_the_close_frame() -> None:
    async with opened() as (outbox, connection, owner, _):
        owner.close_reason = (1008, "too much held")
        outbox.evict()
        assert [f.code for f in await connection.frames()] == [1008]


async def test_a_close_comes_after_the_frames_queued_before_it() -> None:
    async with opened() as (outbox, connection, owner, _):
        connection.stream.room = 0
        await outbox.send(frame("why"))
        owner.close_reason = (1008, "bad token")
        await outbox.close_after_queued()
        await outbox.send(frame("after the close"))  # not written
        frames = await connection.frames()
        assert [f.opcode for f in frames] == [1, CLOSE]
        assert (frames[0].text, frames[1].code) == ("why", 1008)


async def test_close_nowait_sends_the_farewell_then_the_close_frame() -> None:
    async with opened() as (outbox, connection, owner, _):
        owner.close_reason = (1008, "token has been revoked")
        assert outbox.close_nowait(frame("revoked"))
        frames = await connection.frames()
        assert (frames[0].text, frames[1].code) == ("revoked", 1008)


async def test_close_nowait_without_room_for_the_farewell_leaves_eviction_to_the_caller() -> None:
    async with opened(OutboxSettings(2, 5.0, 2.0)) as (outbox, connection, _, _):
        connection.stream.room = 0
        outbox.offer(frame("1"))
        assert not outbox.close_nowait(frame("revoked"))


async def test_nothing_is_written_after_the_close_frame() -> None:
    async with opened() as (outbox, connection, _, _):
        await connection.ws.aclose(1000, "bye")
        assert outbox.offer(frame("too late"))  # taken, but never written
        assert [f.opcode for f in await connection.frames()] == [CLOSE]


async def test_no_writer_starts_once_the_session_is_ending() -> None:
    async with opened() as (outbox, connection, owner, _):
        outbox.end()
        owner.ended = True  # the session refuses to start tasks
        connection.stream.room = 0
        assert not outbox.offer(frame("dropped"))
        assert not outbox.has_writer


async def test_a_write_the_client_does_not_take_in_time_drops_the_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with opened() as (outbox, connection, _, _):
        connection.stream.room = 0
        connection.stream.stalled = True  # the client stopped reading
        outbox.offer(frame("stuck"))
        await trio.sleep(SETTINGS.write_timeout + 1)
        assert outbox.stream_broken
        assert connection.stream.closed
        assert await connection.frames() == []  # no close frame after a cut write


async def test_a_close_handshake_the_client_does_not_answer_in_time_drops_the_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with opened() as (outbox, connection, owner, _):
        connection.ws.answers_close = False
        owner.close_reason = (1008, "bad token")
        await outbox.close_after_queued()
        await trio.sleep(SETTINGS.close_timeout + 1)
        assert connection.stream.closed and outbox.stream_broken
        assert [f.code for f in await connection.frames()] == [1008]


async def test_a_send_cancelled_while_waiting_for_room_leaves_the_fast_path_open() -> None:
    async with opened(OutboxSettings(1, 5.0, 2.0)) as (outbox, connection, _, _):
        connection.stream.room = 0
        connection.stream.stalled = True
        outbox.offer(frame("one"))
        outbox.offer(frame("two"))  # the writer holds "one"; "two" fills the queue
        with trio.move_on_after(0.1):
            await outbox.send(frame("never queued"))
        # "two" is queued ("one" is being written); the cancelled send was not counted.
        assert outbox.unwritten == 1


async def write_then_close(connection: MemoryConnection, owner: Owner, texts: list[str]) -> None:
    """The scenario cancelled at each await: frames offered and sent, some written at
    once, the rest queued, then a close; the nursery stands in for the session's."""
    async with trio.open_nursery() as nursery:
        owner.nursery = nursery
        outbox = Outbox(owner, connection.ws, connection.stream, SETTINGS)
        owner.outbox = outbox
        for i, text in enumerate(texts):
            if i % 3 == 0:
                outbox.offer(frame(text))
            else:
                await outbox.send(frame(text))
            if i == 6:
                connection.stream.room = 40  # the socket drained a little
        await outbox.close_after_queued()


async def test_cancelled_at_any_await_frames_arrive_whole_in_order_and_once() -> None:
    # Frames of 10 bytes, and room for whole frames: no direct write is partial (that
    # seam has its own test), so any frame cut short would be the outbox's doing.
    texts = [f"frame {i:02d}" for i in range(12)]
    for steps in itertools.count(1):
        connection = MemoryConnection()
        owner = Owner(close_reason=(1008, "done"))
        connection.stream.room = 40  # a few direct writes, then the queue
        # The nursery ends either way, with the writer in it.
        finished = await cancelled_after(steps, partial(write_then_close, connection, owner, texts))
        frames = await connection.frames()  # whole frames only: none was cut
        sent = [f.text for f in frames if f.opcode != CLOSE]
        assert sent == texts[: len(sent)]  # in order, none twice
        closes = [f for f in frames if f.opcode == CLOSE]
        assert all(f.opcode != CLOSE for f in frames[:-1])  # a close frame comes last
        if finished:
            assert sent == texts and [c.code for c in closes] == [1008]
            assert steps > 5  # it was cancelled at each of its awaits before this run
            return
