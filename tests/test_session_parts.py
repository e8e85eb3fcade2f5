"""The parts a `ClientSession` owns, each alone, with fakes for what it is handed: the
frame allowances (chat/ws/session/limits.py), the server's close and the close code
(closing.py), how an answer is written (request_order.py's `send_answer`), the inbox
(inbox.py), a busy spell (busy.py) and held frames (held_frames.py); and that a session
makes none of them before it needs them. Fast: no socket, no server; time on Trio's
MockClock where it counts."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import trio
import trio.testing
from memory_connection import MemoryConnection, parse_frames
from trio_websocket import CloseReason

from chat.app.messages.broadcaster import Broadcaster
from chat.core.config import Config
from chat.core.errors import InvalidInput, RateLimited, Unavailable
from chat.core.frames import text_frame
from chat.ws.session.busy import BusySpell
from chat.ws.session.client_session import ClientSession
from chat.ws.session.closing import SHUTTING_DOWN, ServerClose, close_handshake, closed_with
from chat.ws.session.frame_limits import INVALID_FRAMES, FrameLimits, parse_rate
from chat.ws.session.held_frames import HeldFrames
from chat.ws.session.inbox import INBOX_SIZE, Inbox
from chat.ws.session.limits import MAX_REFUSALS, REFUSAL_WINDOW_S, FrameAllowances
from chat.ws.session.outbox import OutboxSettings
from chat.ws.session.request_order import ANSWER_WRITE_BYTES, send_answer

LIMITS = FrameLimits(
    Config(rate_limits=True, rate_room_changes="3/minute", rate_pings="2/minute",
           rate_history_bytes=1000)
)  # fmt: skip
NO_LIMITS = FrameLimits(Config(rate_limits=False))


# --- FrameAllowances: what one connection spent of the server's limits ---


async def test_an_allowance_lets_its_frames_through_then_refuses() -> None:
    allowances = FrameAllowances(LIMITS)
    for _ in range(3):
        allowances.take(LIMITS.room_changes)
    with pytest.raises(RateLimited, match="too many room changes: try again in 20 s"):
        allowances.take(LIMITS.room_changes)


async def test_an_allowance_comes_back_with_time(autojump_clock: trio.testing.MockClock) -> None:
    allowances = FrameAllowances(LIMITS)
    for _ in range(3):
        allowances.take(LIMITS.room_changes)
    await trio.sleep(20)  # a third of the minute: one frame's worth
    allowances.take(LIMITS.room_changes)
    with pytest.raises(RateLimited):
        allowances.take(LIMITS.room_changes)


async def test_each_connection_counts_its_own_frames() -> None:
    first, second = FrameAllowances(LIMITS), FrameAllowances(LIMITS)
    for _ in range(3):
        first.take(LIMITS.room_changes)
    second.take(LIMITS.room_changes)  # the server's limits are shared, the counts are not


async def test_the_history_budget_refuses_once_spent_until_paid_back(
    autojump_clock: trio.testing.MockClock,
) -> None:
    allowances = FrameAllowances(LIMITS)
    allowances.check_history()
    allowances.spend_history(1500)  # past the 1000 bytes a minute: in debt for 30 s
    with pytest.raises(RateLimited, match="too much history sent: try again in 30 s"):
        allowances.check_history()
    await trio.sleep(30)
    allowances.check_history()


async def test_more_than_max_refusals_within_the_window_close_the_connection() -> None:
    allowances = FrameAllowances(LIMITS)
    refusal = LIMITS.room_changes.refusal(2.0)
    for _ in range(MAX_REFUSALS):
        assert allowances.after_refusal(refusal) is None
    assert allowances.after_refusal(refusal) == "rate limit exceeded: too many room changes"


async def test_refusals_older_than_the_window_are_forgotten(
    autojump_clock: trio.testing.MockClock,
) -> None:
    allowances = FrameAllowances(LIMITS)
    refusal = LIMITS.pings.refusal(2.0)
    for _ in range(MAX_REFUSALS):
        assert allowances.after_refusal(refusal) is None
    await trio.sleep(REFUSAL_WINDOW_S)
    assert allowances.after_refusal(refusal) is None


async def test_a_database_outage_is_nobodys_fault_and_costs_nothing() -> None:
    allowances = FrameAllowances(LIMITS)
    for _ in range(200):
        assert allowances.after_refusal(Unavailable()) is None


async def test_invalid_frames_past_their_allowance_count_as_refusals() -> None:
    allowances = FrameAllowances(LIMITS)
    allowed, _period = parse_rate(INVALID_FRAMES)
    for _ in range(allowed + MAX_REFUSALS):
        assert allowances.after_refusal(InvalidInput("no such room")) is None
    assert allowances.after_invalid() == "rate limit exceeded: too many invalid frames"


async def test_a_ping_past_its_allowance_is_refused_and_counted_only_as_a_refusal() -> None:
    allowances = FrameAllowances(LIMITS)
    assert allowances.refuse_ping() is None
    assert allowances.refuse_ping() is None
    refusal = allowances.refuse_ping()
    assert isinstance(refusal, RateLimited) and str(refusal).startswith("too many pings")
    assert allowances.after_refusal(refusal) is None  # one refusal: far from closing


async def test_with_the_limits_off_nothing_is_counted_or_refused() -> None:
    allowances = FrameAllowances(NO_LIMITS)
    for _ in range(1000):
        allowances.take(NO_LIMITS.room_changes)
        assert allowances.refuse_ping() is None
        assert allowances.after_invalid() is None
    allowances.spend_history(10**9)
    allowances.check_history()


# --- ServerClose: the server's decision to close, carried out by the outbox ---


@dataclass
class FakeOutbox:
    """What a close asks of the outbox, recorded; `room`: whether `close_nowait` fits."""

    room: bool = True
    calls: list[object] = field(default_factory=list)

    def evict(self) -> None:
        self.calls.append("evict")

    async def close_after_queued(self) -> None:
        await trio.lowlevel.checkpoint()
        self.calls.append("marker")

    def close_nowait(self, farewell: bytes | None) -> bool:
        self.calls.append(("marker now", farewell))
        return self.room


async def test_an_eviction_drops_the_backlog_and_still_handles_frames() -> None:
    outbox = FakeOutbox()
    close = ServerClose(1, outbox)
    close.evict(1008, "slow consumer")
    assert close.reason == (1008, "slow consumer")
    assert outbox.calls == ["evict"]
    assert not close.frames_ignored  # what the client sent is still stored


async def test_a_close_queues_the_marker_and_ignores_frames_from_then_on() -> None:
    outbox = FakeOutbox()
    close = ServerClose(1, outbox)
    await close.close(1008, "bad token")
    assert (close.reason, close.frames_ignored, outbox.calls) == (
        (1008, "bad token"),
        True,
        ["marker"],
    )


async def test_the_first_decision_keeps_its_reason() -> None:
    outbox = FakeOutbox()
    close = ServerClose(1, outbox)
    await close.close(1008, "bad token")
    close.evict(1008, "slow consumer")  # the close frame still says why the dialect closed
    assert close.reason == (1008, "bad token")
    assert not close.decide(1011, "internal error")
    assert outbox.calls == ["marker", "evict"]


async def test_close_nowait_queues_the_farewell_in_the_dialect_then_the_marker() -> None:
    outbox = FakeOutbox()
    close = ServerClose(1, outbox)
    close.close_nowait(1008, "token has been revoked", "error: token has been revoked")
    assert outbox.calls == [("marker now", text_frame("error: token has been revoked"))]
    assert (close.reason, close.frames_ignored) == ((1008, "token has been revoked"), True)


async def test_close_nowait_with_no_room_evicts_instead() -> None:
    outbox = FakeOutbox(room=False)
    close = ServerClose(1, outbox)
    close.close_nowait(1012, "service restart", None)
    assert outbox.calls == [("marker now", None), "evict"]
    assert close.reason == (1012, "service restart")


@pytest.mark.parametrize(
    ("reason", "stream_broken", "peer_gone", "closed", "code"),
    [
        ((1008, "evicted"), True, True, CloseReason(1000, None), 1008),  # the server's, first
        (None, True, True, CloseReason(1000, None), 1006),  # a write broke the stream
        (None, False, True, CloseReason(1000, None), 1000),  # the client closed it
        (None, False, True, CloseReason(1002, "bad frame"), 1002),  # the transport did
        (None, False, False, None, 1001),  # cancelled: the server shut down
        (None, False, True, None, 1001),
    ],
)
def test_closed_with_says_who_ended_the_connection(
    reason: tuple[int, str] | None,
    stream_broken: bool,
    peer_gone: bool,
    closed: CloseReason | None,
    code: int,
) -> None:
    ended = closed_with(reason, stream_broken=stream_broken, peer_gone=peer_gone, closed=closed)
    assert ended == code


@dataclass
class FakeConnection:
    closed: CloseReason | None = None
    closes: list[tuple[int, str | None]] = field(default_factory=list)

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
        await trio.lowlevel.checkpoint()
        self.closes.append((code, reason))


async def test_the_close_handshake_carries_the_servers_reason_or_a_shutdown() -> None:
    decided, shutdown, broken = FakeConnection(), FakeConnection(), FakeConnection()
    await close_handshake(decided, (1008, "slow consumer"), stream_broken=False)
    await close_handshake(shutdown, None, stream_broken=False)
    await close_handshake(broken, (1008, "slow consumer"), stream_broken=True)
    assert decided.closes == [(1008, "slow consumer")]
    assert shutdown.closes == [(1001, SHUTTING_DOWN)]
    assert broken.closes == []  # a frame may be half-written: nothing can follow


# --- send_answer: an answer's frames, written in pieces and charged ---


@dataclass
class Written:
    sends: list[bytes] = field(default_factory=list)

    async def send(self, data: bytes) -> None:
        await trio.lowlevel.checkpoint()
        self.sends.append(data)


async def test_an_answer_is_written_in_pieces_each_charged_as_it_goes() -> None:
    outbox, charged = Written(), []
    texts = [f"m{i}" for i in range(10)] + ["x" * 40_000, "y" * 40_000, "z"]
    await send_answer(outbox, texts, charged.append)
    assert [len(piece) for piece in outbox.sends] == charged
    assert all(len(piece) <= ANSWER_WRITE_BYTES for piece in outbox.sends)
    assert len(outbox.sends) == 2  # the small ones with the first big one; then the rest
    frames = parse_frames(b"".join(outbox.sends))
    assert [f.text for f in frames] == texts  # one WebSocket frame each, in order


async def test_an_empty_answer_writes_and_charges_nothing() -> None:
    outbox, charged = Written(), []
    await send_answer(outbox, [], charged.append)
    assert outbox.sends == [] and charged == []


# --- Inbox: frames from the receive loop to the handler task ---


async def test_the_inbox_hands_its_frames_in_order_including_those_put_meanwhile() -> None:
    inbox, handled = Inbox("a"), []

    async def handle(message: str | bytes) -> None:
        handled.append(message)
        if message == "a":
            await inbox.put("b")  # the receive loop, while the handler is busy

    await inbox.handle_all(handle, lambda: False)
    assert handled == ["a", "b"]


async def test_frames_taken_while_closing_are_dropped() -> None:
    inbox, handled = Inbox("a"), []
    await inbox.put("b")

    async def handle(message: str | bytes) -> None:
        handled.append(message)

    await inbox.handle_all(handle, lambda: True)
    assert handled == []


async def test_put_waits_for_room_past_the_inbox_size() -> None:
    inbox, handled, go = Inbox("0"), [], trio.Event()
    for i in range(1, INBOX_SIZE):
        await inbox.put(str(i))  # room for them all

    async def handle(message: str | bytes) -> None:
        await go.wait()
        handled.append(message)

    async with trio.open_nursery() as nursery:
        putting_done = trio.Event()

        async def put_one_more() -> None:
            await inbox.put("last")
            putting_done.set()

        nursery.start_soon(put_one_more)
        await trio.testing.wait_all_tasks_blocked()
        assert not putting_done.is_set()  # the receive loop reads no more
        nursery.start_soon(inbox.handle_all, handle, lambda: False)
        go.set()
        await putting_done.wait()  # the handler took a frame: room again
    assert handled == [*map(str, range(INBOX_SIZE)), "last"]


async def test_a_cancelled_handler_lets_go_of_whoever_waits_for_it() -> None:
    inbox = Inbox("0")
    for i in range(1, INBOX_SIZE):
        await inbox.put(str(i))

    async def handle(message: str | bytes) -> None:
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        handler = trio.CancelScope()

        async def run_handler() -> None:
            with handler:
                await inbox.handle_all(handle, lambda: False)

        nursery.start_soon(run_handler)
        nursery.start_soon(inbox.put, "one too many")
        nursery.start_soon(inbox.finished)
        await trio.testing.wait_all_tasks_blocked()
        handler.cancel()  # the put and the wait for the end both return: the nursery closes


# --- BusySpell: the session while it has tasks ---


async def test_a_busy_spell_hands_frames_in_order_and_ends_once_no_task_is_left() -> None:
    ws, handled = MemoryConnection().ws, []

    async def handle(message: str | bytes) -> None:
        await trio.lowlevel.checkpoint()
        handled.append(message)

    ws.receive("b")
    ws.receive("c")
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            assert not await BusySpell(nursery, ws).receive(handle, "a", lambda: False)
            assert nursery.child_tasks == set()  # idle: the caller may close the nursery
    assert handled == ["a", "b", "c"]


async def test_a_task_of_the_spell_wakes_the_receive_loop_as_it_ends() -> None:
    ws, ended = MemoryConnection().ws, trio.Event()

    async def work() -> None:
        await trio.sleep(0.01)
        ended.set()

    async def handle(message: str | bytes) -> None:
        raise AssertionError("no frame arrives")

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            spell = BusySpell(nursery, ws)
            spell.start_soon(work)
            assert not await spell.receive(handle, None, lambda: False)
    assert ended.is_set()


async def test_when_the_client_leaves_the_handler_finishes_the_frames_received() -> None:
    ws, handled, slow = MemoryConnection().ws, [], trio.Event()

    async def handle(message: str | bytes) -> None:
        await slow.wait()
        handled.append(message)

    ws.receive("b")
    ws.client_closes()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            spell = BusySpell(nursery, ws)
            assert await spell.receive(handle, "a", lambda: False)  # the client has gone
            slow.set()
            await spell.handler_finished()
            assert handled == ["a", "b"]  # its last words are still handled


# --- HeldFrames: a subscription held back during a resume ---


@dataclass
class HoldingSession:
    id: int = 7
    closing: bool = False
    evicted: bool = False
    queue_size: int = 3
    evictions: int = 0

    def evict_slow_consumer(self) -> None:
        self.evictions += 1
        self.evicted = True


async def test_held_frames_are_flushed_in_order_with_those_offered_meanwhile() -> None:
    held = HeldFrames(HoldingSession())
    assert held.offer(b"1") and held.offer(b"2")

    class Offering(Written):
        async def send(self, data: bytes) -> None:
            if not self.sends:
                assert held.offer(b"3")  # the broadcaster, while the first batch is written
            await super().send(data)

    sink = Offering()
    await held.flush(sink)
    assert sink.sends == [b"12", b"3"] and held.frames == []


async def test_held_frames_past_the_queue_size_evict_the_session() -> None:
    session = HoldingSession()
    held = HeldFrames(session)
    assert all(held.offer(b"x") for _ in range(3))
    assert not held.offer(b"x")
    assert session.evictions == 1
    assert not held.offer(b"x")  # evicted: nothing more is kept


# --- the session makes its parts only when it needs them ---


async def test_an_idle_session_holds_none_of_its_parts() -> None:
    connection = MemoryConnection()
    settings = OutboxSettings(queue_size=8, write_timeout=5.0, close_timeout=2.0)
    session = ClientSession(
        connection.ws, connection.stream, Broadcaster(), settings=settings, limits=NO_LIMITS
    )
    # Frames counted and pings answered with the limits off make nothing either.
    session.limit(NO_LIMITS.room_changes)
    session.check_history()
    assert session.ping_allowed()
    parts = ("_outbox", "_requests", "_allowances", "_server_close", "_busy")
    assert [getattr(session, part) for part in parts] == [None] * len(parts)
    assert session.close_reason is None and not session.closing and not session.evicted
