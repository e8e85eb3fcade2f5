"""Two ASGI wrappers around the app, for Hypercorn's sake (`chat.http.server`): its calls
to ``send`` run to completion (`ShieldedSendApp`), and while the server drains every
response closes its connection (`CloseWhileDraining`)."""

from __future__ import annotations

from typing import Any

import trio


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

    Like every shield in the server, this one has a bound (`timeout`). Under HTTP/2 a
    ``send`` waited for the peer's flow-control window, and a client that left right after
    switching (``Upgrade: h2c``) kept it waiting forever, a task and a socket leaked per
    request. HTTP/2 is refused now (`_H11Protocol`), and under HTTP/1.1 a ``send`` only
    writes to the socket, but the bound stays: a shield without one is a leak waiting for
    its protocol. The socket writes themselves are bounded below, where Hypercorn's own
    shield around them cannot hide the deadline (`chat.http.server._HandOverStream`).
    """

    def __init__(self, app: Any, timeout: float) -> None:
        self._app = app
        self._timeout = timeout

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def shielded_send(message: Any) -> None:
            with trio.move_on_after(self._timeout, shield=True):
                await send(message)

        await self._app(scope, receive, shielded_send)


class CloseWhileDraining:
    """ASGI wrapper: once `draining` is set, every HTTP response says ``Connection:
    close``, and Hypercorn (h11) closes the connection after sending it (see the module
    docstring)."""

    def __init__(self, app: Any, draining: trio.Event) -> None:
        self._app = app
        self._draining = draining

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def send_closing(message: Any) -> None:
            if message["type"] == "http.response.start" and self._draining.is_set():
                headers = [(k, v) for k, v in message.get("headers", ()) if k != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self._app(scope, receive, send_closing)
