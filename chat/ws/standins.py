"""Smaller stand-ins for what trio-websocket's and wsproto's connections hold, for a
server connection with no reader task (`chat.ws.transport.ServerConnection`).

Idle connections are counted in the thousands, and these parts were a third of each one's
memory: trio-websocket's channels, events and lock, which assume a reader task of their
own (or are never used by a server), and wsproto's handshake machinery and event queue,
kept for the whole life of a connection that needs them only to open. Each stand-in does
what trio-websocket or wsproto does with the object it replaces, no more
(tests/test_websocket_seam.py checks every use, and fails by name when the installed
libraries differ); chat/ws/transport.py's docstring lists the private parts reached.
"""

from __future__ import annotations

import sys
import types
from collections import deque
from collections.abc import Callable, Iterator
from typing import Protocol

import trio
from trio_websocket import WebSocketConnection
from wsproto.events import Event

#: trio-websocket's table of pings awaiting their pong: a server never pings, so every
#: connection shares one that stays empty (a pong nobody asked for is ignored).
NO_PINGS: types.MappingProxyType[bytes, trio.Event] = types.MappingProxyType({})


class Flag:
    """A `trio.Event` nobody waits for: trio-websocket's `_open_handshake` and
    `_for_testing_peer_closed_connection` on a server connection, which it only sets."""

    __slots__ = ("_set",)

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


class Reader(Protocol):
    """A connection whose reader runs in the task that waits
    (`chat.ws.transport.ServerConnection`), as `CloseHandshake` reads it."""

    async def read_until(self, done: Callable[[], bool]) -> None:
        """Read until `done()` is true or the reader has stopped."""


class CloseHandshake(Flag):
    """trio-websocket's `_close_handshake` event, for a connection with no reader task:
    whoever waits for it reads the connection until the peer's answer sets it."""

    __slots__ = ("_connection",)

    def __init__(self, connection: Reader) -> None:
        super().__init__()
        self._connection = connection

    async def wait(self) -> None:
        await self._connection.read_until(self.is_set)


class _NoLock:
    """trio-websocket's `_stream_lock`, redundant here: every write to the stream takes
    `DirectWriteStream.write_turn` (a FIFO lock, like the one this replaces)."""

    __slots__ = ()

    async def __aenter__(self) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()

    async def __aexit__(self, *exc_info: object) -> None:
        pass


NO_LOCK = _NoLock()


class Messages:
    """trio-websocket's message channel, both ends in one object, for a connection whose
    reader runs in the task that asks for the next message: the reader only reads the
    socket when no message is waiting, so it holds at most one read's worth and needs no
    bound (and no task ever waits on it)."""

    __slots__ = ("_discarded", "_ended", "_items")

    def __init__(self) -> None:
        self._items: deque[str | bytes] | None = None
        self._ended = False  # the reader closed its end: no more messages
        self._discarded = False  # our side closed: messages are dropped

    # The send end (trio-websocket's `_send_channel`).
    async def send(self, message: str | bytes) -> None:
        if self._discarded or self._ended:
            raise trio.ClosedResourceError
        if self._items is None:
            self._items = deque()
        self._items.append(message)

    def end(self) -> None:
        self._ended = True

    # The receive end (trio-websocket's `_recv_channel`).
    def receive_nowait(self) -> str | bytes:
        if self._discarded:
            raise trio.ClosedResourceError
        if self._items:
            message = self._items.popleft()
            if not self._items:
                self._items = None
            return message
        if self._ended:
            raise trio.EndOfChannel
        raise trio.WouldBlock

    def discard(self) -> None:
        self._discarded = True
        self._items = None


class SendEnd:
    __slots__ = ("_messages",)

    def __init__(self, messages: Messages) -> None:
        self._messages = messages

    async def send(self, message: str | bytes) -> None:
        await self._messages.send(message)

    async def aclose(self) -> None:
        self._messages.end()


class ReceiveEnd(SendEnd):
    __slots__ = ()

    async def aclose(self) -> None:
        self._messages.discard()


class _FinishedHandshake:
    """Stands in for wsproto's HTTP/1.1 handshake once the connection is open."""

    def events(self) -> Iterator[object]:
        return iter(())


_FINISHED_HANDSHAKE = _FinishedHandshake()


class _FewEvents(list[Event]):
    """wsproto's queue of connection events (a `deque`, 760 bytes even when empty, which
    it always is here: it only ever holds the close wsproto makes up at end of file, and
    trio-websocket never reports one), as an empty list. wsproto appends to it, tests it
    and pops from its left (tests/test_websocket_seam.py checks that it does no more)."""

    __slots__ = ()

    def popleft(self) -> Event:
        return self.pop(0)


def forget_handshake(connection: WebSocketConnection) -> None:
    """Let go of the opening handshake's machinery once the connection is open.

    wsproto keeps its handshake object (an h11 connection with its buffers and state
    machine) for the whole life of a connection, though once the connection is open it
    only asks it for events, of which there are none. On a server with thousands of idle
    connections that is a few KiB each for nothing. (wsproto's `WSConnection.events`
    is the only thing that still reads it; the seam is covered by every WebSocket test.)
    Its open connection's event queue is made smaller too (`_FewEvents`).

    trio-websocket also keeps the request target as the connection's `path`, query
    string and all: on /ws that is the token, a few hundred bytes on every connection
    for as long as it is open (and a secret kept for nothing). Nothing reads it after
    the handshake (chat takes what it needs from the request); it keeps the path only,
    one string shared by every connection to it (interned: three endpoints).
    """
    if connection._path is not None:
        connection._path = sys.intern(connection._path.partition("?")[0])
    ws = connection._wsproto
    if ws.connection is not None:
        # An `H11Handshake` to wsproto's type hints, of which only `events` is left in use.
        ws.handshake = _FINISHED_HANDSHAKE  # type: ignore[assignment]
        if not ws.connection._events:
            # A `deque` to wsproto's type hints; a list with `popleft` does what it needs.
            ws.connection._events = _FewEvents()  # type: ignore[assignment]
