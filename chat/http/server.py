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
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

import trio
from hypercorn.app_wrappers import ASGIWrapper
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState

from ..replay_stream import ReplayStream

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
    the whole graceful timeout. Shielding ``send`` lets Hypercorn finish. Writes to the
    socket inside it were already shielded by Hypercorn, so nothing can block longer than
    before. tests/test_front_door.py and tests/test_shutdown.py cover both symptoms.
    """

    def __init__(self, app: Any) -> None:
        self._app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def shielded_send(message: Any) -> None:
            with trio.CancelScope(shield=True):
                await send(message)

        await self._app(scope, receive, shielded_send)


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

    def __init__(self, app: Any, *, shutdown_timeout: float) -> None:
        self._config = _hypercorn_config(shutdown_timeout)
        self._app = ASGIWrapper(ShieldedSendApp(app))
        self._state: dict[str, Any] = {}
        self._context = WorkerContext(None)
        self._lifespan = Lifespan(self._app, self._config, self._state)
        self._shutdown_timeout = shutdown_timeout
        # The shielded scope of every open connection, so shutdown can give each one
        # a deadline. `_drained` exists once shutdown began; the last connection out sets it.
        self._connections: set[trio.CancelScope] = set()
        self._drained: trio.Event | None = None
        self._drain_deadline: float | None = None

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
        self._drained = trio.Event()
        self._drain_deadline = trio.current_time() + self._shutdown_timeout
        await self._context.terminated.set()
        for scope in self._connections:
            scope.deadline = min(scope.deadline, self._drain_deadline)
        if self._connections:
            await self._drained.wait()  # bounded: every connection has the deadline

    async def handle(self, stream: ReplayStream) -> None:
        """Serve one connection until it closes (or the drain deadline passes)."""
        # Shielded: shutdown reaches this connection through `terminated` and the drain
        # deadline (see the module docstring), never as a cut mid-response.
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
                    stream,  # type: ignore[arg-type]
                )
                await server.run()
            finally:
                self._connections.discard(scope)
                if self._drained is not None and not self._connections:
                    self._drained.set()
