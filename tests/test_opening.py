"""Opening a connection alone (chat/ws/opening.py): subscribed and filed before the client
is answered, what is published meanwhile sent right behind the answer once the session
runs, and nothing left subscribed or filed when the answer fails or is cancelled at any
of its awaits. Over an in-memory connection (tests/memory_connection.py) with a real
broadcaster: no socket."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from functools import partial

import pytest
import trio
from memory_connection import MemoryConnection, cancelled_after

from chat.app.messages.broadcaster import Broadcaster, Event, user_topic
from chat.core.config import Config
from chat.core.errors import RateLimited
from chat.core.frames import text_frame
from chat.core.records import Identity, Message, Room
from chat.ws.opening import subscribe_then_open
from chat.ws.session.client_session import ClientSession
from chat.ws.session.frame_limits import FrameLimits
from chat.ws.session.outbox import OutboxSettings

NOW = datetime(2026, 11, 27, tzinfo=UTC)
BOB = 2
PAIR = Room(9, "dm", "direct", True, None, NOW, pair=(1, BOB))
QUEUE_SIZE = 8


def direct_message(message_id: int) -> list[Event]:
    message = Message(message_id, PAIR.id, 1, "alice", f"m{message_id}", NOW)
    return [Event(user_topic(BOB), message, PAIR)]


def body(event: Event) -> str:
    assert isinstance(event.item, Message)
    return event.item.body


class DirectMessages:
    """A dialect that subscribes its session to bob's direct messages, and ignores the
    client's frames."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session

    def listen(self) -> None:
        self.session.subscribe(user_topic(BOB), body)

    async def start(self) -> None:
        pass

    async def handle(self, message: str | bytes) -> None:
        pass

    def error_frame(self, problem: str) -> str | None:
        return None

    def refusal_frame(self, error: RateLimited) -> str:
        return str(error)


class Filed:
    """A registry that keeps what is filed in it."""

    def __init__(self) -> None:
        self.sessions: set[ClientSession] = set()

    def file(self, session: ClientSession) -> None:
        self.sessions.add(session)

    def refile(self, session: ClientSession, before: Identity | None) -> None:
        self.sessions.add(session)

    def unfile(self, session: ClientSession) -> None:
        self.sessions.discard(session)


def unopened(connection: MemoryConnection, broadcaster: Broadcaster) -> ClientSession:
    """A session over a connection not answered yet (its stream writes nothing directly)."""
    connection.stream.opened = False
    settings = OutboxSettings(queue_size=QUEUE_SIZE, write_timeout=5.0, close_timeout=2.0)
    return ClientSession(
        connection.ws,
        connection.stream,
        broadcaster,
        settings=settings,
        limits=FrameLimits(Config()),
    )


async def answer(connection: MemoryConnection, broadcaster: Broadcaster) -> None:
    """The server's answer, with messages published before, while and after it is
    written, each after an await."""
    await trio.lowlevel.checkpoint()
    broadcaster.deliver(direct_message(1))
    async with connection.stream.write_turn():  # as trio-websocket writes the 101
        await connection.stream.send_all_locked(text_frame("answered"), whole=True)
    broadcaster.deliver(direct_message(2))
    await trio.lowlevel.checkpoint()
    broadcaster.deliver(direct_message(3))


async def test_what_is_published_before_the_answer_follows_it_in_order() -> None:
    connection, broadcaster, filed = MemoryConnection(), Broadcaster(), Filed()
    session = unopened(connection, broadcaster)
    dialect = DirectMessages(session)
    opening = partial(answer, connection, broadcaster)
    await subscribe_then_open(session, connection.stream, dialect, [filed], opening)
    assert filed.sessions == {session}
    broadcaster.deliver(direct_message(4))  # behind those waiting
    async with trio.open_nursery() as nursery:
        nursery.start_soon(session.run, dialect)
        broadcaster.deliver(direct_message(5))  # live
        assert await connection.texts() == ["answered", "m1", "m2", "m3", "m4", "m5"]
        connection.ws.client_closes()


async def test_an_answer_cut_short_anywhere_leaves_nothing_subscribed_or_filed() -> None:
    for steps in itertools.count(1):
        connection, broadcaster, filed = MemoryConnection(), Broadcaster(), Filed()
        session = unopened(connection, broadcaster)
        opening = partial(
            subscribe_then_open,
            session,
            connection.stream,
            DirectMessages(session),
            [filed],
            partial(answer, connection, broadcaster),
        )
        finished = await cancelled_after(steps, opening)
        delivered = broadcaster.stats.deliveries
        broadcaster.deliver(direct_message(5))
        if finished:
            assert broadcaster.stats.deliveries == delivered + 1 and filed.sessions == {session}
            assert steps > 3  # it was cancelled at each of its awaits before this run
            return
        assert broadcaster.stats.deliveries == delivered  # nobody subscribed
        assert filed.sessions == set()
        assert not session.start_task(trio.sleep, 0)  # no task starts for it either
        assert await connection.texts() in ([], ["answered"])  # nothing else went out
        assert not connection.stream.opened


async def test_an_answer_that_fails_leaves_nothing_subscribed_or_filed() -> None:
    connection, broadcaster, filed = MemoryConnection(), Broadcaster(), Filed()
    session = unopened(connection, broadcaster)

    async def client_left() -> None:
        broadcaster.deliver(direct_message(1))
        raise trio.BrokenResourceError

    with pytest.raises(trio.BrokenResourceError):
        await subscribe_then_open(
            session, connection.stream, DirectMessages(session), [filed], client_left
        )
    broadcaster.deliver(direct_message(2))
    assert broadcaster.stats.deliveries == 1  # queued, then dropped: only the first
    assert filed.sessions == set()
    assert await connection.texts() == []


async def test_more_kept_before_the_answer_than_the_queue_holds_evicts_the_client() -> None:
    connection, broadcaster = MemoryConnection(), Broadcaster()
    session = unopened(connection, broadcaster)

    async def flood() -> None:
        for message_id in range(QUEUE_SIZE + 1):
            broadcaster.deliver(direct_message(message_id))

    await subscribe_then_open(session, connection.stream, DirectMessages(session), [], flood)
    assert session.evicted
    assert broadcaster.stats.slow_consumers_evicted == 1
    assert await connection.texts() == []  # nothing was written before the answer
