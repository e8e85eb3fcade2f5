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

import math
import time
from collections.abc import Callable

from chat.net.raw_response import json_response

#: How soon a client turned away may try again, in seconds, at the least.
RETRY_AFTER_S = 1
#: The longest wait a refusal asks for, however long the line ahead.
MAX_RETRY_AFTER_S = 60


class HandshakeGate:
    """Counts WebSocket handshakes in progress on this instance, at most `limit` at once
    (0: no bound), and tells each upgrade it turns away when to come back. Plain methods:
    Trio runs one task at a time, and none of them awaits.

    Those turned away are given turns at the pace handshakes have been finishing (over
    the last second or so), one after another: the thousandth client of a storm is told
    to come back later than the first, instead of all of them coming back together to be
    turned away again, a retry storm that keeps the thread as busy as the first wave."""

    def __init__(self, limit: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        #: Handshakes in progress now (read by `chat.app.metrics`).
        self.in_progress = 0
        #: Upgrades turned away since the start (read by `chat.app.metrics`).
        self.turned_away = 0
        self._clock = clock
        # Handshakes finished in the current second (`_second`) and in the one before:
        # the pace at which turns are handed out.
        self._second = math.floor(clock())
        self._finished_now = 0
        self._finished_before = 0
        # When the next turned-away client's turn comes (the clock's time).
        self._next_turn = 0.0

    def take(self) -> bool:
        """Take a slot for a handshake; False (taking nothing, counting the refusal) if all
        are taken. Whoever took one gives it back (`give_back`); whoever got False tells
        the client `retry_after`."""
        if self.limit and self.in_progress >= self.limit:
            self.turned_away += 1
            return False
        self.in_progress += 1
        return True

    def give_back(self) -> None:
        """Give back a slot `take` gave (the handshake finished, however it finished)."""
        self.in_progress -= 1
        self._tick()
        self._finished_now += 1

    def retry_after(self) -> int:
        """Seconds the client just turned away should wait: its turn, one after the last
        one handed out, at the pace handshakes finish (at least `RETRY_AFTER_S`, at most
        `MAX_RETRY_AFTER_S`)."""
        self._tick()
        now = self._clock()
        pace = max(self._finished_now, self._finished_before, self.limit, 1)
        turn = max(now + RETRY_AFTER_S, self._next_turn)
        self._next_turn = min(turn, now + MAX_RETRY_AFTER_S) + 1 / pace
        return min(math.ceil(turn - now), MAX_RETRY_AFTER_S)

    def _tick(self) -> None:
        """Move the per-second counts on to the clock's current second."""
        second = math.floor(self._clock())
        if second != self._second:
            self._finished_before = self._finished_now if second == self._second + 1 else 0
            self._finished_now = 0
            self._second = second


def busy_response(retry_after: int) -> bytes:
    """The whole HTTP response that turns an upgrade away while the gate is full."""
    return _BUSY_RESPONSES[min(max(retry_after, RETRY_AFTER_S), MAX_RETRY_AFTER_S)]


_BUSY_RESPONSES = {
    seconds: json_response(
        503,
        "the server is opening many connections at once: try again shortly",
        {"Retry-After": str(seconds)},
    )
    for seconds in range(RETRY_AFTER_S, MAX_RETRY_AFTER_S + 1)
}
