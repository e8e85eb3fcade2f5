"""One log line per HTTP request (logger ``chat.access.http``, INFO).

Each line carries the method, the route (the URL rule that matched, such as
``/messages/<int:room_id>``, or null), the path (percent-encoded as sent, cut at
`chat.core.logs.MAX_PATH_CHARS`), the status, the milliseconds from the request's head to the last
byte of the answer, and the client's address (`chat.core.client_address`: a trusted proxy's
``X-Forwarded-For`` names it). Never the query string, a header or a body: the
``Authorization`` header and ``?token=`` stay out of the logs; nor an incoming webhook's
secret, which is in its path (``/hooks/<id>/[redacted]``).

The same route and time are what the HTTP latency histogram observes
(``chat_http_request_duration_seconds``, `chat.app.metrics.Metrics.observe_request`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, cast

from quart import request

from chat.core.client_address import ClientAddresses, normalise
from chat.core.incoming_webhooks import redacted_path
from chat.core.logs import ACCESS_HTTP, loggable_path

log = logging.getLogger(ACCESS_HTTP)

#: Told each request's route (None: none matched), method and seconds, as it is logged.
Observer = Callable[[str | None, str, float], None]

#: Where `note_route` leaves the matched URL rule for `AccessLog`, in the ASGI scope.
_ROUTE_KEY = "chat.route"


async def note_route() -> None:
    """A ``before_request`` hook: tell the access log which URL rule matched."""
    rule = request.url_rule
    # The scope is a plain dict at run time: ASGI lets servers and middleware add keys.
    scope = cast(dict[str, Any], request.scope)
    scope[_ROUTE_KEY] = rule.rule if rule is not None else None


class AccessLog:
    """ASGI wrapper: logs every HTTP request once it is answered, or given up on."""

    def __init__(
        self, app: Any, addresses: ClientAddresses, observe: Observer | None = None
    ) -> None:
        self._app = app
        self._addresses = addresses
        self._observe = observe

    @property
    def app(self) -> Any:
        """The ASGI app it logs for."""
        return self._app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None

        async def noting_send(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, noting_send)
        finally:
            # Also on cancellation (a client that left, the drain deadline): the line
            # then says what status, if any, was sent. Logging does not await.
            seconds = time.perf_counter() - started
            route = scope.get(_ROUTE_KEY)
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": route,
                    "path": _path(scope),
                    "status": status,
                    "ms": round(seconds * 1000, 1),
                    "address": self._client(scope),
                },
            )
            if self._observe is not None:
                self._observe(route, scope["method"], seconds)

    def _client(self, scope: Any) -> str | None:
        client = scope.get("client")
        if not client:
            return None
        peer = normalise(str(client[0])) or str(client[0])
        forwarded = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"]
        return self._addresses.resolve(peer, forwarded)


def _path(scope: Any) -> str:
    """The path as sent: percent-encoded, so a ``%0A`` stays three harmless characters;
    an incoming webhook's without its secret (however its path was spelled)."""
    redacted = redacted_path(scope["path"])
    if redacted is not None:
        return redacted
    raw = scope.get("raw_path") or scope["path"].encode()
    return loggable_path(raw.decode("latin-1"))
