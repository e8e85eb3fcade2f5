"""The stream under a WebSocket connection, with one more way to write: right now.

Fan-out is the hot path: one message, a hundred or a thousand connections. Waking a
writer task per connection per message costs far more than the write itself, so the
broadcaster writes a connection's frames itself, synchronously, when that cannot
disturb anything (`try_write`); otherwise they go to the connection's writer task as
usual. Both paths, and trio-websocket's own writes (pongs, the close handshake), pass
through this one object, which keeps them from interleaving:

- every asynchronous write (`send_all`, used by trio-websocket and by our writer task)
  holds the write lock (`write_turn`), and first writes out whatever `try_write` could
  not finish;
- `try_write` only writes when no asynchronous write is in progress (the lock is free)
  and nothing is left over from an earlier `try_write`. A frame is therefore either
  written whole, or its rest is kept here and goes out before anything else;
- `try_write` writes nothing before the client has been answered (`opened`): a
  connection is subscribed before its 101 (`chat.ws.opening`), and what it is offered
  meanwhile waits in its outbox's queue, for the writer, behind the answer.

The write lock exists only while a task holds it or waits for it: most connections are
idle, and a Trio lock (with its parking lot and that lot's table) is about 300 bytes
each one would keep for nothing.

`try_write` is a plain non-blocking ``send`` on the socket: it never waits, and Trio
does not need to know about it (Trio only tracks tasks waiting for readiness).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import Enum

import trio

from chat.net.replay_stream import ReplayStream, read_now

#: What `read_now` reads at most when not told: `trio.SocketStream`'s default.
RECEIVE_SIZE = 65536


class Written(Enum):
    ALL = "all"  # the bytes are on their way
    PARTLY = "partly"  # the rest is kept here; someone must call `send_all` to flush it
    NOT_NOW = "not now"  # nothing was written: queue the bytes behind the current write


class DirectWriteStream(trio.abc.Stream):
    def __init__(self, inner: ReplayStream, *, opened: bool = True) -> None:
        self.inner = inner
        self._lock: trio.StrictFIFOLock | None = None  # see `write_turn`
        self._fd = inner.socket.fileno()
        self._leftover = b""
        self._broken = False
        #: False until the client has been answered (the 101, or ``authenticated``:
        #: `chat.ws.opening`): until then `try_write` writes nothing, and the frames
        #: offered wait in the outbox's queue for a writer, which starts once the
        #: session runs.
        self.opened = opened

    @property
    def socket(self) -> trio.socket.SocketType:
        return self.inner.socket

    def try_write(self, data: bytes) -> Written:
        """Write `data` now, without waiting, if the connection is open and nothing else
        is being written."""
        if self._leftover or self._broken or self.writing or not self.opened:
            return Written.NOT_NOW
        try:
            sent = os.write(self._fd, data)
        except BlockingIOError:
            return Written.NOT_NOW
        except OSError:
            # The peer is gone. The reader will see it too; until then, accept and drop.
            self._broken = True
            return Written.ALL
        if sent == len(data):
            return Written.ALL
        self._leftover = data[sent:]
        return Written.PARTLY

    def read_now(self, max_bytes: int | None = None) -> bytes | None:
        """Read what the socket holds, without waiting: for a reader Trio has just told
        the socket is readable (`chat.ws.socket_wait.readable`), so that the read is not
        a second task step (`receive_some` yields once more after every read that
        succeeds; the wait was this round's checkpoint). None if nothing was there, or
        the stream is closing: `receive_some` then says which."""
        if self._broken or self.inner.replaying:
            return None
        return read_now(self._fd, max_bytes or RECEIVE_SIZE)

    @property
    def writing(self) -> bool:
        """True while a task holds the write lock (an asynchronous write is under way)."""
        return self._lock is not None and self._lock.locked()

    @asynccontextmanager
    async def write_turn(self) -> AsyncIterator[None]:
        """Hold the write lock for the block: first come, first served (a FIFO lock),
        and `try_write` stays out meanwhile."""
        lock = self._lock
        if lock is None:
            lock = self._lock = trio.StrictFIFOLock()
        try:
            async with lock:
                yield
        finally:
            # Nobody holds it and nobody waits (releasing hands the lock to the first
            # waiter, so a waiter would be holding it now): let it go. The next writer
            # makes a new one; no task can be between reading `_lock` and queueing on
            # it, since acquiring does not yield before it queues.
            if self._lock is lock and not lock.locked():
                self._lock = None

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        async with self.write_turn():
            await self.send_all_locked(data)

    async def send_all_locked(self, data: bytes | bytearray | memoryview) -> None:
        """`send_all` for a caller that already holds the write lock (`write_turn`)."""
        if self._leftover:
            leftover, self._leftover = self._leftover, b""
            await self.inner.send_all(leftover + bytes(data))
        elif data:
            await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    @property
    def buffered(self) -> bool:
        """True while `receive_some` has bytes to return without reading the socket."""
        return self.inner.replaying

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        # Past the replayed head, read the socket stream directly: one coroutine frame
        # less on every idle connection's reader.
        if self.inner.replaying:
            return await self.inner.receive_some(max_bytes)
        return await self.inner.transport.receive_some(max_bytes)

    async def aclose(self) -> None:
        self._broken = True
        await self.inner.aclose()
