"""A WebSocket connection in memory, for the session's classes tested alone
(tests/test_outbox.py, test_request_order.py, test_client_session.py): just what they
use of trio-websocket's connection and of `chat.ws.stream.DirectWriteStream`, over a
`trio.testing.MemoryReceiveStream` that the test reads as the client would.

And `cancelled_after`, which cancels a scenario once its tasks have taken a given number
of steps (a step: a task running from one checkpoint to the next), so that a test can
cancel it at each of its awaits in turn.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio
import trio.testing
from trio_websocket import CloseReason, ConnectionClosed

from chat.core.frames import text_frame
from chat.ws.stream import Written
from chat.ws.transport import ServerConnection

_MARK = b"\xffread up to here\xff"
TEXT = 0x1
CLOSE = 0x8


@dataclass(frozen=True)
class Frame:
    """A frame the server wrote: text (`text`) or close (`code`, `reason`)."""

    opcode: int
    payload: bytes

    @property
    def text(self) -> str:
        assert self.opcode == TEXT, self
        return self.payload.decode()

    @property
    def code(self) -> int:
        assert self.opcode == CLOSE, self
        return int.from_bytes(self.payload[:2], "big")

    @property
    def reason(self) -> str:
        assert self.opcode == CLOSE, self
        return self.payload[2:].decode()


def close_frame(code: int, reason: str | None) -> bytes:
    payload = code.to_bytes(2, "big") + (reason or "").encode()
    assert len(payload) < 126
    return struct.pack("!BB", 0x80 | CLOSE, len(payload)) + payload


def parse_frames(data: bytes) -> list[Frame]:
    """The server's (unmasked) frames in `data`; fails on a frame cut short."""
    frames, at = [], 0
    while at < len(data):
        first, length = data[at], data[at + 1] & 0x7F
        at += 2
        if length == 126:
            (length,) = struct.unpack_from("!H", data, at)
            at += 2
        elif length == 127:
            (length,) = struct.unpack_from("!Q", data, at)
            at += 8
        assert at + length <= len(data), f"a frame cut short: {data[at - 2 : at + 10]!r}"
        frames.append(Frame(first & 0x0F, data[at : at + length]))
        at += length
    return frames


class MemoryStream:
    """`DirectWriteStream`'s write side, in memory: what it writes goes to `wire`, which
    the test reads as the client. `room` is how many bytes a direct write may still put
    (None: any number), as a socket's send buffer would; asynchronous writes always get
    through, in two halves with a checkpoint between (a cancellation that is not
    shielded would cut the frame), unless `stalled` (a client that stopped reading)."""

    def __init__(self, wire: trio.testing.MemoryReceiveStream) -> None:
        self.wire = wire
        self.room: int | None = None
        self.stalled = False
        self.closed = False
        #: As `DirectWriteStream.opened`: no direct write before the client is answered.
        self.opened = True
        self._leftover = b""
        self._lock = trio.StrictFIFOLock()

    def try_write(self, data: bytes) -> Written:
        if self._leftover or self.closed or self._lock.locked() or not self.opened:
            return Written.NOT_NOW
        if self.room is None or len(data) <= self.room:
            if self.room is not None:
                self.room -= len(data)
            self.wire.put_data(data)
            return Written.ALL
        if self.room == 0:
            return Written.NOT_NOW
        self.wire.put_data(data[: self.room])
        self._leftover, self.room = data[self.room :], 0
        return Written.PARTLY

    @asynccontextmanager
    async def write_turn(self) -> AsyncIterator[None]:
        async with self._lock:
            yield

    async def send_all_locked(self, data: bytes, *, whole: bool = False) -> None:
        """Write `data` after what a direct write left; in two halves unless `whole` (a
        few bytes, like trio-websocket's close frame, go to a socket in one piece)."""
        data, self._leftover = self._leftover + data, b""
        if self.closed:
            raise trio.ClosedResourceError
        if self.stalled:
            await trio.sleep_forever()
        half = 0 if whole else len(data) // 2
        self.wire.put_data(data[:half])
        await trio.lowlevel.checkpoint()
        if self.closed:
            raise trio.BrokenResourceError  # closed under the write: the frame is cut
        self.wire.put_data(data[half:])

    async def aclose(self) -> None:
        self.closed = True
        self.wire.put_eof()
        await trio.lowlevel.checkpoint()


class MemoryWebSocket:
    """trio-websocket's connection as the session uses it: `closed`, `aclose` (sends the
    close frame through the stream, then waits for the client's answer unless
    `answers_close` is False), and `next_message` (what the test sends with `receive`;
    `ConnectionClosed` once the client closed, with `client_closes`, or answered ours;
    None after `wake`)."""

    def __init__(self, stream: MemoryStream) -> None:
        self.stream = stream
        self.closed: CloseReason | None = None
        self.answers_close = True
        self._pending: deque[str | bytes] = deque()  # sent by the client, not yet read
        self._ended = False  # the client closed (or answered our close frame)
        self._woken = False
        self._arrived = trio.Event()  # set by anything `read` waits for

    def receive(self, message: str | bytes) -> None:
        """The client sends `message`."""
        assert not self._ended
        self._pending.append(message)
        self._arrived.set()

    def client_closes(self, code: int = 1000) -> None:
        """The client closes the connection (its close frame, answered by the transport)."""
        if self.closed is None:
            self.closed = CloseReason(code, None)
        self._ended = True
        self._arrived.set()

    # The connection's own loop over the two below (`chat.ws.transport`), not a copy.
    next_message = ServerConnection.next_message

    def message_nowait(self) -> str | bytes | None:
        if self._pending:
            return self._pending.popleft()
        if self._woken:
            self._woken = False
            return None
        if self._ended:
            assert self.closed is not None
            raise ConnectionClosed(self.closed)
        raise trio.WouldBlock

    async def read(self) -> None:
        """Wait for a message, the client's close, or a wake."""
        if self._pending or self._woken or self._ended:
            await trio.lowlevel.checkpoint()
            return
        self._arrived = trio.Event()
        await self._arrived.wait()

    wakeable = True

    def wake(self) -> None:
        """`next_message` returns None, after the messages already sent."""
        self._woken = True
        self._arrived.set()

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
        if self.closed is not None:
            return
        self.closed = CloseReason(code, reason)
        async with self.stream.write_turn():
            await self.stream.send_all_locked(close_frame(code, reason), whole=True)
        if not self.answers_close:
            await trio.sleep_forever()  # the client never answers
        self._ended = True  # it answered: the receive loop ends
        self._arrived.set()


class MemoryConnection:
    """Both: `ws` over `stream`, and the client's end of the wire (`frames`)."""

    def __init__(self) -> None:
        self.wire = trio.testing.MemoryReceiveStream()
        self.stream = MemoryStream(self.wire)
        self.ws = MemoryWebSocket(self.stream)
        self._read = b""
        self._after_mark = b""

    async def frames(self) -> list[Frame]:
        """Every frame written so far (the client's view), whole frames only."""
        await trio.testing.wait_all_tasks_blocked()
        data, self._after_mark = self._after_mark, b""
        if self.stream.closed:  # the wire has its end: read up to it
            while chunk := await self.wire.receive_some():
                data += chunk
        else:
            # A mark behind what is there, so that the read returns at once even if
            # nothing was written (it returns everything buffered, the mark last).
            # Shielded: a read cut short would leave the mark on the wire. What the
            # server writes meanwhile (cancelled, a session closes) lands after the
            # mark: the next call's.
            self.wire.put_data(_MARK)
            with trio.CancelScope(shield=True):
                while _MARK not in data:
                    data += await self.wire.receive_some()
            data, _, self._after_mark = data.partition(_MARK)
        self._read += data
        return parse_frames(self._read)

    async def texts(self) -> list[str]:
        return [frame.text for frame in await self.frames() if frame.opcode == TEXT]


def frame(text: str) -> bytes:
    return text_frame(text)


class _StepCounter(trio.abc.Instrument):
    """Cancels `scope` after `steps` steps of `root` and its descendants."""

    def __init__(self, root: trio.lowlevel.Task, scope: trio.CancelScope, steps: int) -> None:
        self.root, self.scope, self.left = root, scope, steps

    def _counts(self, task: trio.lowlevel.Task) -> bool:
        while True:
            if task is self.root:
                return True
            nursery = task.parent_nursery
            if nursery is None:
                return False
            task = nursery.parent_task

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if self.left > 0 and self._counts(task):
            self.left -= 1
            if self.left == 0:
                self.scope.cancel()


async def cancelled_after(steps: int, scenario: Callable[[], Awaitable[None]]) -> bool:
    """Run `scenario`, cancelled once this task and its children have taken `steps`
    steps; True if it finished first. No task of it is left either way."""
    nurseries_before = list(trio.lowlevel.current_task().child_nurseries)
    with trio.CancelScope() as scope:
        counter = _StepCounter(trio.lowlevel.current_task(), scope, steps)
        trio.lowlevel.add_instrument(counter)
        try:
            await scenario()
        finally:
            trio.lowlevel.remove_instrument(counter)
    # No task left behind: the scenario's nurseries are all closed.
    assert trio.lowlevel.current_task().child_nurseries == nurseries_before
    return not scope.cancelled_caught and counter.left > 0
