"""One WebSocket client: its three tasks, its two queues, and how it ends.

Tasks (all inside `ClientSession.run`):

- the *receive loop* (the session's own task) reads frames from the socket into the
  inbox. It is always reading, so it notices a disconnect at once, even while a request
  is being handled;
- the *handler* takes frames from the inbox one at a time, in order, and hands them to
  the protocol dialect, which may query the database and queue answers. It is started
  with the first frame the client sends;
- the *writer* takes frames from the outbox and writes them to the socket, as many as
  are waiting in one write. It is started the first time a frame has to wait;
- *request tasks*: a request whose answer is read from the database (``history N``) is
  launched by the handler as a task of its own (`launch_request`), so the client's later
  frames are handled while its query runs (a chat message is stored and delivered).
  Answers still come back in request order: its rows go back one frame each, after
  those of every request launched before it, and anything the handler sends (an answer
  to a later frame) waits for them; only what is relayed to the client (others'
  messages, presence: `offer`) is not held back. At most
  `MAX_REQUESTS` run at once; the handler waits for a free place (and the client's next
  frames with it, so one that floods requests is pushed back by TCP). A disconnect
  cancels them (`bound_to_client`): on PostgreSQL the query is cancelled on the server.

An idle connection (most of them, in a big chat) has none of these, nor their channels.

Queues (bounded Trio memory channels):

- inbox: receive loop -> handler. The receive loop owns the send end and closes it when
  the peer is gone; the handler then finishes the frames already received (a message a
  client sent just before closing is still stored and delivered) and stops.
- outbox: handler and broadcaster -> writer, of encoded frames (`chat.ws.frames`). The
  handler waits for room (`send`); the broadcaster never waits (`offer`): a full outbox
  means a slow consumer, which is evicted (`evict`) with close code 1008 while everyone
  else carries on.

The fast path: when nothing is queued for this client and nothing is being written to
it, a frame does not go through the outbox at all: it is written to the socket at once
(`DirectWriteStream.try_write`). That is what a healthy client gets almost every time,
and it saves waking the writer task per message. `_unwritten` counts frames that went
into the outbox and are not written yet; the fast path is only taken when it is zero,
so a frame can never overtake one queued before it.

How a session ends:

- the peer closes: the receive loop ends, the handler drains the inbox, the writer is
  cancelled;
- eviction: `evict` closes the writer's receive end (dropping the backlog); the writer
  finishes the frame it is writing, sends the close frame, and the receive loop sees the
  close handshake complete;
- a dialect closes it (`close`, e.g. the support protocol on a bad token): a marker goes
  into the outbox behind what is already queued, so the client gets the error frame
  explaining why, then the close frame;
- something outside the session's tasks closes it (`close_nowait`: the revocation sweep,
  when the client's token has been revoked): the same, without waiting, the error frame
  in the client's dialect (`FrameHandler.error_frame`). An idle session has no writer,
  so this starts one; if the outbox is full, the client is evicted instead;
- server shutdown: cancellation. The writer's current write is shielded (a frame cut in
  half would corrupt the stream), then the session closes with 1001;
- a bug: logged, close code 1011. Only this client is affected.
"""

from __future__ import annotations

import itertools
import logging
from array import array
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from ..broadcaster import Broadcaster, Encoder, Subscription, Topic
from ..errors import ChatError, RateLimited, Unavailable
from ..message_writer import PendingMessage
from ..service import Identity
from .frame_limits import Allowance, FrameLimits
from .frames import text_frame
from .stream import DirectWriteStream, Written

log = logging.getLogger(__name__)

#: Frames received but not yet handled; past this the receive loop stops reading and
#: TCP flow control pushes back on a client that pipelines requests.
INBOX_SIZE = 16

CLOSE_GOING_AWAY = 1001
CLOSE_ABNORMAL = 1006  # never sent: the connection ended without a close frame
CLOSE_POLICY_VIOLATION = 1008
CLOSE_INTERNAL_ERROR = 1011

#: Requests (`launch_request`) one client may have running at once.
MAX_REQUESTS = 4

#: A connection that collects more rate-limit refusals than this within
#: `REFUSAL_WINDOW_S` is closed (1008): it is not slowing down.
MAX_REFUSALS = 10
REFUSAL_WINDOW_S = 60.0


def _flood_reason(error: RateLimited) -> str:
    """The close reason for a client that kept going past a limit: "rate limit exceeded:
    too many room changes" (the refusal's text without its "try again")."""
    return f"rate limit exceeded: {str(error).partition(':')[0]}"


class _CloseMarker:
    """Queued by `ClientSession.close`: the writer closes the connection when it gets here."""


_CLOSE = _CloseMarker()


class _Held:
    """Stands in for a session in a subscription that is not live yet (`subscribe(...,
    hold=True)`): it keeps the frames the broadcaster offers, in order, until
    `ClientSession.release` sends them and hands the subscription to the session. Past
    the session's queue size it evicts the session, as a full outbox would."""

    __slots__ = ("frames", "id", "session")

    def __init__(self, session: ClientSession) -> None:
        self.session = session
        self.id = session.id  # so the broadcaster's `skip` still recognises the client
        self.frames: list[bytes] = []

    def offer(self, data: bytes) -> bool:
        session = self.session
        if session._evicted or session.closing:
            return False
        if len(self.frames) >= session._queue_size:
            session.evict_slow_consumer()
            return False
        self.frames.append(data)
        return True


class Registry(Protocol):
    """Keeps track of open sessions (`chat.revocations`, `chat.presence`, `chat.notices`):
    told when one starts (`file`), becomes someone else (`refile`) and ends (`unfile`).
    All three are synchronous, so a cancellation can never leave a session half-filed.
    Registries are shared, not per session: an idle connection pays one attribute."""

    def file(self, session: ClientSession) -> None: ...

    def refile(self, session: ClientSession, before: Identity | None) -> None: ...

    def unfile(self, session: ClientSession) -> None: ...


class FrameHandler(Protocol):
    """What the frames on one connection mean (see `chat.ws.dispatch`)."""

    async def start(self) -> None:
        """Called by the handler task before the first frame (subscribe, greet, ...)."""

    async def handle(self, message: str | bytes) -> None:
        """Handle one frame from the client. Domain errors become error frames here."""

    def error_frame(self, problem: str) -> str | None:
        """An error frame saying `problem` in the client's dialect, or None if the dialect
        closes without one (sent before a close from outside, `close_nowait`)."""

    def refusal_frame(self, error: RateLimited) -> str:
        """The error frame in the client's dialect for a WebSocket ping over its limit."""


class ClientSession:
    """A connected WebSocket client, as the dialects and the broadcaster see it."""

    # Slots: there is one of these per connection, and past 30 attributes CPython gives
    # each instance a dictionary of its own (1.6 KiB) instead of sharing the keys.
    __slots__ = (
        "_broadcaster",
        "_close_reason",
        "_close_timeout",
        "_evicted",
        "_frame_counts",
        "_handler",
        "_handler_done",
        "_identity_listeners",
        "_inbox_send",
        "_last_request",
        "_nursery",
        "_outbox_receive",
        "_outbox_send",
        "_queue_size",
        "_refusals",
        "_request_places",
        "_request_scopes",
        "_stream",
        "_stream_broken",
        "_subscriptions",
        "_unwritten",
        "_write_timeout",
        "_writes",
        "_ws",
        "address",
        "closing",
        "id",
        "identity",
        "limits",
        "opened_at",
        "path",
        "peer_gone",
        "registries",
    )

    _ids = itertools.count(1)

    def __init__(
        self,
        ws: WebSocketConnection,
        stream: DirectWriteStream,
        broadcaster: Broadcaster,
        *,
        queue_size: int,
        write_timeout: float,
        close_timeout: float,
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
        #: The registries this session is filed in (set by `WebSocketServer.handle`).
        self.registries: tuple[Registry, ...] = ()
        self._identity_listeners: tuple[Callable[[Identity], None], ...] = ()
        #: True once the receive loop has seen the connection close.
        self.peer_gone = False
        #: True once `close` was called: frames still arriving are not handled.
        self.closing = False
        self._ws = ws
        self._stream = stream
        self._broadcaster = broadcaster
        self._write_timeout = write_timeout
        self._close_timeout = close_timeout
        self._queue_size = queue_size
        # Idle connections are counted in thousands, so the handler and the writer, and
        # the channels that feed them, are only created when first needed (`_outbox`,
        # `_start_handler`). The session holds the outbox's send end (closed when `run`
        # ends); the writer owns the receive end.
        self._outbox_send: trio.MemorySendChannel[bytes | _CloseMarker] | None = None
        self._outbox_receive: trio.MemoryReceiveChannel[bytes | _CloseMarker] | None = None
        self._unwritten = 0  # items put into the outbox and not yet written
        self._evicted = False
        # The receive loop owns the inbox's send end, the handler the receive end.
        self._inbox_send: trio.MemorySendChannel[str | bytes] | None = None
        self._handler: FrameHandler | None = None  # set by `run`
        self._handler_done: trio.Event | None = None
        self._nursery: trio.Nursery | None = None
        # Lists, not sets: they hold a couple of items, and a set costs four times the
        # memory of a short list on every idle connection. The last two are created
        # when first needed (most connections never write or ask for history).
        self._subscriptions: list[Subscription] = []
        self._request_scopes: list[trio.CancelScope] | None = None
        # Pipelined writes, maybe not committed yet.
        self._writes: list[PendingMessage] | None = None
        self._close_reason: tuple[int, str] | None = None
        self._stream_broken = False
        self._refusals: list[float] | None = None  # when rate limits refused its frames
        #: The server's per-connection frame limits (`chat.ws.frame_limits`); this
        #: connection's counts are made with the first frame counted.
        self.limits = limits
        self._frame_counts: array[float] | None = None
        # Launched requests (`launch_request`), created with the first: the places free,
        # and the last one's "done" event, which the next waits for before it answers.
        self._request_places: trio.Semaphore | None = None
        self._last_request: trio.Event | None = None

    # --- for dialects ---

    async def send(self, text: str) -> None:
        """Send a text frame to this client, in order after everything sent before (the
        answers of requests still running included: `launch_request`), waiting while its
        outbox is full. Frames for a client that has gone (or been evicted) are dropped
        silently."""
        if self._last_request is not None:
            await self._last_request.wait()  # set at once if none is running
        await self._send_data(text_frame(text))

    async def _send_data(self, data: bytes) -> None:
        """`send` for frames already encoded."""
        if self._write_now(data):
            return
        await self._enqueue(data)

    def send_nowait(self, text: str) -> None:
        """Send a text frame without waiting, for answers produced outside the handler
        (a failed pipelined write). If the client's outbox is full the frame is dropped:
        that client is about to be evicted as a slow consumer anyway."""
        data = text_frame(text)
        if self._write_now(data):
            return
        outbox = self._outbox()
        if outbox is None:
            return
        try:
            outbox.send_nowait(data)
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            return
        self._unwritten += 1

    # --- frame limits (`chat.ws.frame_limits`) ---

    def limit(self, allowance: Allowance) -> None:
        """Count one frame of `allowance`'s kind on this connection, or raise `RateLimited`
        past it (the dialect answers with its error frame, then calls `after_refusal`)."""
        if self.limits.enabled:
            self.limits.take(self._counts(), allowance)

    def check_history(self) -> None:
        """Raise `RateLimited` if this connection has spent its history budget: a history
        request is then refused rather than answered."""
        if self.limits.enabled:
            self.limits.check_budget(self._counts(), self.limits.history_data)

    def _spend_history(self, data: bytes) -> bytes:
        """`data`, a frame of history, charged to this connection's history budget."""
        if self.limits.enabled:
            self.limits.spend(self._counts(), self.limits.history_data, len(data))
        return data

    async def send_history(self, text: str) -> None:
        """`send` for a frame of history (a resumed message), charged to this connection's
        history budget (`check_history` refuses the next request once it is spent)."""
        if self._last_request is not None:
            await self._last_request.wait()
        await self._send_data(self._spend_history(text_frame(text)))

    def _counts(self) -> array[float]:
        if self._frame_counts is None:
            self._frame_counts = self.limits.new_state()
        return self._frame_counts

    async def after_refusal(self, error: ChatError) -> None:
        """Called by a dialect once it has answered a frame with an error frame saying
        `error`. A rate-limit refusal counts: a client that keeps going past a limit is
        closed with 1008 (after that frame). Any other error but a database outage (which
        is nobody's fault) means the frame was invalid (`after_invalid`)."""
        if isinstance(error, RateLimited):
            if self._count_refusal():
                await self.close(CLOSE_POLICY_VIOLATION, _flood_reason(error))
        elif not isinstance(error, Unavailable):
            await self.after_invalid()

    async def after_invalid(self) -> None:
        """Called by a dialect once it has answered an invalid frame with its error frame:
        past the connection's allowance of invalid frames, each counts as a rate-limit
        refusal (`after_refusal`)."""
        if not self.limits.enabled:
            return
        try:
            self.limits.take(self._counts(), self.limits.invalid_frames)
        except RateLimited as error:
            await self.after_refusal(error)

    def ping_allowed(self) -> bool:
        """Whether to answer a WebSocket ping frame with a pong (asked by
        `chat.ws.transport.ServerConnection`, in the receive loop, so synchronous). Past
        the connection's allowance of pings, no: the client gets its dialect's error frame
        instead (RFC 6455 5.5.3 lets a pong answer only the latest of several pings), and
        the refusal counts, as in `after_refusal`."""
        if not self.limits.enabled:
            return True
        try:
            self.limits.take(self._counts(), self.limits.pings)
        except RateLimited as error:
            if self._count_refusal():
                self.close_nowait(CLOSE_POLICY_VIOLATION, _flood_reason(error))
            elif self._handler is not None:
                self.send_nowait(self._handler.refusal_frame(error))
            return False
        return True

    def _count_refusal(self) -> bool:
        """Note a rate-limit refusal; True once there have been more than `MAX_REFUSALS`
        within `REFUSAL_WINDOW_S`: the client is not slowing down."""
        now = trio.current_time()
        recent = [t for t in self._refusals or () if now - t < REFUSAL_WINDOW_S]
        recent.append(now)
        self._refusals = recent
        return len(recent) > MAX_REFUSALS

    def track_write(self, pending: PendingMessage) -> None:
        """Remember a pipelined write, so that a later read can wait for it."""
        self._writes = [w for w in self._writes or () if not w.done.is_set()]
        self._writes.append(pending)

    async def writes_settled(self) -> None:
        """Wait until every write this client pipelined is committed (or failed): a read
        that follows a write sees it."""
        for pending in self._writes or ():
            await pending.done.wait()
        self._writes = None

    async def _enqueue(self, item: bytes | _CloseMarker) -> None:
        outbox = self._outbox()
        if outbox is None:
            return  # the session is over
        # Counted before the await: while we wait for room, the fast path must already
        # know that something is queued ahead of anything sent after us.
        self._unwritten += 1
        try:
            await outbox.send(item)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._unwritten -= 1

    def _outbox(self) -> trio.MemorySendChannel[bytes | _CloseMarker] | None:
        """The outbox, with its writer task started the first time it is needed (from
        any task: `start_soon` does not wait). None once the session is ending."""
        if self._outbox_send is None:
            if self._nursery is None or self._evicted:
                return None
            self._outbox_send, self._outbox_receive = trio.open_memory_channel[
                bytes | _CloseMarker
            ](self._queue_size)
            self._nursery.start_soon(self._write_loop)
        return self._outbox_send

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

    async def close(self, code: int, reason: str) -> None:
        """Close the connection once the frames already queued have been sent (an error
        frame explaining why, say). Frames the client sends meanwhile are ignored."""
        if self._close_reason is None:
            self._close_reason = (code, reason)
        self.closing = True
        await self._enqueue(_CLOSE)

    def close_nowait(self, code: int, reason: str) -> None:
        """`close` for callers outside this session's tasks (the revocation sweep), which
        must not wait: synchronous, so there is nothing to cancel half-way.

        Queues the dialect's error frame saying `reason` (if it has one) and the close
        marker behind what is already queued; the writer sends them, then the close frame.
        An idle session has no writer yet: `_outbox` starts one. If the outbox has no room
        for both, the client is evicted instead: the backlog is dropped and the close frame
        goes out at once. Does nothing for a session that is already closing or over.
        """
        if self.closing or self._evicted or self.peer_gone:
            return
        self._close_reason = (code, reason)
        self.closing = True
        outbox = self._outbox()
        if outbox is None:
            return  # not running: nothing left to close
        log.info("client %d closed: %d %s", self.id, code, reason)
        farewell = self._handler.error_frame(reason) if self._handler is not None else None
        items: list[bytes | _CloseMarker] = [_CLOSE]
        if farewell is not None:
            items.insert(0, text_frame(farewell))
        try:
            for item in items:
                outbox.send_nowait(item)
                self._unwritten += 1
        except trio.WouldBlock:
            self.evict(code, reason)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the writer is gone: the session is ending already

    def subscribe(self, topic: Topic, encode: Encoder, *, hold: bool = False) -> Subscription:
        """Receive `topic`'s events from now on. With `hold`, they are kept, not sent,
        until `release`: a dialect that first sends what the client missed (a resume)
        holds the live ones back so that nothing overtakes the backlog."""
        subscriber = _Held(self) if hold else self
        subscription = self._broadcaster.subscribe(topic, subscriber, encode)
        self._subscriptions.append(subscription)
        return subscription

    async def release(self, subscription: Subscription) -> None:
        """Send what a held subscription kept, in order, then let it deliver live."""
        held = subscription.subscriber
        if not isinstance(held, _Held) or self._evicted:
            return  # live already, or evicted while it held (too much kept)
        while held.frames:
            frames, held.frames = held.frames, []
            await self._send_data(b"".join(frames))
        # No await between finding nothing kept and going live: nothing can be offered
        # to `held` in between, so nothing is lost or reordered at the seam.
        subscription.subscriber = self

    def unsubscribe(self, subscription: Subscription) -> None:
        self._broadcaster.unsubscribe(subscription)
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    async def launch_request(self, answer: Callable[[], Awaitable[Sequence[str]]]) -> None:
        """Run `answer` (a database query turned into frames) as a task of this session's
        nursery, and send the frames it returns, one each, once every request launched
        before it has sent its own. Returns as soon as the task is started, so the client's
        next frame is handled while the query runs; waits only while `MAX_REQUESTS` are
        running. The task waits for the writes the client pipelined before it (the answer
        includes what it just sent), and is cancelled if the client disconnects. Requests
        read history (``history N``, a support thread): the frames are charged to the
        connection's history budget (`check_history`)."""
        if self._request_places is None:
            self._request_places = trio.Semaphore(MAX_REQUESTS)
        await self._request_places.acquire()
        if self._nursery is None:
            self._request_places.release()
            return  # the session is over: nobody to answer
        # In this order, with no await between: the request order is the handler's.
        previous, self._last_request = self._last_request, trio.Event()
        earlier_writes = list(self._writes or ())
        self._nursery.start_soon(
            self._run_request, answer, earlier_writes, previous, self._last_request
        )

    async def _run_request(
        self,
        answer: Callable[[], Awaitable[Sequence[str]]],
        earlier_writes: list[PendingMessage],
        previous: trio.Event | None,
        done: trio.Event,
    ) -> None:
        assert self._request_places is not None
        try:
            with self.bound_to_client():
                for pending in earlier_writes:
                    await pending.done.wait()
                frames = await answer()  # concurrently with the requests before this one
                if previous is not None:
                    await previous.wait()  # their frames first, all of them
                for frame in frames:
                    # Not `send`: it waits for us.
                    await self._send_data(self._spend_history(text_frame(frame)))
        finally:
            # Set however it ended (answered, cancelled, failed): the next may answer.
            done.set()
            self._request_places.release()

    @contextmanager
    def bound_to_client(self) -> Iterator[trio.CancelScope]:
        """A cancel scope the receive loop cancels when the client disconnects.

        Work that only produces an answer for this client (a history query) runs inside
        one: there is no point finishing it for nobody. Writes (posting a message) do not:
        what the client sent before it left is still stored.
        """
        scope = trio.CancelScope()
        if self.peer_gone:
            scope.cancel()
        if self._request_scopes is None:
            self._request_scopes = []
        self._request_scopes.append(scope)
        try:
            with scope:
                yield scope
        finally:
            self._request_scopes.remove(scope)

    # --- for the broadcaster ---

    def offer(self, data: bytes) -> bool:
        """Take encoded frames without waiting: write them now if possible, else queue
        them. A full outbox evicts this client. False means: stop delivering here."""
        if self._evicted or self.closing:
            return False
        if self._write_now(data):
            return True
        outbox = self._outbox()
        if outbox is None:
            return False
        try:
            outbox.send_nowait(data)
        except trio.WouldBlock:
            self.evict_slow_consumer()
            return False
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        self._unwritten += 1
        return True

    def _write_now(self, data: bytes) -> bool:
        """The fast path: True if `data` needs no queueing (written, or kept by the stream
        with the writer woken to finish it)."""
        if self._unwritten or self._ws.closed is not None:
            return False
        written = self._stream.try_write(data)
        if written is Written.NOT_NOW:
            return False
        if written is Written.PARTLY:
            # The stream keeps the rest; an empty item wakes the writer to flush it.
            outbox = self._outbox()
            if outbox is not None:
                outbox.send_nowait(b"")  # never full: nothing was queued
                self._unwritten += 1
        return True

    def evict_slow_consumer(self) -> None:
        """`evict` for a client whose queue is full, counted in the broadcaster's stats."""
        self._broadcaster.stats.slow_consumers_evicted += 1
        self.evict(CLOSE_POLICY_VIOLATION, "slow consumer: too many frames queued")

    def evict(self, code: int, reason: str) -> None:
        """Disconnect this client with `code`, dropping whatever is still queued for it.

        Synchronous, so the broadcaster can call it mid-fan-out. Closing the writer's
        receive end wakes the writer (or stops it after its current frame), and it
        sends the close frame. A session with no writer yet (a held subscription that
        overflowed before anything was queued) gets one first, for that close frame.
        """
        if self._close_reason is None:
            self._close_reason = (code, reason)
            log.info("client %d evicted: %d %s", self.id, code, reason)
        if self._outbox_receive is None:
            self._outbox()  # before `_evicted` is set, which stops it starting a writer
        self._evicted = True
        if self._outbox_receive is not None:
            self._outbox_receive.close()

    @property
    def close_code(self) -> int:
        """How the connection ended (once `run` returned): the code of whichever side
        closed it, 1001 for a server shutdown, 1006 if it dropped without a close frame.
        The server's own reason (an eviction, say) wins even if its close frame could not
        be sent: that is what an operator reading the log needs to know."""
        if self._close_reason is not None:
            return self._close_reason[0]  # the server closed it: evicted, refused, a bug
        if self._stream_broken:
            return CLOSE_ABNORMAL
        closed = self._ws.closed
        if self.peer_gone and closed is not None:
            # The client closed it, or the transport did on a protocol error (its code).
            return closed.code
        return CLOSE_GOING_AWAY  # cancelled: the server shut down (`_close`)

    # --- the session's life ---

    async def run(self, handler: FrameHandler) -> None:
        """Serve this client until it disconnects, is evicted, or the server shuts down.

        The receive loop runs here, in the session's own task, not in a method of its
        own: an idle connection waits in this frame (inside `get_message`), and every
        frame between would live as long as the connection."""
        try:
            # Holds the handler and the writer, each started when first needed. When the
            # receive loop ends, the handler first finishes the frames already received;
            # then the writer is cancelled (nothing more will be queued for this client),
            # unless it is closing the connection: then it finishes the close handshake.
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._handler = handler
                try:
                    await handler.start()
                    # The receive loop: it owns the inbox's send end (the handler is
                    # started, and the inbox created, with the first frame).
                    try:
                        while True:
                            try:
                                message = await self._ws.get_message()
                            except ConnectionClosed:
                                break
                            if self._inbox_send is None:
                                self._inbox_send = self._start_handler(handler)
                            await self._inbox_send.send(message)
                    finally:
                        # Closing the inbox tells the handler that no more frames come.
                        if self._inbox_send is not None:
                            self._inbox_send.close()
                    self.peer_gone = True
                    for scope in self._request_scopes or ():
                        scope.cancel()
                    if self._handler_done is not None:
                        await self._handler_done.wait()
                    if self._close_reason is None or self._outbox_send is None:
                        nursery.cancel_scope.cancel()
                    # Else we are closing the connection (`close`, `evict`): our close
                    # frame ended the receive loop, and the writer now waits for the
                    # client's answer (within the close timeout). Cut short, the socket
                    # would close under frames the client is still sending, and the reset
                    # would lose it our close frame and its reason.
                finally:
                    # No task may start from here on: the nursery closes once its
                    # children have finished, and a broadcaster offer arriving in
                    # between would try to start a writer in a closed nursery.
                    self._nursery = None
        except Exception:
            # The one broad handler for a client: a bug closes this connection with
            # 1011, logs the traceback, and leaves every other client alone.
            log.exception("client %d: internal error", self.id)
            if self._close_reason is None:
                self._close_reason = (CLOSE_INTERNAL_ERROR, "internal error")
        finally:
            self._nursery = None
            for subscription in self._subscriptions:
                self._broadcaster.unsubscribe(subscription)
            if self._outbox_send is not None:
                self._outbox_send.close()
            # Reached on cancellation too (server shutdown): the close handshake must
            # still happen, within a bound.
            with trio.move_on_after(self._close_timeout, shield=True):
                await self._close()

    async def _close(self) -> None:
        if self._stream_broken:
            return  # a frame may be half-written: nothing valid can follow it
        code, reason = self._close_reason or (CLOSE_GOING_AWAY, "server shutting down")
        await self._ws.aclose(code, reason)  # a no-op if the connection is already closed

    def _start_handler(self, handler: FrameHandler) -> trio.MemorySendChannel[str | bytes]:
        """Start the handler task; return the send end of its inbox."""
        assert self._nursery is not None
        inbox_send, inbox_receive = trio.open_memory_channel[str | bytes](INBOX_SIZE)
        self._handler_done = trio.Event()
        self._nursery.start_soon(self._handle_loop, handler, inbox_receive, self._handler_done)
        return inbox_send

    async def _handle_loop(
        self,
        handler: FrameHandler,
        inbox_receive: trio.MemoryReceiveChannel[str | bytes],
        done: trio.Event,
    ) -> None:
        try:
            async with inbox_receive:
                async for message in inbox_receive:
                    if not self.closing:
                        await handler.handle(message)
        finally:
            done.set()

    async def _write_loop(self) -> None:
        assert self._outbox_receive is not None
        try:
            async with self._outbox_receive:
                while await self._write_batch():
                    pass
        except trio.ClosedResourceError:
            pass  # `evict` closed our receive end, dropping the backlog
        if self._stream_broken:
            return  # no close frame can follow (the peer is gone, or a write was cut)
        # Evicted, or asked to close: send the close frame ourselves. The receive loop
        # ends when the peer answers it.
        code, reason = self._close_reason or (CLOSE_POLICY_VIOLATION, "closed")
        with trio.move_on_after(self._close_timeout) as closing:
            await self._ws.aclose(code, reason)
        if closing.cancelled_caught:
            await self._abort("close handshake timed out")

    async def _write_batch(self) -> bool:
        """Write everything queued, in one write. False when the writer should stop."""
        outbox = self._outbox_receive
        assert outbox is not None
        first = await outbox.receive()
        # The lock first: from here on the fast path stays out, so nothing can slip in
        # between the frames we take now and those queued after them.
        async with self._stream.write_turn():
            items = [first]
            while True:
                try:
                    items.append(outbox.receive_nowait())
                except trio.WouldBlock:
                    break
            frames: list[bytes] = []
            for item in items:
                if isinstance(item, _CloseMarker):
                    break  # `close`: what was queued before it is written, then we stop
                frames.append(item)
            if frames and self._ws.closed is None:  # nothing may follow a close frame
                await self._write_locked(b"".join(frames))
            self._unwritten -= len(items)
        return len(frames) == len(items) and not self._stream_broken

    async def _write_locked(self, data: bytes) -> None:
        # Shielded: cancellation must not cut a frame in half. Bounded: a peer that
        # stops reading cannot hold the writer (or shutdown) forever.
        with trio.move_on_after(self._write_timeout, shield=True) as write:
            try:
                await self._stream.send_all_locked(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._stream_broken = True  # the peer is gone; the receive loop sees it too
                return
        if write.cancelled_caught:
            await self._abort(f"write timed out after {self._write_timeout} s")

    async def _abort(self, why: str) -> None:
        """Drop the TCP connection without a close frame (the stream may be mid-frame)."""
        log.info("client %d dropped: %s", self.id, why)
        self._stream_broken = True
        # Closing the stream makes the receive loop's next read fail, which ends it.
        await trio.aclose_forcefully(self._stream)
