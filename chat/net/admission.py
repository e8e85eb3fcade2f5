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

Those turned away are counted for /metrics and logged a line a second while there are
any (`HandshakeGate.report`), not a line each: a storm turns away more upgrades than it
has clients.

The bound in force follows the machine. While handshakes finish within `TARGET_S` on
average it is the setting: many at once share their batched reads, and a storm is let
in at the thread's full speed. Once the last second's took longer, the thread is not
keeping up (a busy neighbour, a small CPU quota) and more at once would only wait
longer: the bound comes down to `TARGET_S` of the pace they finish at (at least
`FLOOR`), and climbs back by `GROWTH` a second once they are quick again.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import NoReturn

import trio

from chat.core.logs import ACCESS_WS
from chat.net.raw_response import json_response

access_log = logging.getLogger(ACCESS_WS)

#: How soon a client turned away may try again, in seconds, at the least.
RETRY_AFTER_S = 1
#: The longest wait a refusal asks for, however long the line ahead.
MAX_RETRY_AFTER_S = 60
#: The longest a handshake should take on average, in seconds: past it, the bound in
#: force comes down to that many seconds of the pace handshakes finish at.
TARGET_S = 2.0
#: The bound in force at the least (or the setting, if lower).
FLOOR = 256
#: How much the bound in force climbs back towards the setting each second that the
#: handshakes finished within `TARGET_S` on average.
GROWTH = 1.5
#: How often, at most, the upgrades turned away are logged (one line for all of them).
REPORT_S = 1.0


class HandshakeSlot:
    """One handshake's place in the gate, from `HandshakeGate.take` until `give_back`
    (which may be called more than once: the first call gives it back)."""

    __slots__ = ("_gate", "_taken_at")

    def __init__(self, gate: HandshakeGate, taken_at: float) -> None:
        self._gate: HandshakeGate | None = gate
        self._taken_at = taken_at

    def give_back(self) -> None:
        """The handshake finished, however it finished: its place is free again."""
        if self._gate is not None:
            self._gate.finished(self._taken_at)
            self._gate = None


class HandshakeGate:
    """Counts WebSocket handshakes in progress on this instance, at most `bound` at once
    (`limit`, or less while handshakes are slow; `limit` 0: no bound), and tells each
    upgrade it turns away when to come back. Plain methods: Trio runs one task at a
    time, and none of them awaits.

    Those turned away are given turns at the pace handshakes have been finishing (over
    the last second or so), one after another: the thousandth client of a storm is told
    to come back later than the first, instead of all of them coming back together to be
    turned away again, a retry storm that keeps the thread as busy as the first wave."""

    def __init__(self, limit: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._floor = min(FLOOR, limit)
        #: The bound in force (read by `chat.app.metrics`): `limit`, or less while
        #: handshakes take longer than `TARGET_S` (0 with no bound).
        self.bound = limit
        #: Handshakes in progress now (read by `chat.app.metrics`).
        self.in_progress = 0
        #: Upgrades turned away since the start (read by `chat.app.metrics`).
        self.turned_away = 0
        # Set by the first upgrade turned away since `report` last logged; the longest
        # Retry-After asked since then.
        self._turning_away = trio.Event()
        self._longest_asked = 0
        self._clock = clock
        # Handshakes finished in the current second (`_second`), with the seconds they
        # took in all, and those finished in the second before: the pace at which turns
        # are handed out.
        self._second = math.floor(clock())
        self._finished_now = 0
        self._took_now = 0.0
        self._finished_before = 0
        # When the next turned-away client's turn comes (the clock's time).
        self._next_turn = 0.0

    def take(self) -> HandshakeSlot | None:
        """A slot for a handshake, which whoever took it gives back; None (taking
        nothing, counting the refusal) if the bound's are all taken: the client is then
        told `retry_after`."""
        now = self._clock()
        if self.limit:
            self._tick(now)  # the bound of the second under way, however long idle
            if self.in_progress >= self.bound:
                self.turned_away += 1
                self._turning_away.set()
                return None
        self.in_progress += 1
        return HandshakeSlot(self, now)

    def finished(self, taken_at: float) -> None:
        """A handshake let in at `taken_at` finished (`HandshakeSlot.give_back`)."""
        now = self._clock()
        self.in_progress -= 1
        self._tick(now)
        self._finished_now += 1
        self._took_now += now - taken_at

    def retry_after(self) -> int:
        """Seconds the client just turned away should wait: its turn, one after the last
        one handed out, at the pace handshakes finish (at least `RETRY_AFTER_S`, at most
        `MAX_RETRY_AFTER_S`)."""
        now = self._clock()
        self._tick(now)
        pace = max(self._finished_now, self._finished_before, self.bound, 1)
        turn = max(now + RETRY_AFTER_S, self._next_turn)
        self._next_turn = min(turn, now + MAX_RETRY_AFTER_S) + 1 / pace
        asked = min(math.ceil(turn - now), MAX_RETRY_AFTER_S)
        self._longest_asked = max(self._longest_asked, asked)
        return asked

    async def report(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Log the upgrades turned away: one line for those of each `REPORT_S` (how
        many, the bound in force, the longest Retry-After asked), only while some are.
        Runs until cancelled; the last moment's are logged on the way out."""
        task_status.started()
        reported = self.turned_away
        try:
            while True:
                await self._turning_away.wait()
                await trio.sleep(REPORT_S)
                # No checkpoint from here to the line: every upgrade counted so far is
                # in it, and the next one sets the new event.
                self._turning_away = trio.Event()
                reported = self._log_turned_away(reported)
        finally:
            self._log_turned_away(reported)

    def _log_turned_away(self, reported: int) -> int:
        """Log those turned away since `turned_away` was `reported` (if any); the count
        now logged."""
        if self.turned_away > reported:
            access_log.info(
                "WebSocket upgrades turned away",
                extra={
                    "count": self.turned_away - reported,
                    "status": 503,
                    "bound": self.bound,
                    "retry_after": self._longest_asked,
                },
            )
            self._longest_asked = 0
        return self.turned_away

    def _tick(self, now: float) -> None:
        """Move the per-second counts on to the clock's current second, and set the
        bound in force for it from the second before."""
        second = math.floor(now)
        if second == self._second:
            return
        consecutive = second == self._second + 1
        finished, took = (self._finished_now, self._took_now) if consecutive else (0, 0.0)
        self._second = second
        self._finished_before = finished
        self._finished_now, self._took_now = 0, 0.0
        if not self.limit:
            return  # no bound to set: `bound` stays 0
        if not finished:
            if not self.in_progress:
                self.bound = self.limit  # idle: the next crowd starts at the setting
        elif took > finished * TARGET_S:
            self.bound = max(math.ceil(finished * TARGET_S), self._floor)
        else:
            self.bound = min(math.ceil(self.bound * GROWTH), self.limit)


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
