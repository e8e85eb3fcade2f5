"""The drain: the first step of a shutdown, so that a restart loses no client.

Behind a load balancer, an instance that stops listening at once makes the balancer find
out by failing requests. With ``CHAT_DRAIN_SECONDS`` set, cancelling `chat.server.serving.serve`
(SIGTERM) first drains for that long, every component still running:

- ``/readyz`` answers 503 (`chat.http.health`), so health-checking balancers stop sending
  new clients here;
- WebSocket upgrades are refused with 503 and ``Retry-After`` before the connection opens
  (`chat.ws.server`), which nginx retries on another instance at once
  (``proxy_next_upstream http_503``);
- open WebSocket sessions are closed with 1012, "service restart": their clients connect
  again, to another instance, and resume with SinceID;
- HTTP requests are still answered, each with ``Connection: close``
  (`chat.http.asgi_wrappers.CloseWhileDraining`), so that no kept-alive connection is idle when
  the listener closes.

At its end, the listener closes while everything still runs (`FrontDoor.stop_accepting`):
the connections already in its backlog are taken and answered (closing a listener resets
them, and a proxy answers 502 to a POST it had sent on one), and connecting is refused
from then on, which a proxy retries elsewhere. Within `LAST_REQUESTS_S`, the requests of
the connections opened during the drain are answered before the shutdown begins.

Then the shutdown goes on as without a drain: HTTP requests in flight are answered, the
last WebSocket clients are closed with 1001. A drain of 0 seconds (the default) skips all
of this.
"""

from __future__ import annotations

import logging
from typing import Protocol

import trio

log = logging.getLogger(__name__)


class Restartable(Protocol):
    def restart_sessions(self) -> None:
        """Tell every open session to connect again elsewhere (`chat.ws.server`)."""


class Door(Protocol):
    async def stop_accepting(self) -> None:
        """Close the listeners, their backlogs taken; return once what was accepted has
        been handed over (`chat.net.front_door`)."""


class Answering(Protocol):
    async def wait_for_requests_since_draining(self) -> None:
        """Return once the connections opened during the drain are answered and closed
        (`chat.http.server`)."""


#: How long the end of a drain waits for the last connections it accepted to be answered
#: (their requests normally take milliseconds; one still unanswered then is answered by the
#: shutdown, within CHAT_SHUTDOWN_TIMEOUT, if Hypercorn has started on it).
LAST_REQUESTS_S = 2.0


class Drain:
    """Sends clients elsewhere for `seconds` while everything keeps working."""

    def __init__(
        self,
        seconds: float,
        draining: trio.Event,
        websocket: Restartable,
        door: Door,
        http: Answering,
    ) -> None:
        self._seconds = seconds
        self._door = door
        self._http = http
        #: Read by /readyz, the WebSocket server (refusing upgrades) and the HTTP server
        #: (``Connection: close``); set here, when the drain begins.
        self._draining = draining
        self._websocket = websocket

    async def run(self) -> None:
        """Drain for `seconds` (at once for 0), then return. `chat.server.serving.serve` runs it
        shielded when it is cancelled, before it cancels its components."""
        if self._seconds <= 0:
            return
        log.info(
            "draining for %g s: /readyz answers 503, new WebSockets are refused (503),"
            " open ones closed with 1012",
            self._seconds,
        )
        # Set before the sessions are told, so that none of them reconnects here.
        self._draining.set()
        self._websocket.restart_sessions()
        await trio.sleep(self._seconds)
        with trio.move_on_after(LAST_REQUESTS_S):
            await self._door.stop_accepting()
            await self._http.wait_for_requests_since_draining()
        log.info("drained: shutting down")
