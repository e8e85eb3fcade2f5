"""Serving HTTP connections with Hypercorn's Trio connection handler.

The front door accepts connections itself, so Hypercorn's own `serve` (which wants to
own the listening sockets) does not fit. We use the pieces it is built from instead:
`TCPServer` serves one connection, `WorkerContext` carries the "server is terminating"
event, `ASGIWrapper` adapts the Quart-Trio app, and `Lifespan` runs the app's startup and
shutdown. These are Hypercorn internals: pyproject.toml pins the version range and
tests/test_front_door.py covers the seam.

Graceful shutdown follows Hypercorn's own protocol rather than a plain cancellation, so
a request in flight is answered instead of cut off:

1. each connection runs in its own shielded cancel scope, so cancelling the server does
   not reach it directly;
2. when `run` is cancelled, it sets the context's ``terminated`` event (Hypercorn then
   closes idle keep-alive connections at once, and every other connection as soon as
   its current response is sent) and gives every connection scope a deadline of
   `shutdown_timeout`;
3. once all connections are gone (or the deadline passed), the app's lifespan shutdown
   runs, and only then is the lifespan task cancelled.

Before that, while the server drains (`chat.server.drain`, CHAT_DRAIN_SECONDS), requests are
served as usual, but every response says ``Connection: close`` (`CloseWhileDraining`): a
proxy's kept-alive connections end one by one with their next answer, so none is left
idle, for the proxy to send a request on, at the moment the listener closes.

A WebSocket upgrade can also arrive on a connection that is already serving HTTP: a proxy
that keeps connections to the instances alive (nginx with ``keepalive``, HAProxy, ...)
sends it on whichever idle connection it has. Hypercorn then offers the app a websocket
scope. The app has no WebSocket routes (trio-websocket serves WebSockets), so instead the
connection is handed back: `HandOverWebSockets` notes the upgrade request, stops
Hypercorn on that connection without letting it write or close anything more, and
`HttpServer.handle` returns the request head for the front door to give to the
WebSocket server, exactly as if it had been the connection's first request.

Two things Hypercorn decides below the app are changed (`_H11Protocol`, the one protocol
our connections speak; `_TCPServer` gives it to each connection):

- **Errors in JSON.** The answers Hypercorn writes itself (400 for a request it cannot
  parse, 431 for a head over 16 KiB, 501 for a transfer coding it does not implement, and
  400 for an invalid WebSocket upgrade on a keep-alive connection) had empty bodies; they
  carry the app's ``{"error": "..."}`` now, as docs/PROTOCOL.md promises.
- **No HTTP/2 on plain HTTP.** HTTP/2 carries up to 100 concurrent requests on one
  connection, each a task of ours, past the per-address connection cap; no browser speaks
  it without TLS, and TLS ends at the proxy, which speaks HTTP/1.1 to us. So
  ``Upgrade: h2c`` is ignored (RFC 9110 7.8: the request is answered in HTTP/1.1), and a
  client that opens with HTTP/2's connection preface gets HTTP/2's own refusal, a GOAWAY
  with HTTP_1_1_REQUIRED (`chat.net.raw_response.http2_refusal`), and the connection closes.

Both override private methods of Hypercorn's `H11Protocol` (`_send_error_response`,
`_check_protocol`, `_create_stream`) and the `protocol` attribute `TCPServer.run`
assigns; tests/test_http_errors.py and tests/test_http2.py cover the seam.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
from contextvars import ContextVar
from http import HTTPStatus
from typing import Any, NoReturn

import h11
import trio
from hypercorn.app_wrappers import ASGIWrapper
from hypercorn.config import Config as HypercornConfig
from hypercorn.events import Closed, RawData
from hypercorn.protocol import ProtocolWrapper
from hypercorn.protocol.events import EndBody, Response
from hypercorn.protocol.events import Event as StreamEvent
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.protocol.ws_stream import WSStream
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState

from chat.http.asgi_wrappers import CloseWhileDraining, ShieldedSendApp
from chat.net.front_door import MAX_HEAD_BYTES
from chat.net.raw_response import http2_refusal, json_error, json_error_headers
from chat.net.replay_stream import ReplayStream, close_gently

log = logging.getLogger(__name__)

#: An idle keep-alive connection is closed after this long.
KEEP_ALIVE_TIMEOUT_S = 5.0

#: Responses are written this much at a time, each piece within CHAT_WRITE_TIMEOUT: a
#: client must take 16 KiB per write timeout (1.6 KB/s at the default 10 s) or be dropped.
WRITE_PIECE_BYTES = 16 * 1024

#: What each error Hypercorn answers by itself says (h11's error status hints).
PARSE_ERRORS = {
    400: "the request could not be parsed as HTTP/1.1",
    431: f"the request head is larger than {MAX_HEAD_BYTES // 1024} KiB",
    501: "unsupported transfer coding: only chunked is accepted",
}
#: What Hypercorn's answer to an invalid WebSocket upgrade on a keep-alive connection says.
INVALID_UPGRADE = (
    "invalid WebSocket upgrade: it needs Connection: Upgrade, Upgrade: websocket, "
    "a Sec-WebSocket-Key and Sec-WebSocket-Version: 13 (RFC 6455 4.1)"
)
#: What a client that opened with HTTP/2's connection preface is told (in a GOAWAY).
HTTP2_REFUSED = "HTTP/2 is not served on plain HTTP: speak HTTP/1.1"

#: The headers of the error answers Hypercorn's streams write themselves (HTTPStream's
#: and WSStream's `_send_error_response`), which `_H11Protocol` gives a JSON body.
_BARE_ERROR_HEADERS = [(b"content-length", b"0"), (b"connection", b"close")]


class _H11Protocol(H11Protocol):
    """Hypercorn's HTTP/1.1 protocol, with JSON bodies on the errors it answers itself
    and without HTTP/2 (see the module docstring)."""

    #: Set when the connection was refused (HTTP/2's preface): no stream is created.
    _refused = False
    #: Set once a stream's bare error answer was given a body: close after its end.
    _closing = False

    async def _send_error_response(self, status_code: int) -> None:
        """h11 could not parse the request (its status hint: 400, 431, 501)."""
        error = PARSE_ERRORS.get(status_code) or HTTPStatus(status_code).phrase.lower()
        await self._send_json_error(status_code, error)

    async def _send_json_error(self, status_code: int, error: str) -> None:
        """A whole error answer, in one write: the app may be answering the same request
        at the same moment (a request followed by bytes h11 cannot parse), and the
        connection may be closed between two writes."""
        body = json_error(error)
        headers = json_error_headers(body) + self.config.response_headers("h11")
        try:
            data = b"".join(
                self.connection.send(event) or b""
                for event in (
                    h11.Response(status_code=status_code, headers=headers),
                    h11.Data(data=body),
                    h11.EndOfMessage(),
                )
            )
        except h11.LocalProtocolError:
            # An answer has begun already (Hypercorn's `_send_h11_event` gives up the
            # same way): the client broke the protocol, nothing more can be said.
            if self.connection.their_state != h11.ERROR:
                raise
            return
        await self.send(RawData(data=data))

    async def stream_send(self, event: StreamEvent) -> None:
        if isinstance(event, Response) and event.headers == _BARE_ERROR_HEADERS:
            # A stream answering an error itself: in practice WSStream refusing an
            # invalid upgrade that came after other requests (the first request's
            # upgrade goes to the WebSocket server; HTTPStream's 404 and 500 need a
            # server name filter and an app that ends without answering, neither ours).
            invalid_upgrade = isinstance(self.stream, WSStream) and event.status_code == 400
            error = (
                INVALID_UPGRADE if invalid_upgrade else HTTPStatus(event.status_code).phrase.lower()
            )
            await self._send_json_error(event.status_code, error)
            self._closing = True
        elif isinstance(event, EndBody) and self._closing:
            # The answer is complete already. It said "connection: close", and WSStream
            # would leave the connection open.
            await self.send(Closed())
        else:
            await super().stream_send(event)

    async def _check_protocol(self, event: h11.Request) -> None:
        """Never switch to HTTP/2. ``Upgrade: h2c`` is ignored; HTTP/2's connection
        preface (``PRI * HTTP/2.0``) is refused in HTTP/2's own terms, and the
        connection closed."""
        if event.method == b"PRI" and event.target == b"*" and event.http_version == b"2.0":
            # Hypercorn calls `_create_stream` next, which the flag makes a no-op; with no
            # stream, its event loop stops at the request's end (h11's EndOfMessage), and
            # its reader finds the connection closed.
            self._refused = True
            await self.send(RawData(data=http2_refusal(HTTP2_REFUSED)))
            await self.send(Closed())

    async def _create_stream(self, request: h11.Request) -> None:
        if not self._refused:
            await super()._create_stream(request)


class _TCPServer(TCPServer):
    """Hypercorn's connection handler, speaking `_H11Protocol`: `run` builds the
    connection's `ProtocolWrapper` (which would speak Hypercorn's own `H11Protocol`) and
    assigns it to ``self.protocol``, before the first byte is read; the assignment swaps
    ours in. (Our connections are never TLS, so ALPN never asks for HTTP/2 here.) And
    `_read_data` stops the keep-alive timer once the client has closed."""

    @property
    def protocol(self) -> ProtocolWrapper:
        return self._protocol_wrapper

    @protocol.setter
    def protocol(self, wrapper: ProtocolWrapper) -> None:
        wrapper.protocol = _H11Protocol(
            wrapper.app,
            wrapper.config,
            wrapper.context,
            wrapper.task_group,
            wrapper.state,
            wrapper.ssl,
            wrapper.client,
            wrapper.server,
            wrapper.send,
        )
        self._protocol_wrapper = wrapper

    async def _read_data(self) -> None:
        await super()._read_data()
        # The client has closed (or the read failed): no request can follow. Hypercorn
        # would keep an idle connection's keep-alive timer running, and with it this
        # connection's task and its socket (CLOSE_WAIT, counted against the address's
        # cap), for up to the whole keep-alive timeout. A request still being answered
        # has stopped the timer already, and its end closes the connection.
        await self.idle_task.stop()


class _Handover:
    """One HTTP connection, as `HandOverWebSockets` may take it back from Hypercorn."""

    def __init__(self, stream: ReplayStream, write_timeout: float) -> None:
        self.stream = _HandOverStream(stream, write_timeout)
        self.scope = trio.CancelScope()  # around Hypercorn's handling of the connection
        #: The upgrade request's head, once the connection was taken back for it.
        self.request_head: bytes | None = None

    def take(self, scope: dict[str, Any]) -> None:
        """Take the connection back for the WebSocket upgrade request in `scope`."""
        target = scope["raw_path"] or scope["path"].encode()
        if scope["query_string"]:
            target += b"?" + scope["query_string"]
        lines = [b"GET " + target + b" HTTP/1.1"]
        lines += [name + b": " + value for name, value in scope["headers"]]
        self.request_head = b"\r\n".join(lines) + b"\r\n\r\n"
        self.stream.released = True  # nothing more from Hypercorn reaches the socket
        self.scope.cancel()


#: The connection whose request Hypercorn is handling: its app tasks inherit the context
#: of the connection's task, which `HttpServer.handle` sets this in.
_CONNECTION: ContextVar[_Handover | None] = ContextVar("chat_http_connection", default=None)


class _HandOverStream(trio.abc.HalfCloseableStream):
    """The stream Hypercorn serves: the connection, until it is handed over; from then
    on its writes are dropped and its closes ignored (the connection lives on).

    When Hypercorn closes the connection after an answer (HTTP/1.0, ``Connection:
    close``, an error), what the client sent after its request is still unread, and
    closing a socket with unread data resets the connection: the client could lose the
    answer. So `aclose` closes gently (`close_gently`), unless Hypercorn's reader is
    waiting in `receive_some` (an idle keep-alive connection timing out, where nothing
    is unread), which a second reader would collide with.

    Writes and the end-of-file are serialised by `_sending`: Hypercorn writes under a
    lock of its own, but sends the end-of-file outside it, so a request followed by
    bytes the protocol forbids (extra data after an HTTP/1.0 request) made the reader
    close the connection while the app was writing its answer (trio's BusyResourceError,
    a traceback, and no answer at all).

    Writes are bounded here (`send_all`), because nowhere above can they be: Hypercorn
    writes to the socket inside a shield of its own, with no deadline, so a client that
    stopped reading held the response's task, and whatever it held (an export's slot, a
    file), and the server's shutdown, for as long as it kept the connection open.
    """

    def __init__(self, inner: ReplayStream, write_timeout: float) -> None:
        self.inner = inner
        self.released = False
        self._write_timeout = write_timeout
        self._dropped = False  # a write timed out: the connection was reset
        self._receiving = False
        self._sending = trio.Lock()

    @property
    def socket(self) -> trio.socket.SocketType:
        return self.inner.socket  # Hypercorn reads the peer address from it

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        self._receiving = True
        try:
            return await self.inner.receive_some(max_bytes)
        finally:
            self._receiving = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Write `data`, `WRITE_PIECE_BYTES` at a time, each piece within the write
        timeout; past it, reset the connection and raise `trio.BrokenResourceError`
        (Hypercorn then ends the response as for a client that left: the app is told
        ``http.disconnect``, and its response's body iterator is closed)."""
        if self.released:
            return
        async with self._sending:
            if self._dropped:
                raise trio.BrokenResourceError("the connection was dropped: a write timed out")
            with memoryview(data) as view:
                for start in range(0, len(view), WRITE_PIECE_BYTES):
                    # Its own deadline, which Hypercorn's shield around this call does
                    # not hide. A piece cut half-way leaves the stream in an unknown
                    # state: nothing more is written to it.
                    with trio.move_on_after(self._write_timeout) as write:
                        await self.inner.send_all(view[start : start + WRITE_PIECE_BYTES])
                    if write.cancelled_caught:
                        await self._drop()
                        raise trio.BrokenResourceError(
                            f"the client took nothing for {self._write_timeout} s"
                        )

    async def _drop(self) -> None:
        """Reset the connection (SO_LINGER 0): what it still buffers, possibly megabytes
        the client never read, is let go at once rather than kept for a client that may
        never take it, and the client cannot mistake a cut response for a whole one.
        Hypercorn's reader, waiting on the socket, wakes with ClosedResourceError."""
        self._dropped = True
        log.info("HTTP client dropped: it took nothing for %s s", self._write_timeout)
        with contextlib.suppress(OSError):
            self.inner.socket.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
        await trio.aclose_forcefully(self.inner)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        if not self.released:
            async with self._sending:
                await self.inner.send_eof()

    async def aclose(self) -> None:
        if self.released:
            return
        try:
            if not self._receiving and not self._dropped:
                async with self._sending:
                    await close_gently(self.inner)
        finally:
            await trio.aclose_forcefully(self.inner)


class HandOverWebSockets:
    """ASGI wrapper: a websocket scope means a WebSocket upgrade on a connection that was
    serving HTTP (see the module docstring); hand the connection back instead."""

    def __init__(self, app: Any) -> None:
        self._app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            handover = _CONNECTION.get()
            if handover is not None:
                handover.take(scope)
                await trio.sleep_forever()  # cancelled with Hypercorn's handling
            await send({"type": "websocket.close", "code": 1011})  # not ours: refuse
            return
        await self._app(scope, receive, send)


def _hypercorn_config(shutdown_timeout: float) -> HypercornConfig:
    config = HypercornConfig()
    config.keep_alive_timeout = KEEP_ALIVE_TIMEOUT_S
    config.graceful_timeout = shutdown_timeout
    config.accesslog = None
    config.errorlog = logging.getLogger("chat.http.hypercorn")
    config.include_server_header = False
    # Heads of later requests on a connection (the front door checks the first one's).
    config.h11_max_incomplete_size = MAX_HEAD_BYTES
    return config


class HttpServer:
    """Serves the HTTP connections the front door hands over, with one ASGI app."""

    def __init__(
        self,
        app: Any,
        *,
        shutdown_timeout: float,
        send_timeout: float,
        draining: trio.Event | None = None,
    ) -> None:
        #: Set when the drain begins, for /readyz to say so (`chat.http.health`).
        self.draining = draining if draining is not None else trio.Event()
        self._config = _hypercorn_config(shutdown_timeout)
        self._app = ASGIWrapper(
            HandOverWebSockets(
                ShieldedSendApp(CloseWhileDraining(app, self.draining), send_timeout)
            )
        )
        self._state: dict[str, Any] = {}
        self._context = WorkerContext(None)
        self._lifespan = Lifespan(self._app, self._config, self._state)
        self._shutdown_timeout = shutdown_timeout
        self._write_timeout = send_timeout
        # The shielded scope of every open connection, so shutdown can give each one
        # a deadline. `_drained` exists once shutdown began; the last connection out sets it.
        self._connections: set[trio.CancelScope] = set()
        self._drained: trio.Event | None = None
        self._drain_deadline: float | None = None
        # The connections opened since `draining` was set: each carries one request
        # (`CloseWhileDraining`). `_answered` is set when the last of them closes, for
        # `wait_for_requests_since_draining`.
        self._opened_draining: set[trio.CancelScope] = set()
        self._answered: trio.Event | None = None

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Run the app's lifespan; report ready once its startup completed. Runs until
        cancelled, then drains connections as described in the module docstring."""
        lifespan_scope = trio.CancelScope(shield=True)
        # Holds the lifespan task, which lives in `lifespan_scope`: shielded, because the
        # app's shutdown must run after the connections drained, and cancelled by us last.
        async with trio.open_nursery() as nursery:
            await nursery.start(self._run_lifespan, lifespan_scope)
            await self._lifespan.wait_for_startup()
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                with trio.CancelScope(shield=True):
                    await self._drain()
                    with trio.move_on_after(self._shutdown_timeout):
                        await self._lifespan.wait_for_shutdown()
                lifespan_scope.cancel()

    async def _run_lifespan(
        self, scope: trio.CancelScope, *, task_status: trio.TaskStatus[None]
    ) -> None:
        with scope:
            await self._lifespan.handle_lifespan(task_status=task_status)

    async def _drain(self) -> None:
        self.draining.set()
        self._drained = trio.Event()
        self._drain_deadline = trio.current_time() + self._shutdown_timeout
        await self._context.terminated.set()
        for scope in self._connections:
            scope.deadline = min(scope.deadline, self._drain_deadline)
        if self._connections:
            await self._drained.wait()  # bounded: every connection has the deadline

    async def wait_for_requests_since_draining(self) -> None:
        """Return once every connection opened since the drain began has closed: each
        carried one request, so its answer has been sent (`chat.server.drain` waits for them
        before the shutdown cuts a request Hypercorn has not started on)."""
        while self._opened_draining:
            self._answered = trio.Event()
            await self._answered.wait()

    async def handle(self, stream: ReplayStream) -> bytes | None:
        """Serve one connection until it closes (or the drain deadline passes). Returns
        the head of a WebSocket upgrade request if one arrived on it after HTTP requests:
        the connection is then still open, for the caller to serve as a WebSocket."""
        handover = _Handover(stream, self._write_timeout)
        token = _CONNECTION.set(handover)
        try:
            # Shielded: shutdown reaches this connection through `terminated` and the
            # drain deadline (see the module docstring), never as a cut mid-response.
            with trio.CancelScope(shield=True) as scope:
                if self._drain_deadline is not None:
                    scope.deadline = self._drain_deadline
                self._connections.add(scope)
                if self.draining.is_set():
                    self._opened_draining.add(scope)
                try:
                    server = _TCPServer(
                        self._app,
                        self._config,
                        self._context,
                        ConnectionState(self._state.copy()),
                        # TCPServer is annotated with trio.SocketStream but uses only the
                        # HalfCloseableStream methods and the socket's addresses, which
                        # _HandOverStream forwards: hence the one ignore.
                        handover.stream,  # type: ignore[arg-type]
                    )
                    with handover.scope:
                        await server.run()
                finally:
                    self._connections.discard(scope)
                    if self._drained is not None and not self._connections:
                        self._drained.set()
                    self._opened_draining.discard(scope)
                    if self._answered is not None and not self._opened_draining:
                        self._answered.set()
        finally:
            _CONNECTION.reset(token)
        return handover.request_head
