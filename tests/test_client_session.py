"""One client's session alone (chat/ws/session/client_session.py), over an in-memory connection
(tests/memory_connection.py) with a real broadcaster and a dialect that records what it
is given: how the session ends and with which close code, what an idle one holds, held
subscriptions, and cancellation at each await. Fast: no socket, no database."""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

import pytest
import trio
import trio.testing
from memory_connection import CLOSE, MemoryConnection, cancelled_after

from chat.app.messages.broadcaster import Broadcaster, Event, room_topic
from chat.core.config import Config
from chat.core.errors import RateLimited
from chat.core.frames import text_frame
from chat.core.records import Message, Room
from chat.ws.session.client_session import ClientSession
from chat.ws.session.frame_limits import FrameLimits
from chat.ws.session.inbox import HANDLER_REST_S
from chat.ws.session.outbox import WRITER_REST_S, OutboxSettings

NOW = datetime(2026, 11, 23, tzinfo=UTC)
LOBBY = Room(1, "lobby", "lobby", False, None, NOW)
LIMITS = FrameLimits(Config())


@dataclass
class Dialect:
    """A dialect that keeps the frames it is given; "close" closes the connection (1008)
    after an error frame, "bug" raises, anything else is answered "ok: <frame>"."""

    session: ClientSession | None = None
    handled: list[str | bytes] = field(default_factory=list)

    async def start(self) -> None:
        pass

    async def handle(self, message: str | bytes) -> None:
        assert self.session is not None
        self.handled.append(message)
        if message == "close":
            await self.session.send("error: closing")
            await self.session.close(1008, "asked to")
        elif message == "bug":
            raise RuntimeError("a bug")
        else:
            await self.session.send(f"ok: {message!s}")

    def error_frame(self, problem: str) -> str | None:
        return f"error: {problem}"

    def refusal_frame(self, error: RateLimited) -> str:
        return f"error: {error}"


def new_session(
    connection: MemoryConnection, broadcaster: Broadcaster, queue_size: int = 8
) -> ClientSession:
    settings = OutboxSettings(queue_size=queue_size, write_timeout=5.0, close_timeout=2.0)
    return ClientSession(
        connection.ws, connection.stream, broadcaster, settings=settings, limits=LIMITS
    )


@asynccontextmanager
async def running(
    queue_size: int = 8,
) -> AsyncIterator[tuple[ClientSession, MemoryConnection, Dialect, Broadcaster]]:
    """A session running in a task of its own, as `WebSocketServer.handle` runs it; the
    block waits for it to end (the test ends it: the client closes, say)."""
    connection, broadcaster = MemoryConnection(), Broadcaster()
    session = new_session(connection, broadcaster, queue_size)
    dialect = Dialect(session)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(session.run, dialect)
        await trio.testing.wait_all_tasks_blocked()
        yield session, connection, dialect, broadcaster


def session_tasks(session_task: trio.lowlevel.Task) -> list[str]:
    """The names of the tasks in the session's nursery."""
    return [task.name for nursery in session_task.child_nurseries for task in nursery.child_tasks]


def lobby_event(message_id: int) -> list[Event]:
    message = Message(message_id, LOBBY.id, 7, "alice", f"m{message_id}", NOW)
    return [Event(room_topic(LOBBY.id), message, LOBBY, None)]


def body(event: Event) -> str:
    return event.item.body


def the_session_task() -> trio.lowlevel.Task:
    """The task `running` runs the session in."""
    (runner,) = [
        task
        for nursery in trio.lowlevel.current_task().child_nurseries
        for task in nursery.child_tasks
    ]
    return runner


async def test_an_idle_session_runs_no_task_but_its_own_and_has_no_nursery() -> None:
    async with running() as (_, connection, _, _):
        runner = the_session_task()
        assert session_tasks(runner) == []  # no handler, no writer, no request
        assert runner.child_nurseries == []  # it waits outside any
        connection.ws.client_closes()


async def test_a_session_is_idle_again_once_its_frames_are_answered_and_its_handler_rested(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running() as (_, connection, _, _):
        connection.ws.receive("a")
        assert await connection.texts() == ["ok: a"]
        runner = the_session_task()
        assert session_tasks(runner) == ["chat.ws.session.busy.BusySpell._handle_inbox"]  # resting
        await trio.sleep(HANDLER_REST_S)
        await trio.testing.wait_all_tasks_blocked()
        assert runner.child_nurseries == []
        connection.ws.client_closes()


async def test_frames_closer_together_than_the_rest_share_one_handler_task(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running() as (_, connection, dialect, _):
        runner = the_session_task()
        handlers: set[trio.lowlevel.Task] = set()
        for i in range(5):
            connection.ws.receive(f"m{i}")
            await trio.testing.wait_all_tasks_blocked()
            handlers |= {task for n in runner.child_nurseries for task in n.child_tasks}
            await trio.sleep(HANDLER_REST_S / 2)
        assert dialect.handled == [f"m{i}" for i in range(5)]
        assert len(handlers) == 1
        await trio.sleep(HANDLER_REST_S)
        await trio.testing.wait_all_tasks_blocked()
        connection.ws.receive("after a rest")
        await trio.testing.wait_all_tasks_blocked()
        assert len(handlers | {t for n in runner.child_nurseries for t in n.child_tasks}) == 2
        connection.ws.client_closes()


async def test_a_client_closing_while_its_handler_rests_ends_the_session_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running() as (session, connection, dialect, _):
        connection.ws.receive("a")
        assert await connection.texts() == ["ok: a"]
        began = trio.current_time()
        connection.ws.client_closes(1000)
    assert trio.current_time() - began < HANDLER_REST_S  # not after the rest
    assert dialect.handled == ["a"]
    assert session.close_code == 1000


async def test_a_frame_that_must_wait_wakes_an_idle_session_to_start_its_writer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running() as (session, connection, _, _):
        connection.stream.room = 0  # the client's socket buffer is full
        assert session.offer(text_frame("later"))
        await trio.testing.wait_all_tasks_blocked()
        runner = the_session_task()
        assert "chat.ws.session.outbox.Outbox._write_loop" in session_tasks(runner)
        connection.stream.room = None
        assert await connection.texts() == ["later"]
        # The writer rests once its queue has been empty for a while, and the session
        # closes its nursery: idle again.
        await trio.sleep(WRITER_REST_S + 1)
        assert runner.child_nurseries == []
        assert session.offer(text_frame("at once"))  # the fast path, as before
        assert await connection.texts() == ["later", "at once"]
        connection.ws.client_closes()


async def test_the_client_closing_ends_the_session_with_its_code() -> None:
    async with running() as (session, connection, _, _):
        connection.ws.client_closes(1000)
    assert session.close_code == 1000
    assert session.peer_gone


async def test_a_frame_sent_just_before_the_client_closes_is_still_handled() -> None:
    async with running() as (_, connection, dialect, _):
        connection.ws.receive("last words")
        connection.ws.client_closes()
    assert dialect.handled == ["last words"]


async def test_answers_come_back_in_the_order_of_the_frames() -> None:
    async with running() as (_, connection, _, _):
        for text in ("a", "b", "c"):
            connection.ws.receive(text)
        await trio.testing.wait_all_tasks_blocked()
        connection.ws.client_closes()
    assert await connection.texts() == ["ok: a", "ok: b", "ok: c"]


async def test_a_dialect_close_sends_its_error_frame_then_the_close_frame() -> None:
    async with running() as (session, connection, _, _):
        connection.ws.receive("close")
        connection.ws.receive("ignored: the session is closing")
    frames = await connection.frames()
    assert len(frames) == 2  # the frame sent while closing was not handled
    assert frames[0].text == "error: closing"
    assert (frames[1].opcode, frames[1].code, frames[1].reason) == (CLOSE, 1008, "asked to")
    assert session.close_code == 1008


async def test_close_nowait_on_an_idle_session_sends_the_error_frame_then_closes() -> None:
    async with running() as (session, connection, _, _):
        session.close_nowait(1008, "token has been revoked")
    frames = await connection.frames()
    assert frames[0].text == "error: token has been revoked"
    assert (frames[1].code, len(frames)) == (1008, 2)
    assert session.close_code == 1008


@pytest.mark.parametrize("seed", range(8))
async def test_frames_offered_and_answered_at_random_all_arrive_in_order(
    seed: int, autojump_clock: trio.testing.MockClock
) -> None:
    # The session goes busy and idle again and again: frames from the client, broadcasts
    # that fit the socket, fit in part or not at all, writers started from idle and
    # resting. Nothing offered or answered is lost, repeated or reordered.
    rng = random.Random(seed)
    offered, asked = [], []
    async with running(queue_size=1000) as (session, connection, _, _):
        for i in range(300):
            action = rng.random()
            if action < 0.2:
                connection.stream.room = rng.choice([None, 0, 12, 40])
            elif action < 0.6:
                offered.append(f"b{i}")
                assert session.offer(text_frame(offered[-1]))
            elif action < 0.8:
                asked.append(f"c{i}")
                connection.ws.receive(asked[-1])
            else:
                await trio.sleep(rng.choice([0, 0.5, WRITER_REST_S + 1]))
        connection.stream.room = None
        await trio.sleep(WRITER_REST_S + 1)
        texts = await connection.texts()
        connection.ws.client_closes()
    assert [t for t in texts if t.startswith("b")] == offered
    assert [t for t in texts if t.startswith("ok: ")] == [f"ok: {c}" for c in asked]
    assert len(texts) == len(offered) + len(asked)


async def test_a_server_shutdown_closes_the_connection_with_1001() -> None:
    connection, broadcaster = MemoryConnection(), Broadcaster()
    session = new_session(connection, broadcaster)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(session.run, Dialect(session))
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert [f.code for f in await connection.frames()] == [1001]
    assert session.close_code == 1001


async def test_a_bug_closes_only_this_connection_with_1011() -> None:
    async with running() as (session, connection, _, _):
        connection.ws.receive("bug")
    assert [f.code for f in await connection.frames()] == [1011]
    assert session.close_code == 1011


async def test_a_slow_consumer_is_evicted_with_1008_and_counted() -> None:
    async with running(queue_size=2) as (session, connection, _, broadcaster):
        connection.stream.room = 0  # the client stopped reading
        assert session.offer(b"1") and session.offer(b"2")
        assert not session.offer(b"3")
        assert session.evicted
    assert session.close_code == 1008
    assert broadcaster.stats.slow_consumers_evicted == 1
    assert [f.code for f in await connection.frames()] == [1008]  # the backlog dropped


async def test_a_held_subscription_delivers_after_what_was_sent_before_its_release() -> None:
    async with running() as (session, connection, _, broadcaster):
        subscription = session.subscribe(room_topic(LOBBY.id), body, hold=True)
        broadcaster.deliver(lobby_event(10))  # held: the backlog goes first
        await session.send("backlog")
        await session.release(subscription)
        broadcaster.deliver(lobby_event(11))  # live
        assert await connection.texts() == ["backlog", "m10", "m11"]
        connection.ws.client_closes()


async def test_held_frames_past_the_queue_size_evict_the_client() -> None:
    async with running(queue_size=2) as (session, connection, _, broadcaster):
        session.subscribe(room_topic(LOBBY.id), body, hold=True)
        for message_id in (10, 11, 12):
            broadcaster.deliver(lobby_event(message_id))
        assert session.evicted
    assert [f.code for f in await connection.frames()] == [1008]


async def talk_then_close(session: ClientSession, connection: MemoryConnection) -> None:
    """The scenario cancelled at each await: three frames answered, then the client closes;
    the nursery stands in for the server's connection task."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(session.run, Dialect(session))
        for text in ("a", "b", "c"):
            connection.ws.receive(text)
        await connection.texts()  # the client reads, once the session has nothing to do
        connection.ws.client_closes(1000)


async def test_cancelled_at_any_await_the_session_answers_in_order_and_closes_once() -> None:
    expected = ["ok: a", "ok: b", "ok: c"]
    for steps in itertools.count(1):
        connection = MemoryConnection()
        session = new_session(connection, Broadcaster())
        finished = await cancelled_after(steps, partial(talk_then_close, session, connection))
        frames = await connection.frames()  # whole frames only
        texts = [f.text for f in frames if f.opcode != CLOSE]
        assert texts == expected[: len(texts)]  # in order, none twice
        closes = [f for f in frames if f.opcode == CLOSE]
        assert all(f.opcode != CLOSE for f in frames[:-1])  # a close frame comes last
        if finished:
            assert texts == expected and closes == [] and session.close_code == 1000
            assert steps > 5  # it was cancelled at each of its awaits before this run
            return
        # Cut short: the server shut down, and closed with 1001 unless the client's
        # close got in first.
        assert connection.ws.closed is not None
        if connection.ws.closed.code == 1001:
            assert [c.code for c in closes] == [1001] and session.close_code == 1001
        else:
            assert closes == [] and connection.ws.closed.code == 1000
