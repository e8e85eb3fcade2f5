"""Backpressure for request bodies that a route streams (``POST /files``).

Quart reads a request's body in a task of its own (`ASGIHTTPConnection.handle_messages`)
that takes every ASGI message as soon as Hypercorn has it and appends it to the
request's `Body`, however far behind the route is: when the network outruns the disk (a
25 MiB upload over a fast link), the whole body piles up in memory. Here the body of a
streamed route holds at most `HIGH_WATER_BYTES` the route has not taken: the reading
task waits for the route before it takes the next message, so Hypercorn's bounded queue
fills, it stops reading the socket, and TCP's flow control holds the client back.

Every other route keeps Quart's body (it reads its small JSON body whole anyway).
"""

from __future__ import annotations

from typing import Any

import trio
from quart.wrappers.request import Request
from quart_trio.asgi import TrioASGIHTTPConnection
from quart_trio.wrappers.request import TrioBody

#: The most bytes of a streamed body held for its route (one ASGI message, at most 64 KiB
#: from Hypercorn, may come on top).
HIGH_WATER_BYTES = 256 * 1024


class StreamedBody(TrioBody):
    """A request body whose reader waits (`room`) while the route has not taken what is
    buffered. The route iterates it (``async for chunk in request.body``)."""

    def __init__(self, expected_content_length: int | None, max_content_length: int | None):
        super().__init__(expected_content_length, max_content_length)
        self._taken = trio.Event()

    async def room(self) -> None:
        """Return once the buffer is below `HIGH_WATER_BYTES` (or the body is over: done,
        or refused)."""
        while (
            len(self._data) >= HIGH_WATER_BYTES
            and not self._complete.is_set()
            and self._must_raise is None
        ):
            self._taken = trio.Event()
            await self._taken.wait()

    async def __anext__(self) -> bytes:
        try:
            return await super().__anext__()
        finally:
            self._taken.set()


class StreamingHttpConnection(TrioASGIHTTPConnection):
    """Quart-Trio's HTTP connection, reading a `StreamedBody` no faster than its route.

    Cancellation: as in Quart, the reading task ends the request's nursery when the
    client disconnects; while it waits for `room` it does not see a disconnect, but the
    route, reading the body, either takes the buffer (and the wait ends) or finishes (and
    the answer's task ends the nursery)."""

    async def handle_messages(  # type: ignore[override]
        self, nursery: trio.Nursery, request: Request, receive: Any
    ) -> None:
        body = request.body
        if not isinstance(body, StreamedBody):
            await super().handle_messages(nursery, request, receive)
            return
        while True:
            await body.room()
            message = await receive()
            if message["type"] == "http.request":
                body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    body.set_complete()
            elif message["type"] == "http.disconnect":
                break
        nursery.cancel_scope.cancel()
