"""One WebSocket client: its tasks, and what the dialects and the broadcaster call.

`ClientSession` serves a connection from its first frame to its end, idle or busy in
turn (`run`), keeps its subscriptions, and hands the rest to parts it owns (listed, with
the session's tasks, in the package's docstring: `chat.ws.session`). The dialects
(`chat.ws.rooms` and the others) call the session's methods, most of them a line or two
that hand the call on to a part, made then if it is the first time.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager

import trio
from trio_websocket import ConnectionClosed

from chat.app.messages.broadcaster import Broadcaster, Encoder, Subscription, Topic
from chat.app.messages.pending import PendingMessage
from chat.core.errors import ChatError
from chat.core.frames import CLOSE_INTERNAL_ERROR, CLOSE_POLICY_VIOLATION, text_frame
from chat.core.records import Identity
from chat.ws.session.busy import BusySpell, TaskFunction
from chat.ws.session.closing import ServerClose, close_handshake, closed_with
from chat.ws.session.contracts import FrameHandler, Registry, SessionConnection
from chat.ws.session.frame_limits import Allowance, FrameLimits
from chat.ws.session.held_frames import HeldFrames
from chat.ws.session.limits import MAX_REFUSALS, FrameAllowances
from chat.ws.session.outbox import Outbox, OutboxSettings, WriteStream
from chat.ws.session.request_order import RequestOrder, send_answer

# Imported from here by the dialects, the server and the tests.
__all__ = ["MAX_REFUSALS", "ClientSession", "FrameHandler", "Registry", "SessionConnection"]

log = logging.getLogger(__name__)


class ClientSession:
    """A connected WebSocket client, as the dialects and the broadcaster see it."""

    # Slots: one of these per connection (past 30 attributes CPython would give each its
    # own dictionary). Each is paid by every idle connection: the rest is in the parts.
    __slots__ = (
        "_allowances",
        "_broadcaster",
        "_busy",
        "_ended",
        "_handler",
        "_identity_listeners",
        "_outbox",
        "_removal_listeners",
        "_requests",
        "_server_close",
        "_settings",
        "_stream",
        "_subscriptions",
        "_wanted",
        "_ws",
        "address",
        "id",
        "identity",
        "limits",
        "opened_at",
        "path",
        "peer_gone",
        "registries",
        "room_id",
    )

    _ids = itertools.count(1)

    def __init__(
        self,
        ws: SessionConnection,
        stream: WriteStream,
        broadcaster: Broadcaster,
        *,
        settings: OutboxSettings,
        limits: FrameLimits,
        address: str = "",
        path: str = "",
    ) -> None:
        self.id = next(ClientSession._ids)
        #: Where the client connects from, the path it opened, and when (for its logs).
        self.address = address
        self.path = path
        self.opened_at = trio.current_time()
        #: Who this client is: from the handshake's token, or later from a dialect's
        #: own "auth" frame (`set_identity`). None until then.
        self.identity: Identity | None = None
        #: The registries this session is filed in (set by `chat.ws.opening`).
        self.registries: tuple[Registry[ClientSession], ...] = ()
        #: The room a room-protocol connection is in (None: none; `chat.ws.rooms`).
        self.room_id: int | None = None
        self._identity_listeners: tuple[Callable[[Identity], None], ...] = ()
        self._removal_listeners: tuple[Callable[[int], None], ...] = ()
        #: True once the receive loop has seen the connection close.
        self.peer_gone = False
        self._ws = ws
        self._stream = stream
        self._broadcaster = broadcaster
        self._settings = settings  # shared by the server's sessions
        #: The server's frame limits (`chat.ws.session.frame_limits`), shared: the
        #: dialects name the allowance a frame counts against from it (`limit`).
        self.limits = limits
        # The parts, each made when first needed (`_open_outbox`, `_request_order`,
        # `_frame_allowances`, `_closer`), or while busy (`run`).
        self._outbox: Outbox | None = None
        self._requests: RequestOrder | None = None
        self._allowances: FrameAllowances | None = None
        self._server_close: ServerClose | None = None
        # `run`'s busy spell, with its nursery open, while the session has tasks; tasks
        # wanted while it has none wait here for the session's task to open one.
        self._busy: BusySpell | None = None
        self._wanted: list[tuple[TaskFunction, tuple[object, ...]]] | None = None
        self._handler: FrameHandler | None = None  # set by `run`
        #: True once the session is over (or its client gone): no task starts any more.
        self._ended = False
        # A list, not a set: it holds a couple of items, and a set costs four times the
        # memory of a short list on every idle connection.
        self._subscriptions: list[Subscription] = []

    # --- for dialects ---

    async def send(self, text: str) -> None:
        """Send a text frame to this client, in order after everything sent before (the
        answers of requests still running included), waiting while its outbox is full.
        Dropped silently for a client that has gone (or been evicted)."""
        if self._requests is not None:
            await self._requests.turn()
        await (self._outbox or self._open_outbox()).send(text_frame(text))

    def send_nowait(self, text: str) -> None:
        """Send a text frame without waiting, for answers produced outside the handler
        (a failed pipelined write). If the client's outbox is full the frame is dropped:
        that client is about to be evicted as a slow consumer anyway."""
        (self._outbox or self._open_outbox()).send_nowait(text_frame(text))

    def set_identity(self, identity: Identity) -> None:
        """Become `identity` (a client may switch user by authenticating again)."""
        before, self.identity = self.identity, identity
        for registry in self.registries:
            registry.refile(self, before)
        for listener in self._identity_listeners:
            listener(identity)

    def on_identity(self, listener: Callable[[Identity], None]) -> None:
        """Call `listener` whenever the identity is set (dialects that subscribe per user)."""
        self._identity_listeners = (*self._identity_listeners, listener)

    def removed_from(self, room_id: int) -> None:
        """The user is no longer a member of `room_id` (removed, banned, or left, on any
        instance: `chat.app.people.user_notices`). Called before the ``removed`` frame is offered,
        so a dialect in that room leaves it first (`on_removal`). Never waits."""
        for listener in self._removal_listeners:
            listener(room_id)

    def on_removal(self, listener: Callable[[int], None]) -> None:
        """Call `listener(room_id)` whenever the user stops being a member of a room."""
        self._removal_listeners = (*self._removal_listeners, listener)

    # --- frame limits: `FrameAllowances` decides, the session acts ---

    def limit(self, allowance: Allowance) -> None:
        """Count a frame of `allowance`'s kind, or raise `RateLimited` past it (the dialect
        answers with its error frame, then calls `after_refusal`)."""
        if self.limits.enabled:  # off: nothing is counted, and no part made for it
            self._frame_allowances().take(allowance)

    def check_history(self) -> None:
        """Raise `RateLimited` if this connection has spent its history budget."""
        if self.limits.enabled:
            self._frame_allowances().check_history()

    async def after_refusal(self, error: ChatError) -> None:
        """A dialect answered a frame with an error frame saying `error`: a client that
        keeps going past a limit is closed (1008) after it (what counts, and how much:
        `FrameAllowances.after_refusal`)."""
        await self._close_if_flooding(self._frame_allowances().after_refusal(error))

    async def after_invalid(self) -> None:
        """A dialect answered an invalid frame with its error frame: `after_refusal`."""
        if self.limits.enabled:
            await self._close_if_flooding(self._frame_allowances().after_invalid())

    def ping_allowed(self) -> bool:
        """Whether to answer a WebSocket ping with a pong (asked by the transport, in the
        receive loop, so synchronous). Past the allowance of pings, no: the client gets
        its dialect's error frame (RFC 6455 5.5.3 lets a pong answer only the latest of
        several pings), and the refusal counts, as in `after_refusal`."""
        if not self.limits.enabled:
            return True
        allowances = self._frame_allowances()
        refusal = allowances.refuse_ping()
        if refusal is None:
            return True
        flood = allowances.after_refusal(refusal)
        if flood is not None:
            self.close_nowait(CLOSE_POLICY_VIOLATION, flood)
        elif self._handler is not None:
            self.send_nowait(self._handler.refusal_frame(refusal))
        return False

    async def _close_if_flooding(self, flood: str | None) -> None:
        if flood is not None:
            await self.close(CLOSE_POLICY_VIOLATION, flood)

    def _frame_allowances(self) -> FrameAllowances:
        if self._allowances is None:
            self._allowances = FrameAllowances(self.limits)
        return self._allowances

    # --- requests: `RequestOrder` keeps their answers in order ---

    async def launch_request(self, answer: Callable[[], Awaitable[Sequence[str]]]) -> None:
        """Run `answer` (a query turned into frames of history) as a task of the session,
        its frames sent in request order (`RequestOrder.launch`); returns once started,
        so the client's next frame is handled while the query runs."""
        busy = self._busy
        if busy is None:
            return  # the session is over: nobody to answer
        # The request's task is the session's (its busy spell's: the handler that calls
        # this runs in it): a disconnect or a shutdown cancels it with the other tasks.
        await self._request_order().launch(busy.start_soon, answer, self._deliver_history)

    async def answer_now(self, answer: Callable[[], Sequence[str] | None]) -> bool:
        """Send the frames `answer` returns (an answer from memory: no task of its own),
        if nothing launched is still to answer and every pipelined write is settled;
        False, sending nothing, if not, or if `answer` returns None (`launch_request`)."""
        if self._requests is not None and not self._requests.quiet():
            return False
        frames = answer()
        if frames is None:
            return False
        await self._deliver_history(frames)
        return True

    async def send_history(self, text: str) -> None:
        """`send` for a frame of history, charged to the history budget (`check_history`)."""
        if self._requests is not None:
            await self._requests.turn()
        await self._deliver_history((text,))

    def track_write(self, pending: PendingMessage) -> None:
        """Remember a pipelined write, so that a later read can wait for it."""
        self._request_order().track_write(pending)

    async def writes_settled(self) -> None:
        """Wait until every write this client pipelined is committed (or failed)."""
        if self._requests is not None:
            await self._requests.writes_settled()

    def bound_to_client(self) -> AbstractContextManager[trio.CancelScope]:
        """A cancel scope cancelled when the client disconnects (`RequestOrder`)."""
        return self._request_order().bound_to_client()

    def _request_order(self) -> RequestOrder:
        if self._requests is None:
            self._requests = RequestOrder(client_gone=self.peer_gone)
        return self._requests

    async def _deliver_history(self, texts: Sequence[str]) -> None:
        # Without waiting for the requests: a request's own answer, or one in its turn.
        await send_answer(self._outbox or self._open_outbox(), texts, self._charge_history)

    def _charge_history(self, size: int) -> None:
        if self.limits.enabled:
            self._frame_allowances().spend_history(size)

    # --- subscriptions ---

    def subscribe(self, topic: Topic, encode: Encoder, *, hold: bool = False) -> Subscription:
        """Receive `topic`'s events from now on. With `hold`, they are kept, not sent,
        until `release`: a dialect that first sends what the client missed (a resume)
        holds the live ones back so that nothing overtakes the backlog."""
        subscriber = HeldFrames(self) if hold else self
        subscription = self._broadcaster.subscribe(topic, subscriber, encode)
        self._subscriptions.append(subscription)
        return subscription

    async def release(self, subscription: Subscription) -> None:
        """Send what a held subscription kept, in order, then let it deliver live."""
        held = subscription.subscriber
        if not isinstance(held, HeldFrames) or self.evicted:
            return  # live already, or evicted while it held (too much kept)
        await held.flush(self._outbox or self._open_outbox())
        # No await between `flush` finding nothing kept and going live: nothing can be
        # offered to `held` in between, so nothing is lost or reordered at the seam.
        subscription.subscriber = self

    def unsubscribe(self, subscription: Subscription) -> None:
        self._broadcaster.unsubscribe(subscription)
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    # --- for the broadcaster ---

    def offer(self, data: bytes) -> bool:
        """Take encoded frames without waiting: write them now if possible, else queue
        them. A full outbox evicts this client. False means: stop delivering here."""
        # The hot path (fan-out): no await, and nothing allocated once the outbox exists.
        close = self._server_close  # `closing`, inline: one call less per frame
        if close is not None and close.frames_ignored:
            return False
        return (self._outbox or self._open_outbox()).offer(data)

    def discard(self) -> None:
        """Drop the subscriptions and what waits for the client; no task starts from here
        on. How `run` ends, and a session that never opened ends (`chat.ws.opening`)."""
        self._ended = True
        self._busy = self._wanted = None
        if self._outbox is not None:
            self._outbox.end()
        for subscription in self._subscriptions:
            self._broadcaster.unsubscribe(subscription)

    @property
    def queue_size(self) -> int:
        """Items that may wait for this client (held frames too) before it is evicted."""
        return self._settings.queue_size

    def _open_outbox(self) -> Outbox:
        """The outbox, made with the first frame for this client. Its writer is a task of
        the session's (`start_task`): none starts once the session is over."""
        self._outbox = Outbox(self, self._ws, self._stream, self._settings)
        return self._outbox

    # --- closing: `ServerClose` carries out the server's decision ---

    @property
    def closing(self) -> bool:
        """True once `close` (or `close_nowait`) was called: frames are not handled."""
        close = self._server_close
        return close is not None and close.frames_ignored

    @property
    def evicted(self) -> bool:
        """True once this client was evicted: nothing more is delivered to it."""
        return self._outbox is not None and self._outbox.evicted

    @property
    def close_reason(self) -> tuple[int, str] | None:
        """The code and reason the server closes the connection with (an eviction, a
        dialect's `close`, a bug), or None while it has no reason to."""
        return None if self._server_close is None else self._server_close.reason

    @property
    def close_code(self) -> int:
        """How the connection ended, once `run` returned (`closing.closed_with`)."""
        return closed_with(
            self.close_reason,
            stream_broken=self._stream_broken,
            peer_gone=self.peer_gone,
            closed=self._ws.closed,
        )

    def evict_slow_consumer(self) -> None:
        """`evict` for a client whose queue is full, counted in the broadcaster's stats."""
        self._broadcaster.stats.slow_consumers_evicted += 1
        self.evict(CLOSE_POLICY_VIOLATION, "slow consumer: too many frames queued")

    def evict(self, code: int, reason: str) -> None:
        """Disconnect this client now, dropping its backlog (`ServerClose.evict`)."""
        self._closer().evict(code, reason)

    async def close(self, code: int, reason: str) -> None:
        """Close once the frames queued have been sent (`ServerClose.close`)."""
        await self._closer().close(code, reason)

    def close_nowait(self, code: int, reason: str, *, explain: bool = True) -> None:
        """`close` from outside the session's tasks (`ServerClose.close_nowait`), after
        the dialect's error frame saying `reason` unless not `explain` (a restart's 1012
        says it all). Nothing for a session closing, evicted or over: its end is decided."""
        if self.closing or self.evicted or self.peer_gone or self._ended:
            return
        handler = self._handler
        farewell = handler.error_frame(reason) if explain and handler is not None else None
        self._closer().close_nowait(code, reason, farewell)

    def _closer(self) -> ServerClose:
        if self._server_close is None:
            self._server_close = ServerClose(self.id, self._outbox or self._open_outbox())
        return self._server_close

    @property
    def _stream_broken(self) -> bool:
        """True if a write failed or was cut: no close frame can follow."""
        return self._outbox is not None and self._outbox.stream_broken

    # --- the session's tasks and life ---

    def start_task(self, async_fn: TaskFunction, *args: object) -> bool:
        """Start `async_fn(*args)` as a task of this session (the outbox's writer): at
        once if it is busy, else as soon as its task has opened a busy spell (its idle
        wait is woken for that). False once the session is over: no task starts."""
        if self._ended:
            return False
        if self._busy is not None:
            self._busy.start_soon(async_fn, *args)
        else:
            self._wanted = [*(self._wanted or ()), (async_fn, args)]
            self._ws.wake()
        return True

    async def run(self, handler: FrameHandler) -> None:
        """Serve this client until it disconnects, is evicted, or the server shuts down.

        The session's task is busy or idle in turn. Busy, its nursery is open: the
        handler, the writer and requests run there while it goes on receiving frames
        (`_while_busy`, `chat.ws.session.busy`); the first busy spell greets the client
        (`handler.start`). Idle, it waits for the next frame outside any nursery; a
        frame, or a task someone wants started (`start_task`, which wakes the wait:
        `next_message` returns None), makes it busy again.

        The idle wait is here, not in a method of its own: an idle connection waits in
        this frame (in its connection's `read`), and a frame between would live as long."""
        self._handler = handler
        message: str | bytes | None = None
        greet = True
        try:
            while True:
                async with trio.open_nursery() as nursery:
                    # Not a local of this frame too: it would stay while idle.
                    self._busy = BusySpell(nursery, self._ws)
                    try:
                        if greet:
                            greet = False
                            await handler.start()
                        await self._while_busy(handler, message)
                    finally:
                        # No task may start from here on: the nursery closes once its
                        # children have finished (a closing writer finishes the close
                        # handshake), and a task wanted in between waits for the next
                        # busy spell (`start_task`).
                        self._busy = None
                # Nothing of the busy spell stays in this frame while it waits: the
                # nursery (its cancel scope and status, about 1 KiB) and the last frame.
                del nursery
                message = None
                if self.peer_gone:
                    break
                # Idle: no task but this one, no nursery. `next_message` written out:
                # the task waits in `read`, called from this frame, one coroutine frame
                # (about 200 bytes) fewer on every idle connection.
                try:
                    while True:
                        try:
                            message = self._ws.message_nowait()
                            break
                        except trio.WouldBlock:
                            pass
                        # Outside the `except`: waiting in there would keep the exception
                        # and its traceback (about 450 bytes) as long as the wait.
                        await self._ws.read()
                except ConnectionClosed:
                    self.peer_gone = True
                    break
        except Exception:
            # The one broad handler for a client: a bug closes this connection with
            # 1011, logs the traceback, and leaves every other client alone.
            log.exception("client %d: internal error", self.id)
            self._closer().decide(CLOSE_INTERNAL_ERROR, "internal error")
        finally:
            self.discard()
            # Reached on cancellation too (server shutdown): the close handshake must
            # still happen, within a bound.
            with trio.move_on_after(self._settings.close_timeout, shield=True):
                await close_handshake(
                    self._ws, self.close_reason, stream_broken=self._stream_broken
                )

    async def _while_busy(self, handler: FrameHandler, message: str | bytes | None) -> None:
        """A busy spell: start the tasks wanted while the session was idle, then receive
        frames (`message` first, the one that woke it, if one did) until no task is left,
        or until the client has gone (`_peer_left`)."""
        busy = self._busy
        assert busy is not None  # made by `run` for this spell
        wanted, self._wanted = self._wanted, None
        for async_fn, args in wanted or ():
            busy.start_soon(async_fn, *args)
        if await busy.receive(handler.handle, message, lambda: self.closing):
            await self._peer_left(busy)

    async def _peer_left(self, busy: BusySpell) -> None:
        """The client has gone (or answered our close frame): let the handler finish the
        frames already received, then cancel what is left, unless we are closing the
        connection ourselves."""
        self.peer_gone = True
        if self._requests is not None:
            self._requests.client_gone()  # cancels the work bound to it
        await busy.handler_finished()
        outbox = self._outbox
        if self.close_reason is None or outbox is None or not outbox.has_writer:
            busy.nursery.cancel_scope.cancel()
        # Else we are closing the connection (`close`, `evict`): our close frame ended
        # the receive loop, and the writer now waits for the client's answer (within the
        # close timeout). Cut short, the socket would close under frames the client is
        # still sending, and the reset would lose it our close frame and its reason.
