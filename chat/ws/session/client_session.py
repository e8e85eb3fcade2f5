"""One WebSocket client: its tasks, how it ends, and what the dialects call.

A session is split by job; each part is made the first time it is needed, so an idle
connection (most of them, in a big chat) has none of them:

- `ClientSession` (here): the receive loop, the handler task and its inbox, the
  subscriptions, and the session's tasks from its first frame to its end. Three parts
  of it live in modules of their own, as mixins on the same object (its slots are here:
  one object per connection): `chat.ws.session.limits` counts the client's frames
  against the server's limits, `chat.ws.session.requests` answers its requests in
  order, and `chat.ws.session.closing` closes the connection and says how it ended;
  what it needs of the connection, the dialect and the registries is in
  `chat.ws.session.contracts`;
- `chat.ws.session.outbox.Outbox`: frames written now (the fast path) or queued for the writer
  task; eviction of a slow consumer; the close marker and the close frame. Made with the
  first frame sent to the client;
- `chat.ws.session.request_order.RequestOrder`: requests launched as tasks of their own, their
  answers kept in request order, read-your-writes, and the work bound to the client.
  Made with the first request or pipelined write;
- `chat.ws.session.held_frames.HeldFrames`: a subscription held back during a resume.

Tasks (all inside `ClientSession.run`; all but the receive loop in the session's
nursery, which `run` owns and opens only while there is a task to run in it):

- the *receive loop* (the session's own task) reads frames from the socket into the
  inbox. It is always reading, so it notices a disconnect at once, even while a request
  is being handled. While the session has no other task (most connections, most of the
  time) it waits outside any nursery: *idle*. A frame, or a task wanted from outside
  (the outbox's writer, `start_task`: it wakes the wait), opens the nursery: *busy*,
  until the last task in it ends (each wakes the loop as it ends);
- the *handler* takes frames from the inbox one at a time, in order, and hands them to
  the protocol dialect, which may query the database and queue answers. It is started
  when a frame arrives and none is running, and ends once the inbox is empty: a
  connection that said what it had to (entered its room) and now only listens keeps no
  second task (about 4 KiB: its frames, the inbox, an event; 100,000 such connections
  are issue 27's target);
- the *writer* (the outbox's) takes frames from the outbox and writes them to the
  socket, as many as are waiting in one write. It is started when a frame has to wait,
  and ends once its queue has been empty for a while (`chat.ws.session.outbox.WRITER_REST_S`);
- *request tasks* (`launch_request`), at most `request_order.MAX_REQUESTS` at once; a
  disconnect cancels them (`bound_to_client`): on PostgreSQL the query is cancelled on
  the server. (An answer memory holds, with nothing before it still to answer, is sent by
  the handler itself: `answer_now`.)

Queues (bounded Trio memory channels):

- inbox: receive loop -> handler, a short list that exists while a handler runs (at most
  `INBOX_SIZE` frames; the receive loop waits for room past that). When the peer is
  gone the receive loop waits for the handler to finish the frames already received (a
  message a client sent just before closing is still stored and delivered).
- outbox: handler and broadcaster -> writer (`chat.ws.session.outbox`). The handler waits for
  room (`send`); the broadcaster never waits (`offer`): a full outbox means a slow
  consumer, which is evicted (`evict`) with close code 1008 while everyone else carries on.

How a session ends, and with which close code, is `chat.ws.session.closing`'s part.
"""

from __future__ import annotations

import itertools
import logging
from array import array
from collections.abc import Awaitable, Callable

import trio
from trio_websocket import ConnectionClosed

from chat.app.messages.broadcaster import Broadcaster, Encoder, Subscription, Topic
from chat.core.frames import (
    CLOSE_INTERNAL_ERROR,
    CLOSE_POLICY_VIOLATION,
    CLOSE_SERVICE_RESTART,
    text_frame,
)
from chat.core.records import Identity
from chat.ws.session.closing import SessionClosing
from chat.ws.session.contracts import FrameHandler, Registry, SessionConnection
from chat.ws.session.frame_limits import FrameLimits
from chat.ws.session.held_frames import HeldFrames
from chat.ws.session.limits import MAX_REFUSALS, SessionLimits
from chat.ws.session.outbox import Outbox, OutboxSettings, WriteStream
from chat.ws.session.request_order import RequestOrder
from chat.ws.session.requests import SessionRequests

# Imported from here by the dialects, the server and the tests.
__all__ = [
    "CLOSE_POLICY_VIOLATION",
    "CLOSE_SERVICE_RESTART",
    "MAX_REFUSALS",
    "ClientSession",
    "FrameHandler",
    "Registry",
    "SessionConnection",
]

log = logging.getLogger(__name__)

#: What a session's task runs (`ClientSession.start_task`).
_TaskFunction = Callable[..., Awaitable[object]]

#: Frames received but not yet handled; past this the receive loop stops reading and
#: TCP flow control pushes back on a client that pipelines requests.
INBOX_SIZE = 16


class ClientSession(SessionLimits, SessionRequests, SessionClosing):
    """A connected WebSocket client, as the dialects and the broadcaster see it (its
    frame limits counted by `chat.ws.session.limits`, its requests answered by
    `chat.ws.session.requests`, its end by `chat.ws.session.closing`)."""

    # Slots: there is one of these per connection (past 30 attributes CPython would give
    # each instance a dictionary of its own instead of sharing the keys). Each is paid by
    # every idle connection; what only a busy one needs lives in `_outbox`, `_requests`.
    __slots__ = (
        "_broadcaster",
        "_close_reason",
        "_ended",
        "_frame_counts",
        "_handler",
        "_handler_done",
        "_identity_listeners",
        "_inbox",
        "_inbox_room",
        "_nursery",
        "_outbox",
        "_refusals",
        "_removal_listeners",
        "_requests",
        "_settings",
        "_stream",
        "_subscriptions",
        "_wanted",
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
        #: The registries this session is filed in (set by `WebSocketServer.handle`).
        self.registries: tuple[Registry, ...] = ()
        #: The room a room-protocol connection is in (None: none; `chat.ws.rooms`).
        self.room_id: int | None = None
        self._identity_listeners: tuple[Callable[[Identity], None], ...] = ()
        self._removal_listeners: tuple[Callable[[int], None], ...] = ()
        #: True once the receive loop has seen the connection close.
        self.peer_gone = False
        #: True once `close` was called: frames still arriving are not handled.
        self.closing = False
        self._ws = ws
        self._stream = stream
        self._broadcaster = broadcaster
        self._settings = settings  # shared by the server's sessions
        # Idle connections are counted in thousands, so the handler, the outbox and the
        # request order are only made when first needed (`_start_handler`,
        # `_open_outbox`, `_request_order`).
        self._outbox: Outbox | None = None
        self._requests: RequestOrder | None = None
        # Frames received and not yet handled: a list while a handler task runs (it
        # ends when the list is empty, and sets it back to None), else None. The
        # receive loop appends, the handler takes from the front.
        self._inbox: list[str | bytes] | None = None
        # Set by the handler when it takes a frame while the receive loop waits for
        # room (a full inbox), and when it ends while `run` waits for it; made only then.
        self._inbox_room: trio.Event | None = None
        self._handler: FrameHandler | None = None  # set by `run`
        self._handler_done: trio.Event | None = None
        # `run`'s nursery, open while the session has tasks (busy); tasks wanted while
        # it is closed wait here for the session's task to open it (`start_task`).
        self._nursery: trio.Nursery | None = None
        self._wanted: list[tuple[_TaskFunction, tuple[object, ...]]] | None = None
        #: True once the session is over (or its client gone): no task starts any more.
        self._ended = False
        # A list, not a set: it holds a couple of items, and a set costs four times the
        # memory of a short list on every idle connection.
        self._subscriptions: list[Subscription] = []
        self._close_reason: tuple[int, str] | None = None
        self._refusals: list[float] | None = None  # when rate limits refused its frames
        #: The server's per-connection frame limits (`chat.ws.session.frame_limits`); this
        #: connection's counts are made with the first frame counted.
        self.limits = limits
        self._frame_counts: array[float] | None = None

    # --- for dialects ---

    async def send(self, text: str) -> None:
        """Send a text frame to this client, in order after everything sent before (the
        answers of requests still running included: `launch_request`), waiting while its
        outbox is full. Frames for a client that has gone (or been evicted) are dropped
        silently."""
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
        while held.frames:
            frames, held.frames = held.frames, []
            await (self._outbox or self._open_outbox()).send(b"".join(frames))
        # No await between finding nothing kept and going live: nothing can be offered
        # to `held` in between, so nothing is lost or reordered at the seam.
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
        if self.closing:
            return False
        return (self._outbox or self._open_outbox()).offer(data)

    @property
    def queue_size(self) -> int:
        """Items that may wait for this client (held frames too) before it is evicted."""
        return self._settings.queue_size

    def _open_outbox(self) -> Outbox:
        """The outbox, made with the first frame for this client. Its writer is a task of
        the session's (`start_task`); once the session is over none starts (frames that
        cannot be written at once are then dropped)."""
        self._outbox = Outbox(self, self._ws, self._stream, self._settings)
        return self._outbox

    # --- the session's tasks ---

    def start_task(self, async_fn: _TaskFunction, *args: object) -> bool:
        """Start `async_fn(*args)` as a task of this session (the outbox's writer): in its
        nursery if that is open, else as soon as the session's task has opened it (its
        idle wait is woken for that). False once the session is over: no task starts."""
        if self._ended:
            return False
        if self._nursery is not None:
            self._start_soon(async_fn, *args)
        else:
            self._wanted = [*(self._wanted or ()), (async_fn, args)]
            self._ws.wake()
        return True

    def _start_soon(self, async_fn: _TaskFunction, *args: object) -> None:
        """Start a task in the session's nursery (open: the caller checked)."""
        assert self._nursery is not None
        self._nursery.start_soon(self._task, async_fn, *args, name=async_fn)

    async def _task(self, async_fn: _TaskFunction, *args: object) -> None:
        """One of the session's tasks. As it ends the receive loop is woken, to close
        the nursery if this was the last (`_while_busy`)."""
        try:
            await async_fn(*args)
        finally:
            self._ws.wake()

    # --- the session's life ---

    async def run(self, handler: FrameHandler) -> None:
        """Serve this client until it disconnects, is evicted, or the server shuts down.

        The session's task is busy or idle in turn. Busy, its nursery is open: the
        handler, the writer and requests run there while it goes on receiving frames
        (`_while_busy`); the first busy spell greets the client (`handler.start`). Idle,
        it waits for the next frame outside any nursery (a nursery is about 1 KiB, and
        most connections are idle most of the time); a frame, or a task someone wants
        started (`start_task`, which wakes the wait: `next_message` returns None), makes it
        busy again.

        The idle wait is here, in the session's own frame, not in a method of its own:
        an idle connection waits in this frame (inside its connection's `read`), and
        every frame between would live as long as the connection."""
        self._handler = handler
        message: str | bytes | None = None
        greet = True
        try:
            while True:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    try:
                        if greet:
                            greet = False
                            await handler.start()
                        await self._while_busy(handler, nursery, message)
                    finally:
                        # No task may start from here on: the nursery closes once its
                        # children have finished (a closing writer finishes the close
                        # handshake), and a task wanted in between waits for the next
                        # busy spell (`start_task`).
                        self._nursery = None
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
            if self._close_reason is None:
                self._close_reason = (CLOSE_INTERNAL_ERROR, "internal error")
        finally:
            self._ended = True
            self._nursery = None
            self._wanted = None
            if self._outbox is not None:
                self._outbox.end()
            for subscription in self._subscriptions:
                self._broadcaster.unsubscribe(subscription)
            # Reached on cancellation too (server shutdown): the close handshake must
            # still happen, within a bound.
            with trio.move_on_after(self._settings.close_timeout, shield=True):
                await self._close()

    async def _while_busy(
        self, handler: FrameHandler, nursery: trio.Nursery, message: str | bytes | None
    ) -> None:
        """The receive loop while the session has tasks in `nursery`: start the tasks
        wanted while it was idle, hand `message` (the frame that woke it, if one did) and
        the frames that follow to the handler, and return once no task is left, or once
        the client has gone (`_peer_left`). Where a wake cannot end the idle wait
        (`next_message` not wakeable: not Trio's epoll), the nursery stays open instead."""
        wanted, self._wanted = self._wanted, None
        for async_fn, args in wanted or ():
            self._start_soon(async_fn, *args)
        wakeable = self._ws.wakeable
        while True:
            if message is not None:
                # Starts a handler task, or waits for room in its inbox.
                await self._to_handler(handler, message)
            elif wakeable and not nursery.child_tasks:
                # Nothing runs: idle again. No await between this check and `run`
                # clearing `_nursery`, so no task can start in between.
                return
            try:
                message = await self._ws.next_message()  # None: a task ended (or is wanted)
            except ConnectionClosed:
                await self._peer_left(nursery)
                return

    async def _peer_left(self, nursery: trio.Nursery) -> None:
        """The client has gone (or answered our close frame): let the handler finish the
        frames already received, then cancel what is left, unless we are closing the
        connection ourselves."""
        self.peer_gone = True
        if self._requests is not None:
            self._requests.client_gone()  # cancels the work bound to it
        if self._inbox is not None:
            # A handler runs: it finishes the frames already received. It sets the event
            # as it ends (no await between this check and making the event, so it cannot
            # end unseen in between).
            self._handler_done = trio.Event()
            await self._handler_done.wait()
        outbox = self._outbox
        if self._close_reason is None or outbox is None or not outbox.has_writer:
            nursery.cancel_scope.cancel()
        # Else we are closing the connection (`close`, `evict`): our close frame ended
        # the receive loop, and the writer now waits for the client's answer (within the
        # close timeout). Cut short, the socket would close under frames the client is
        # still sending, and the reset would lose it our close frame and its reason.

    async def _to_handler(self, handler: FrameHandler, message: str | bytes) -> None:
        """Give `message` to the handler: start a handler task with it if none runs, else
        add it to the inbox, waiting while the inbox is full (the receive loop then reads
        no more, and TCP flow control pushes back on the client)."""
        inbox = self._inbox
        if inbox is None:
            self._inbox = [message]
            self._start_soon(self._handle_loop, handler)  # the nursery is open: busy
            return
        inbox.append(message)
        while len(inbox) > INBOX_SIZE and self._inbox is inbox:
            self._inbox_room = trio.Event()
            await self._inbox_room.wait()

    async def _handle_loop(self, handler: FrameHandler) -> None:
        """Handle the inbox's frames in order until it is empty, then end (the next frame
        starts another task). Between finding the inbox empty and marking it gone there is
        no await, so a frame is never added to an inbox that no task will handle."""
        inbox = self._inbox
        assert inbox is not None  # made with the frame that started this task
        try:
            while inbox:
                message = inbox.pop(0)
                room = self._inbox_room
                if room is not None:
                    self._inbox_room = None
                    room.set()
                if not self.closing:
                    await handler.handle(message)
        finally:
            # Also when cancelled or failing (the session is ending then): frames left
            # are dropped, and whoever waits for room or for the end is let go.
            self._inbox = None
            for event in (self._inbox_room, self._handler_done):
                if event is not None:
                    event.set()
            self._inbox_room = None
