"""One client's outbox: frames written now when they can be, queued for a writer task
when they cannot, and how a connection the server closes gets its close frame.

The fast path: when nothing is queued for the client and nothing is being written to
it, a frame is written to the socket at once (`DirectWriteStream.try_write`), from the
caller's task, the broadcaster's for fan-out. A client that keeps up gets every frame
this way and never has a writer task. `unwritten` counts frames queued and not written
yet; the fast path is only taken when it is zero, so a frame never overtakes one queued
before it.

The queue (a bounded Trio memory channel) and the writer task are made the first time
a frame has to wait (`_queue`). The outbox holds the send end, the writer owns the
receive end. The handler waits for room (`send`); the broadcaster never waits
(`offer`): a full queue means a slow consumer, which its session evicts (1008). The
writer is a task of the session's (`OutboxOwner.start_task`), and it does not stay:
once its queue has been empty for `WRITER_REST_S` it drops the queue and ends, so a
client that was slow for a moment does not keep a task, a channel and its session's
nursery for the rest of its connection. The next frame that has to wait makes both
again.

Closing, from the outbox's side:

- `close_after_queued` / `close_nowait`: a close marker goes in behind what is queued;
  the writer writes up to it, stops, and sends the close frame;
- `evict`: the writer's receive end is closed, dropping the backlog; the writer finishes
  the frame it is writing (writes are shielded: half a frame would corrupt the stream)
  and sends the close frame;
- a write the peer does not take within the write timeout, or a close handshake it does
  not answer within the close timeout, drops the TCP connection (`_abort`).

The close frame's code and reason are the session's (`OutboxOwner.close_reason`): the
session keeps how the connection ends.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

import trio
from trio_websocket import CloseReason

from chat.core.frames import CLOSE_POLICY_VIOLATION
from chat.ws.stream import Written

log = logging.getLogger(__name__)


#: How long the writer waits for more frames once its queue is empty before it ends:
#: long enough that a client the fast path keeps missing (a busy room, a full socket)
#: keeps one writer, short enough that one that caught up soon holds nothing.
WRITER_REST_S = 2.0


@dataclass(frozen=True, slots=True)
class OutboxSettings:
    """How much may wait for one client and for how long (from `chat.core.config.Config`).
    One object per server, shared by its sessions: a connection pays one reference."""

    #: Items that may wait in an outbox; past this the client is a slow consumer.
    queue_size: int
    #: The longest one write may take before the connection is dropped.
    write_timeout: float
    #: The longest the close handshake may take.
    close_timeout: float


class WriteStream(Protocol):
    """The stream the outbox writes to (`chat.ws.stream.DirectWriteStream`)."""

    def try_write(self, data: bytes) -> Written: ...

    def write_turn(self) -> AbstractAsyncContextManager[None]: ...

    async def send_all_locked(self, data: bytes) -> None: ...

    async def aclose(self) -> None: ...


class Connection(Protocol):
    """The WebSocket connection over that stream (trio-websocket's), for its close frame."""

    @property
    def closed(self) -> CloseReason | None: ...

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None: ...


class OutboxOwner(Protocol):
    """What an outbox asks of its session (`chat.ws.session.client_session.ClientSession`)."""

    @property
    def id(self) -> int: ...

    @property
    def close_reason(self) -> tuple[int, str] | None:
        """The code and reason for the close frame, once the server closes the connection."""

    def evict_slow_consumer(self) -> None:
        """Called when `offer` finds the queue full; the session then calls `evict`."""

    def start_task(
        self,
        async_fn: Callable[[trio.MemoryReceiveChannel[_Item]], Awaitable[None]],
        queue: trio.MemoryReceiveChannel[_Item],
    ) -> bool:
        """Start the writer, `async_fn(queue)`, as a task of the session's (at once, or
        as soon as the session's task has opened its nursery); False once the session
        is ending: no task starts any more."""


class _CloseMarker:
    """Queued by `close_after_queued`: the writer closes the connection when it gets here."""


_CLOSE = _CloseMarker()

_Item = bytes | _CloseMarker


class Outbox:
    """Frames on their way to one client: written now, or queued for the writer task."""

    __slots__ = (
        "_owner",
        "_receive",
        "_send",
        "_settings",
        "_stream",
        "_ws",
        "evicted",
        "stream_broken",
        "unwritten",
    )

    def __init__(
        self,
        owner: OutboxOwner,
        ws: Connection,
        stream: WriteStream,
        settings: OutboxSettings,
    ) -> None:
        self._owner = owner
        self._ws = ws
        self._stream = stream
        self._settings = settings
        # Made with the writer, dropped when it ends (the queue exists exactly while a
        # writer runs or is about to).
        self._send: trio.MemorySendChannel[_Item] | None = None
        self._receive: trio.MemoryReceiveChannel[_Item] | None = None  # the writer's
        #: Items queued and not written yet; the fast path waits until it is zero.
        self.unwritten = 0
        #: True once `evict` ran: nothing more is queued or written, but the close frame.
        self.evicted = False
        #: True once a write failed or was cut: no close frame can follow.
        self.stream_broken = False

    @property
    def has_writer(self) -> bool:
        """True while the writer task runs (or has been asked for and will)."""
        return self._send is not None

    # --- putting frames in ---

    def offer(self, data: bytes) -> bool:
        """Take encoded frames without waiting (the broadcaster's fan-out): write them
        now if possible, else queue them. A full queue evicts the client. False means:
        stop delivering here."""
        if self.evicted:
            return False
        # `write_now`, inline: this is fan-out's hot path, one call less per frame.
        if not self.unwritten and self._ws.closed is None:
            written = self._stream.try_write(data)
            if written is Written.ALL:
                return True
            if written is Written.PARTLY:
                self._flush_soon()
                return True
        queue = self._queue()
        if queue is None:
            return False
        try:
            queue.send_nowait(data)
        except trio.WouldBlock:
            self._owner.evict_slow_consumer()
            return False
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        self.unwritten += 1
        return True

    async def send(self, data: bytes) -> None:
        """Write `data` now, or queue it, waiting while the queue is full. Dropped if the
        client has gone or was evicted."""
        if self.write_now(data):
            return
        await self._enqueue(data)

    def send_nowait(self, data: bytes) -> None:
        """`send` without waiting: dropped if the queue is full (the client is about to be
        evicted as a slow consumer anyway)."""
        if self.write_now(data):
            return
        queue = self._queue()
        if queue is None:
            return
        try:
            queue.send_nowait(data)
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            return
        self.unwritten += 1

    def write_now(self, data: bytes) -> bool:
        """The fast path: True if `data` needs no queueing (written, or kept by the stream
        with the writer woken to finish it)."""
        if self.unwritten or self._ws.closed is not None:
            return False
        written = self._stream.try_write(data)
        if written is Written.NOT_NOW:
            return False
        if written is Written.PARTLY:
            self._flush_soon()
        return True

    def _flush_soon(self) -> None:
        """After a partial direct write: the stream keeps the rest, and an empty item
        wakes the writer to flush it."""
        queue = self._queue()
        if queue is not None:
            queue.send_nowait(b"")  # never full: nothing was queued
            self.unwritten += 1

    # --- closing ---

    async def close_after_queued(self) -> None:
        """Queue the close marker behind what is queued (waiting for room): the writer
        writes up to it, then sends the close frame."""
        await self._enqueue(_CLOSE)

    def close_nowait(self, farewell: bytes | None) -> bool:
        """Queue `farewell` (an error frame saying why, if any) and the close marker,
        without waiting. False if the queue has no room for them: the caller evicts."""
        queue = self._queue()
        if queue is None:
            return True  # the session is ending: nothing left to close
        items: list[_Item] = [_CLOSE] if farewell is None else [farewell, _CLOSE]
        try:
            for item in items:
                queue.send_nowait(item)
                self.unwritten += 1
        except trio.WouldBlock:
            return False
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the writer is gone: the session is ending already
        return True

    def evict(self) -> None:
        """Drop whatever is queued; the writer sends the close frame.

        Synchronous, so the broadcaster can call it mid-fan-out. Closing the writer's
        receive end wakes the writer (or stops it after its current frame). An outbox
        with no writer yet (a held subscription that overflowed before anything was
        queued) starts one first, for that close frame.
        """
        if self._receive is None:
            self._queue()  # before `evicted` is set, which stops a writer starting
        self.evicted = True
        if self._receive is not None:
            self._receive.close()

    def end(self) -> None:
        """The session is ending: frames queued from now on are dropped (a running
        writer still finishes what was queued). No writer starts after this either:
        the session refuses to start one (`OutboxOwner.start_task`)."""
        if self._send is not None:
            self._send.close()

    # --- the queue and its writer ---

    async def _enqueue(self, item: _Item) -> None:
        queue = self._queue()
        if queue is None:
            return  # the session is over
        # Counted before the await: while we wait for room, the fast path must already
        # know that something is queued ahead of anything sent after us. Cancelled while
        # waiting, the item was not queued: the count goes back.
        self.unwritten += 1
        try:
            await queue.send(item)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.unwritten -= 1
        except trio.Cancelled:
            self.unwritten -= 1
            raise

    def _queue(self) -> trio.MemorySendChannel[_Item] | None:
        """The queue, with the writer task started when there is none (from any task:
        starting it does not wait). None once the session is ending."""
        if self._send is None:
            if self.evicted:
                return None
            send, receive = trio.open_memory_channel[_Item](self._settings.queue_size)
            if not self._owner.start_task(self._write_loop, receive):
                return None
            self._send, self._receive = send, receive
        return self._send

    async def _write_loop(self, queue: trio.MemoryReceiveChannel[_Item]) -> None:
        """The writer task: writes what is queued until the close marker, an eviction or
        a broken stream; then, unless the stream broke, sends the close frame. Runs until
        then, until its queue has been empty for `WRITER_REST_S` (it rests: `_rest`), or
        until the session's nursery is cancelled."""
        try:
            async with queue:
                while True:
                    try:
                        first = queue.receive_nowait()
                    except trio.WouldBlock:
                        with trio.move_on_after(WRITER_REST_S) as waiting:
                            first = await queue.receive()
                        if waiting.cancelled_caught:  # nothing came (nothing was taken)
                            if self._rest(queue):
                                return
                            continue
                    if not await self._write_batch(queue, first):
                        break
        except trio.ClosedResourceError:
            pass  # `evict` closed our receive end, dropping the backlog
        except trio.EndOfChannel:
            pass  # `end`: the session is closing the connection and nothing more comes
        if self.stream_broken:
            return  # no close frame can follow (the peer is gone, or a write was cut)
        # Evicted, or asked to close: send the close frame ourselves. The session's
        # receive loop ends when the peer answers it.
        code, reason = self._owner.close_reason or (CLOSE_POLICY_VIOLATION, "closed")
        with trio.move_on_after(self._settings.close_timeout) as closing:
            await self._ws.aclose(code, reason)
        if closing.cancelled_caught:
            await self._abort("close handshake timed out")

    def _rest(self, queue: trio.MemoryReceiveChannel[_Item]) -> bool:
        """Drop the queue if nothing is in it or on its way (True: the writer ends), so
        that the next frame to wait makes a new one, and a new writer. No await between
        the check and the drop: a frame offered from here on finds no queue."""
        waiting = queue.statistics()
        if self.evicted or waiting.current_buffer_used or waiting.tasks_waiting_send:
            return False
        assert self.unwritten == 0, self.unwritten
        self._send = self._receive = None
        return True

    async def _write_batch(self, queue: trio.MemoryReceiveChannel[_Item], first: _Item) -> bool:
        """Write `first` and everything queued behind it, in one write. False when the
        writer should stop (the close marker, a broken stream)."""
        # The lock first: from here on the fast path stays out, so nothing can slip in
        # between the items we take now and those queued after them.
        async with self._stream.write_turn():
            items = [first]
            while True:
                try:
                    items.append(queue.receive_nowait())
                except trio.WouldBlock:
                    break
            frames: list[bytes] = []
            for item in items:
                if isinstance(item, _CloseMarker):
                    break  # what was queued before it is written, then we stop
                frames.append(item)
            # Taken off the queue: they count as written however the write ends (the
            # items after a marker are dropped; a cut write breaks the stream).
            self.unwritten -= len(items)
            if frames and self._ws.closed is None:  # nothing may follow a close frame
                await self._write_locked(b"".join(frames))
        return len(frames) == len(items) and not self.stream_broken

    async def _write_locked(self, data: bytes) -> None:
        # Shielded: cancellation must not cut a frame in half. Bounded: a peer that
        # stops reading cannot hold the writer (or shutdown) forever.
        with trio.move_on_after(self._settings.write_timeout, shield=True) as write:
            try:
                await self._stream.send_all_locked(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self.stream_broken = True  # the peer is gone; the receive loop sees it too
                return
        if write.cancelled_caught:
            await self._abort(f"write timed out after {self._settings.write_timeout} s")

    async def _abort(self, why: str) -> None:
        """Drop the TCP connection without a close frame (the stream may be mid-frame)."""
        log.info("client %d dropped: %s", self._owner.id, why)
        self.stream_broken = True
        # Closing the stream makes the receive loop's next read fail, which ends it.
        # Forcefully (`trio.aclose_forcefully`): nothing is flushed.
        with trio.CancelScope() as scope:
            scope.cancel()
            await self._stream.aclose()
