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

A WebSocket upgrade can also arrive on a connection that is already serving HTTP: a proxy
that keeps connections to the instances alive (nginx with ``keepalive``, HAProxy, ...)
sends it on whichever idle connection it has. Hypercorn then offers the app a websocket
scope. The app has no WebSocket routes (trio-websocket serves WebSockets), so instead the
connection is handed back: `HandOverWebSockets` notes the upgrade request, stops
Hypercorn on that connection without letting it write or close anything more, and
`HttpServer.handle` returns the request head for the front door to give to the
WebSocket server, exactly as if it had been the connection's first request.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any, NoReturn

import trio
from hypercorn.app_wrappers import ASGIWrapper
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState

from ..replay_stream import ReplayStream, close_gently

log = logging.getLogger(__name__)

#: An idle keep-alive connection is closed after this long.
KEEP_ALIVE_TIMEOUT_S = 5.0


class ShieldedSendApp:
    """ASGI wrapper: the app's calls to ``send`` run to completion, even when cancelled.

    Hypercorn does a connection's bookkeeping inside the app's last ``send`` call: it
    closes the connection after ``Connection: close`` and re-arms the keep-alive timer,
    which is also what closes idle connections at shutdown. In the middle of that call it
    tells the app ``http.disconnect``, and quart-trio reacts by cancelling the task that
    is making the call, so the bookkeeping was cut short: the connection stayed open
    after ``Connection: close``, and an idle keep-alive connection held up shutdown for
    the whole graceful timeout. Shielding ``send`` lets Hypercorn finish.
    tests/test_front_door.py and tests/test_shutdown.py cover both symptoms.

    Like every shield in the server, this one has a bound (`timeout`). Under HTTP/1.1 a
    ``send`` only writes to the socket, but a client may ask for HTTP/2 (``Upgrade: h2c``),
    and there ``send`` waits for the peer's flow-control window: a client that left right
    after the switch kept it waiting forever, a task and a socket leaked per request.
    """

    def __init__(self, app: Any, timeout: float) -> None:
        self._app = app
        self._timeout = timeout

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def shielded_send(message: Any) -> None:
            with trio.move_on_after(self._timeout, shield=True):
                await send(message)

        await self._app(scope, receive, shielded_send)


class _Handover:
    """One HTTP connection, as `HandOverWebSockets` may take it back from Hypercorn."""

    def __init__(self, stream: ReplayStream) -> None:
        self.stream = _HandOverStream(stream)
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
    """

    def __init__(self, inner: ReplayStream) -> None:
        self.inner = inner
        self.released = False
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
        if not self.released:
            async with self._sending:
                await self.inner.send_all(data)

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
            if not self._receiving:
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
        self._config = _hypercorn_config(shutdown_timeout)
        self._app = ASGIWrapper(HandOverWebSockets(ShieldedSendApp(app, send_timeout)))
        self._state: dict[str, Any] = {}
        self._context = WorkerContext(None)
        self._lifespan = Lifespan(self._app, self._config, self._state)
        self._shutdown_timeout = shutdown_timeout
        # The shielded scope of every open connection, so shutdown can give each one
        # a deadline. `_drained` exists once shutdown began; the last connection out sets it.
        self._connections: set[trio.CancelScope] = set()
        self._drained: trio.Event | None = None
        self._drain_deadline: float | None = None
        #: Set when the drain begins, for /readyz to say so (`chat.http.health`).
        self.draining = draining if draining is not None else trio.Event()

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

    async def handle(self, stream: ReplayStream) -> bytes | None:
        """Serve one connection until it closes (or the drain deadline passes). Returns
        the head of a WebSocket upgrade request if one arrived on it after HTTP requests:
        the connection is then still open, for the caller to serve as a WebSocket."""
        handover = _Handover(stream)
        token = _CONNECTION.set(handover)
        try:
            # Shielded: shutdown reaches this connection through `terminated` and the
            # drain deadline (see the module docstring), never as a cut mid-response.
            with trio.CancelScope(shield=True) as scope:
                if self._drain_deadline is not None:
                    scope.deadline = self._drain_deadline
                self._connections.add(scope)
                try:
                    server = TCPServer(
                        self._app,
                        self._config,
                        self._context,
                        ConnectionState(self._state.copy()),
                        handover.stream,  # type: ignore[arg-type]
                    )
                    with handover.scope:
                        await server.run()
                finally:
                    self._connections.discard(scope)
                    if self._drained is not None and not self._connections:
                        self._drained.set()
        finally:
            _CONNECTION.reset(token)
        return handover.request_head
