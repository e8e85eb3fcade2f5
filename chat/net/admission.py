"""A bound on WebSocket handshakes in progress: past it, an upgrade is answered 503 at once.

When thousands of clients connect together (an instance restarted, a network back after
a cut: the reconnect storm of docs/PERFORMANCE.md), every handshake is a task taking
its turn on one thread. Unbounded, all of them progress together, each slowed by all
the others, until clients give up and try again: work done and thrown away, and the
retries keep the thread as busy as the first wave. Bounded, the handshakes let in
finish at the speed of a quiet server and the rest are told at once, before wsproto
reads a byte of their request, to come back after ``Retry-After`` (a client adds its own
jitter; the browser client does). No attempt is left to time out.

The bound counts handshakes from the request head to the session's opening: the
upgrade parsed, the token checked, the 101 sent. A client that authenticates with its
first frame (``?auth=frame``) holds no slot while the server waits for that frame.
"""

from __future__ import annotations

from chat.net.raw_response import json_response

#: How soon a client turned away may try again, in seconds.
RETRY_AFTER_S = 1


class HandshakeGate:
    """Counts WebSocket handshakes in progress on this instance, at most `limit` at once
    (0: no bound). Plain methods: Trio runs one task at a time, and none of them awaits."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        #: Handshakes in progress now (read by `chat.app.metrics`).
        self.in_progress = 0
        #: Upgrades turned away since the start (read by `chat.app.metrics`).
        self.turned_away = 0

    def take(self) -> bool:
        """Take a slot for a handshake; False (taking nothing, counting the refusal) if all
        are taken. Whoever took one gives it back (`give_back`)."""
        if self.limit and self.in_progress >= self.limit:
            self.turned_away += 1
            return False
        self.in_progress += 1
        return True

    def give_back(self) -> None:
        """Give back a slot `take` gave."""
        self.in_progress -= 1


#: The whole HTTP response that turns an upgrade away while the gate is full.
BUSY_RESPONSE = json_response(
    503,
    "the server is opening many connections at once: try again shortly",
    {"Retry-After": str(RETRY_AFTER_S)},
)
