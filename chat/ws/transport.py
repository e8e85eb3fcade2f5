"""Accepting a WebSocket on a stream, read by the connection's own task.

trio-websocket runs a reader task per connection, feeding complete messages into a
channel that `get_message` reads; it is also what notices the peer's answer to our close
frame. Idle connections are counted in the thousands, and that second task (its frames,
nursery and cancel scope) was a quarter of each one's memory. So `ServerConnection` has
none: the task that needs the next event (the handshake, the session's receive loop,
`aclose` waiting for the peer's close frame) runs one round of the reader itself
(`read`), with trio-websocket's own event handlers, shielded and bounded by the close
timeout so that a shutdown never cuts a frame one of them is writing. This is
`trio_websocket.wrap_server_stream` written out without its reader task.

The reader keeps the rules of upstream's (`WebSocketConnection._reader_task`): each event
goes to the handler upstream's table names for its type (`_HANDLERS`); an event of a type
it does not know is logged and ignored; a handler's `ConnectionClosed` ends the reader,
and so does the socket (it broke or closed, end of file, a refused handshake), after
which no event is handled. It differs on purpose in four places. A round reads, then
handles what it read (upstream's loop does the other way round). A `KeyError` raised in a
handler is a bug, not an unknown event. A ping or a message that arrives after our close
frame is dropped: wsproto refuses to send a pong then, or a second close frame (the 1009
for a message over the size limit), and upstream would raise its LocalProtocolError
(https://github.com/python-trio/trio-websocket/issues/184). And a client that breaks the
framing rules (invalid UTF-8, a reserved opcode or RSV bit, an unmasked frame, a bad
close code, ...) gets a close frame with RFC 6455's code for it (1002 or 1007) before the
TCP connection closes (7.1.7): wsproto reports each such error as a `CloseConnection`
event with that code while its connection stays OPEN (a close frame that really arrived
moves it to REMOTE_CLOSING first), and trio-websocket, which answers a close event only
in REMOTE_CLOSING, would close the socket without a word (`_fail`).

Private parts of trio-websocket 0.12's `WebSocketConnection` used here:
- rewritten, never called: `_reader_task` (as `read`, `_feed`, `_handle_events`),
  `_get_request` (as `read_request`), `get_message`;
- overridden: `_handle_request_event`, `_handle_ping_event`, `_handle_message_event`,
  `_handle_close_connection_event`, and `_accept` and `_reject` (with `_send` written
  out as `_send_bytes`) for a request parsed from the front door's head
  (`chat.ws.upgrade`: the answer is written there, and wsproto's open `Connection` is
  put in place as its `WSConnection.send` would);
- called: `_send`, `_abort_web_socket`, `_close_stream`, the other `_handle_*_event`
  methods (through `_HANDLERS`), and `WebSocketRequest(connection, event)`;
- read or written: `_stream`, `_wsproto`, `_reader_running`, `_receive_buffer_size`,
  `_message_size` and `_max_message_size` (a message that fits is handled unshielded:
  upstream's handler writes only for one that does not), `_close_reason`,
  `_subprotocol`, `_path` (cut to the path alone, `forget_handshake`);
- replaced by smaller stand-ins (`chat.ws.standins`): `_send_channel`, `_recv_channel`,
  `_open_handshake`, `_close_handshake`, `_for_testing_peer_closed_connection`,
  `_connection_proposal`, `_stream_lock`, `_pings`.
Our own attributes (`_close_timeout`, `_messages`, `_request`, `_reading`, `_read_done`,
`_woken`, `_own_handshake`) must not be upstream's. Of wsproto (1.2, 1.3): how it
reports a protocol error (above), and `WSConnection.handshake`, `WSConnection.connection`
and `Connection._events` (`chat.ws.standins.forget_handshake`). pyproject.toml pins both
ranges.
tests/test_websocket_seam.py fails by name when the installed libraries differ in any of
these, and tests/test_websocket_reader.py runs upstream's reader and ours on the same
scripted connections and compares what they did; test_front_door, test_shutdown,
test_ws_protocol_errors and test_idle_connections cover the seam with real clients.

Resource handling: the caller of `read_upgrade_request` owns the stream and closes it
(`WebSocketServer.handle`, once the session is over).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from typing import Protocol

import trio
from trio_websocket import CloseReason, ConnectionClosed, WebSocketConnection, WebSocketRequest
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection, ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import RemoteProtocolError

from chat.net.raw_response import json_response
from chat.ws import socket_wait
from chat.ws.socket_wait import readable
from chat.ws.standins import NO_LOCK, NO_PINGS, CloseHandshake, Flag, Messages, ReceiveEnd, SendEnd
from chat.ws.stream import DirectWriteStream
from chat.ws.upgrade import parse_upgrade, refusal, switching_protocols

log = logging.getLogger(__name__)

#: The client must complete the upgrade handshake within this time.
HANDSHAKE_TIMEOUT_S = 10.0

#: RFC 6455's "invalid frame payload data": wsproto's reason for it is a UnicodeDecodeError's
#: text, so we send a shorter one.
_INVALID_PAYLOAD = 1007


#: `ServerConnection._reading` while its reader waits for the socket in `readable`.
_WAITING = object()


#: What trio-websocket's reader does with each wsproto event: `_reader_task`'s table, by
#: method name so that our overrides take part (tests/test_websocket_seam.py compares the
#: two).
_HANDLERS: dict[type[Event], str] = {
    AcceptConnection: "_handle_accept_connection_event",
    BytesMessage: "_handle_message_event",
    CloseConnection: "_handle_close_connection_event",
    Ping: "_handle_ping_event",
    Pong: "_handle_pong_event",
    RejectConnection: "_handle_reject_connection_event",
    RejectData: "_handle_reject_data_event",
    Request: "_handle_request_event",
    TextMessage: "_handle_message_event",
}

#: The events `_handle_events` hands on without the shield when they fit the size limit.
_MESSAGE_EVENTS = (TextMessage, BytesMessage)


class PingPolicy(Protocol):
    """Decides whether a ping is answered
    (`chat.ws.session.client_session.ClientSession.ping_allowed`)."""

    def ping_allowed(self) -> bool: ...


class ServerConnection(WebSocketConnection):
    """trio-websocket's server connection, read by the task that wants its next event,
    and failing a connection the RFC's way.

    No reader task: `read_request` (the handshake), `next_message` (the session's receive
    loop) and `aclose` (waiting for the peer's close frame) each run one round of
    trio-websocket's reader at a time (`read`), in the caller's task. An idle connection
    then costs one task, not two. Only one task reads at once; another that needs the
    next event waits for that read to finish.

    On a protocol error in the client's frames it sends a close frame with the code wsproto
    chose, then lets trio-websocket close the socket as it would after a close handshake,
    without waiting for the client's answer (the client has shown it does not speak the
    protocol). Pings and messages after our close frame are dropped. Everything else is
    trio-websocket's.
    """

    # Slots, not the instance dictionary: that holds 29 attributes, and past 30 CPython
    # stops sharing its keys with the other connections' (296 bytes become 1,584).
    __slots__ = ("_own_handshake", "_woken", "ping_policy")

    def __init__(
        self, stream: trio.abc.Stream, *, max_message_size: int, close_timeout: float
    ) -> None:
        super().__init__(
            stream, WSConnection(ConnectionType.SERVER), max_message_size=max_message_size
        )
        self._close_timeout = close_timeout
        # Smaller stand-ins for the parts of trio-websocket's connection that assume a
        # reader task (or that a server never uses): idle connections are counted in
        # thousands, and these were a third of each one's memory. Each has what
        # trio-websocket does with the object it replaces (tests/test_websocket_seam.py
        # checks every use) but not that object's type, which trio-websocket declares:
        # that is what each `type: ignore[assignment]` below is for.
        messages = Messages()
        self._send_channel = SendEnd(messages)  # type: ignore[assignment]
        self._recv_channel = ReceiveEnd(messages)  # type: ignore[assignment]
        self._messages = messages
        self._open_handshake = Flag()  # type: ignore[assignment]
        self._for_testing_peer_closed_connection = Flag()  # type: ignore[assignment]
        self._close_handshake = CloseHandshake(self)  # type: ignore[assignment]
        self._connection_proposal = None  # `read_request` replaces `_get_request`
        self._stream_lock = NO_LOCK  # type: ignore[assignment]
        self._pings = NO_PINGS  # type: ignore[assignment]  # the server never pings
        self._request: WebSocketRequest | None = None
        #: Asked before a ping is answered (the session, once there is one).
        self.ping_policy: PingPolicy | None = None
        #: Set while a task reads (`_WAITING` while it waits for the socket in
        #: `readable`); the event is created only when a second task has to wait for it.
        self._reading: bool | object = False
        self._read_done: trio.Event | None = None
        #: Set by `wake`: `next_message` returns None instead of reading.
        self._woken = False
        #: True when the request was parsed from the front door's head (`chat.ws.upgrade`):
        #: then the answer is ours to write, h11 having never seen the request.
        self._own_handshake = False

    async def read_request(self) -> WebSocketRequest | None:
        """The client's upgrade request, or None if the connection ended without one."""
        await self.read_until(lambda: self._request is not None)
        request, self._request = self._request, None
        return request

    async def get_message(self) -> str | bytes:
        """The next message (trio-websocket's `get_message`, reading as needed)."""
        while (message := await self.next_message()) is None:
            pass
        return message

    async def next_message(self) -> str | bytes | None:
        """The next message, reading as needed, or None once `wake` was called (since
        the last None). Raises `ConnectionClosed` when the connection has ended."""
        while True:
            try:
                return self.message_nowait()
            except trio.WouldBlock:
                await self.read()

    def message_nowait(self) -> str | bytes | None:
        """`next_message` without reading: raises `trio.WouldBlock` when it would read
        (then `read` and ask again). For a caller that waits in its own frame."""
        try:
            return self._messages.receive_nowait()
        except trio.WouldBlock:
            pass
        except (trio.ClosedResourceError, trio.EndOfChannel):
            raise ConnectionClosed(self._close_reason) from None
        if self._woken:
            self._woken = False
            return None
        raise trio.WouldBlock

    @property
    def wakeable(self) -> bool:
        """Whether `wake` ends a wait for the socket at once (Trio's epoll I/O manager,
        and the reads wait in `readable`); elsewhere it only takes effect when the wait
        ends for another reason."""
        return isinstance(self._stream, DirectWriteStream) and socket_wait.can_wake()

    def wake(self) -> None:
        """Make `next_message` return None: at once if its task waits for the socket, else
        the next time it would read. For a session that wants its task back (to open its
        nursery and start a task in it, or to close that nursery:
        `chat.ws.session.client_session`)."""
        self._woken = True
        if self._reading is _WAITING:
            assert isinstance(self._stream, DirectWriteStream)  # only it waits there
            socket_wait.wake(self._stream.socket)

    async def read_until(self, done: Callable[[], bool]) -> None:
        """Read until `done()` is true or the reader has stopped."""
        while not done() and self._reader_running:
            await self.read()

    async def _handle_request_event(self, event: Request) -> None:
        self._request = WebSocketRequest(self, event)

    async def _accept(
        self, request: Request, subprotocol: str | None, extra_headers: list[tuple[bytes, bytes]]
    ) -> None:
        # Upstream's `_accept` with the 101 written by `chat.ws.upgrade`: wsproto's open
        # connection is put in place before the write, as its own `send` does.
        if not self._own_handshake:
            await super()._accept(request, subprotocol, extra_headers)
            return
        self._subprotocol = subprotocol
        self._path = request.target
        self._wsproto.connection = Connection(ConnectionType.SERVER)
        await self._send_bytes(switching_protocols(request, subprotocol, extra_headers))
        self._open_handshake.set()

    async def _reject(
        self, status_code: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> None:
        # Upstream's `_reject`, the answer written by `chat.ws.upgrade`.
        if not self._own_handshake:
            await super()._reject(status_code, headers, body)
            return
        await self._send_bytes(refusal(status_code, headers, body))
        self._close_reason = CloseReason(1006, "Rejected WebSocket handshake")
        self._close_handshake.set()

    async def _send_bytes(self, data: bytes) -> None:
        """Upstream's `_send`, for bytes made here rather than by wsproto."""
        async with self._stream_lock:
            try:
                await self._stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                await self._abort_web_socket()
                assert self._close_reason is not None
                raise ConnectionClosed(self._close_reason) from None

    async def read(self) -> None:
        """One round of trio-websocket's reader (`_reader_task`'s loop): read from the
        socket once, then, unless that ended the reader, handle every event wsproto parsed
        from it (`_handle_events`). If another task is reading, wait for its round instead.

        An idle connection's task waits in here, for its socket: one function rather
        than a call deeper (every coroutine frame below this one would live on every
        idle connection, about 250 bytes each)."""
        if self._reading:
            if self._read_done is None:
                self._read_done = trio.Event()
            await self._read_done.wait()
            return
        if not self._reader_running:
            self._messages.end()
            await trio.lowlevel.checkpoint()
            return
        self._reading = True
        try:
            stream = self._stream
            data: bytes | bytearray | None = None
            try:
                if isinstance(stream, DirectWriteStream) and not stream.buffered:
                    # Wait for the socket here rather than four calls deeper inside
                    # `receive_some`, whose frames would be kept as long as we wait,
                    # and directly in Trio's wait (`readable`: not three calls deeper
                    # inside `trio.lowlevel.wait_readable`). `wake` may end the wait
                    # early: then nothing is read.
                    self._reading = _WAITING
                    try:
                        woken = await readable(stream.socket) is socket_wait.WOKEN
                    finally:
                        self._reading = True
                    if woken:
                        return  # `wake`: the task waiting in `next_message` is wanted
                    # Readable: read in this same step (the wait was the round's
                    # schedule point; `receive_some` would yield once more).
                    data = stream.read_now(self._receive_buffer_size)
                if data is None:
                    data = await stream.receive_some(self._receive_buffer_size)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                await self._abort_web_socket()  # ends the reader
            else:
                await self._feed(data)
            if self._reader_running:
                await self._handle_events()
        finally:
            self._reading = False
            if not self._reader_running:
                self._messages.end()
            if self._read_done is not None:
                self._read_done.set()
                self._read_done = None

    async def _feed(self, data: bytes | bytearray) -> None:
        """Hand what was read to wsproto (the rest of the socket half of `_reader_task`'s
        loop); end of file ends the reader, and so does a refused handshake."""
        if not data:
            # If TCP closed before WebSocket, then record it as an abnormal closure.
            if self._wsproto.state != ConnectionState.CLOSED:
                await self._abort_web_socket()
            self._reader_running = False
            return
        if self._wsproto.state != ConnectionState.CLOSED:
            try:
                # A bytes object is passed on as is (`bytes` of one is itself).
                self._wsproto.receive_data(bytes(data))
            except RemoteProtocolError as err:
                if isinstance(err.event_hint, RejectConnection):
                    # wsproto refused the upgrade request (426 for another version, 400
                    # for a missing header): with a JSON body, like every refusal.
                    try:
                        await self._stream.send_all(upgrade_refusal(err))
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        pass  # the client left: closing is all there is to do
                elif err.event_hint:
                    await self._send(err.event_hint)
                await self._close_stream()

    async def _handle_events(self) -> None:
        """Handle every event wsproto has parsed (the event half of `_reader_task`'s loop,
        and its rules: see the module's docstring).

        A message within the size limit is handed on as it comes: its handler writes
        nothing and never waits (`Messages.send`), so it needs neither the shield nor the
        bound below, whose deadline would be registered and removed on every read. From
        the first other event on, the rest are handled in `_handle_bounded`."""
        events = self._wsproto.events()
        for event in events:
            if isinstance(event, _MESSAGE_EVENTS) and (
                self._message_size + len(event.data) <= self._max_message_size
            ):
                await self._handle_message_event(event)
                continue
            await self._handle_bounded(itertools.chain((event,), events))
            return

    async def _handle_bounded(self, events: Iterator[Event]) -> None:
        """Handle `events`, shielded and bounded: a handler may be writing a frame (a
        pong, the answer to a close, the 1009 for a message over the limit), and a
        cancellation (shutdown) must not cut one in half; the close handshake that
        follows needs the stream intact. Bounded, for a client that stops reading: the
        stream is then given up on, as trio-websocket gives up on it when `aclose` times
        out."""
        with trio.move_on_after(self._close_timeout, shield=True) as handling:
            for event in events:
                handler = _HANDLERS.get(type(event))
                if handler is None:
                    log.warning("%s: unknown wsproto event %r, ignored", self, type(event))
                    continue
                try:
                    await getattr(self, handler)(event)
                except ConnectionClosed:
                    self._reader_running = False
                    break
        if handling.cancelled_caught:
            await self._abort_web_socket()
            await self._close_stream()

    async def _handle_ping_event(self, event: Ping) -> None:
        # A pong for every ping, within the client's limit (RFC 6455 5.5.3 lets an endpoint
        # answer only the latest of several pings); none after our close frame, which the
        # client may not have read yet: wsproto refuses to send one then.
        if self._wsproto.state is not ConnectionState.OPEN:
            return
        if self.ping_policy is None or self.ping_policy.ping_allowed():
            await self._send(event.response())

    async def _handle_message_event(self, event: BytesMessage | TextMessage) -> None:
        # After our close frame a message is of no use (trio-websocket drops those left
        # unread when it closes), and one over the size limit would have it send a second
        # close frame, which wsproto refuses.
        if self._wsproto.state is ConnectionState.OPEN:
            await super()._handle_message_event(event)

    async def _handle_close_connection_event(self, event: CloseConnection) -> None:
        # Runs in the reader task, for every close event. OPEN here means wsproto found a
        # protocol error: a close frame from the client would have moved it to
        # REMOTE_CLOSING. In LOCAL_CLOSING we have sent our close frame already (an
        # eviction, a shutdown) and no second one may follow: trio-websocket just closes.
        if self._wsproto.state is ConnectionState.OPEN:
            await self._fail(event.code, event.reason)
        # Marks the connection closed (the session's `get_message` raises
        # ConnectionClosed) and closes the socket.
        await super()._handle_close_connection_event(event)

    async def _fail(self, code: int, reason: str | None) -> None:
        """Send the close frame for a protocol error, within `close_timeout`."""
        if code == _INVALID_PAYLOAD:
            reason = "invalid UTF-8"
        reason = reason or "protocol error"
        log.info("%s: protocol error, closing with %d %s", self, code, reason)
        # Set before the write, as trio-websocket does when it answers a close: from here
        # on nothing else is written (the session checks `closed` before every data frame),
        # and the session's own `aclose` has nothing left to do. (So a shutdown that
        # catches this write blocked on a full socket does not wait for it: the stream is
        # closed under it, as it would be for a client that stopped reading.)
        self._close_reason = CloseReason(code, reason)
        # Bounded: a client that does not read cannot keep this reader (which is shielded
        # during shutdown) waiting. If the bound cuts the frame, closing the socket next
        # is still right: nothing could follow the frame anyway. If the client is gone,
        # `_send` has aborted the connection and raises ConnectionClosed, which ends the
        # reader, as it does from any handler.
        with trio.move_on_after(self._close_timeout):
            await self._send(CloseConnection(code=code, reason=reason))


def upgrade_refusal(error: RemoteProtocolError) -> bytes:
    """The whole answer to an upgrade request wsproto refused with `error`: its status
    and headers (``Sec-WebSocket-Version: 13`` with a 426), and a JSON body that says why."""
    hint = error.event_hint
    assert isinstance(hint, RejectConnection)
    if hint.status_code == 426:
        problem = "unsupported WebSocket version: this server speaks Sec-WebSocket-Version 13"
    else:
        reason = str(error)
        problem = "invalid WebSocket upgrade: " + reason[:1].lower() + reason[1:]
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in hint.headers}
    return json_response(hint.status_code, problem, headers)


async def read_upgrade_request(
    stream: DirectWriteStream, *, max_message_size: int, close_timeout: float
) -> tuple[ServerConnection, WebSocketRequest] | None:
    """Read the upgrade request from `stream`, for the caller to accept or reject: the
    connection (open once the request is accepted) and the request; None if the client
    does not complete it within `HANDSHAKE_TIMEOUT_S`, or leaves. The caller owns the
    stream and closes it. (A plain function, not a context manager: nothing of the
    handshake should live as long as the connection.)"""
    connection = ServerConnection(
        stream, max_message_size=max_message_size, close_timeout=close_timeout
    )
    parsed = parse_upgrade(stream.inner.head) if stream.buffered else None
    if parsed is not None:
        # A well-formed upgrade, read already: the request is taken from the head, which
        # is not replayed to wsproto (what follows it, if anything, is).
        event, length = parsed
        stream.inner.skip(length)
        connection._own_handshake = True
        return connection, WebSocketRequest(connection, event)
    with trio.move_on_after(HANDSHAKE_TIMEOUT_S):
        request = await connection.read_request()
        return None if request is None else (connection, request)
    return None
