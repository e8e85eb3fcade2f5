"""Sliding-window counters: how often each key acted in the last period, in O(1) time and
memory per key, with keys forgotten once their windows have passed.

Each limit ("20 per minute") keeps, per key, the count of the current fixed window (the
minute that started on a multiple of 60 s) and of the one before it. The count "in the
last minute" is the previous window's count weighted by how much of it is still inside
the last minute, plus the current window's: exact when the previous window's actions were
spread evenly, and never more than twice the limit in any period whatever their timing.
A check is a dictionary look-up and a little arithmetic (about a microsecond), where a
log of every action's time (the `limits` library's moving window, 30 us per check)
costs time and memory in proportion to the limit.

Forgetting: each limit keeps two tables, the current window's counts and the previous
window's. When the window turns, the current table becomes the previous one, and the
previous one is dropped whole: a key that has not acted for two windows is simply gone,
with no per-key expiry to track. A big dropped table is emptied by `WindowCounter.sweep`
a bounded number of keys per pass (its owner calls it periodically), since freeing it at
once costs time in proportion to its keys; then the table itself is freed, room and all
(a Python dict never shrinks while it lives). So neither a stream of fresh keys nor an
idle server keeps memory that no limit needs, and no pass takes long.

Not thread-safe, and needs no lock under Trio: every method is synchronous.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

_SECONDS = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86_400,
    "month": 30 * 86_400,
    "year": 365 * 86_400,
}
_LIMIT = re.compile(
    r"^\s*(\d{1,9})\s*(?:/|per)\s*(\d{1,9})?\s*(second|minute|hour|day|month|year)s?\s*$",
    re.IGNORECASE,
)

#: A table of a window that has passed with at most this many keys is freed at once;
#: a bigger one is emptied by `WindowCounter.sweep`, a bounded number of keys per pass.
_FREED_AT_ONCE = 1024


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `amount` actions per `seconds`, as the setting wrote it (`text`)."""

    amount: int
    seconds: int
    text: str


def parse_limits(text: str) -> tuple[Limit, ...]:
    """Limits in the notation of the `limits` library, which the settings have always
    used: ``"10/second;120/minute"``, ``"5 per 15 minutes"``, separated by ``;`` or ``,``.
    Raises `ValueError` for anything else, or for an amount or period of 0."""
    limits = []
    for part in re.split(r"[;,]", text):
        match = _LIMIT.match(part)
        if match is None:
            raise ValueError(f"not a limit: {part.strip()!r}")
        amount, multiple, unit = int(match[1]), int(match[2] or 1), match[3].lower()
        if amount < 1 or multiple < 1:
            raise ValueError(f"not a limit: {part.strip()!r}")
        limits.append(Limit(amount, multiple * _SECONDS[unit], part.strip()))
    return tuple(limits)


class WindowCounter:
    """One limit's counts for every key, in two tables: the current window's and the
    previous window's (``key -> count``)."""

    __slots__ = ("_clock", "_current", "_previous", "_retired", "_window", "limit")

    def __init__(self, limit: Limit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._window = 0  # the number of the current window (time // period)
        self._current: dict[str, int] = {}
        self._previous: dict[str, int] = {}
        # Tables of windows that have passed, emptied a part at a time by `sweep`.
        self._retired: list[dict[str, int]] = []

    def __len__(self) -> int:
        """Keys counted in the current or the previous window (some in both)."""
        return len(self._current) + len(self._previous)

    def _now(self) -> float:
        """How far into the current window it is (0 to 1), after moving to the window
        the clock is in: the current table becomes the previous one, or both go."""
        window, into = divmod(self._clock(), self.limit.seconds)
        if window != self._window:
            self._retire(self._previous)
            if window == self._window + 1:
                self._previous = self._current
            else:
                self._retire(self._current)
                self._previous = {}
            self._current = {}
            self._window = int(window)
        return into / self.limit.seconds

    def _retire(self, table: dict[str, int]) -> None:
        # Freeing a big table at once costs time in proportion to its keys: `sweep`
        # empties it in bounded passes instead. A small one goes at once.
        if len(table) > _FREED_AT_ONCE:
            self._retired.append(table)

    def count(self, key: str) -> float:
        """The estimated number of actions of `key` in the last period."""
        into = self._now()
        return self._previous.get(key, 0) * (1.0 - into) + self._current.get(key, 0)

    def allows(self, key: str, cost: int = 1) -> bool:
        """Whether `cost` more actions of `key` now stay within the limit."""
        return self.count(key) + cost <= self.limit.amount

    def add(self, key: str, cost: int = 1) -> None:
        """Count `cost` actions of `key` now. A negative cost takes back actions counted
        earlier (an attempt counted before it was known to succeed): from this window,
        else from the previous one (it began before the window turned), never below 0."""
        self._now()
        current = self._current
        if cost > 0:
            current[key] = current.get(key, 0) + cost
            return
        for table in (current, self._previous):
            count = table.get(key, 0)
            if count:
                if count + cost > 0:
                    table[key] = count + cost
                else:
                    del table[key]
                return

    def seconds_until_allowed(self, key: str, cost: int = 1) -> float:
        """How long until `cost` actions of `key` are within the limit (0: now)."""
        into = self._now()
        amount, period = self.limit.amount, self.limit.seconds
        if cost > amount:
            return math.inf
        current, previous = self._current.get(key, 0), self._previous.get(key, 0)
        if current + cost > amount:
            # Not in this window: in the next, this window's count is the weighted one.
            left = period * (1.0 - into)
            return left + period * max(0.0, 1.0 - (amount - cost) / current)
        if previous == 0:
            return 0.0
        gone = 1.0 - (amount - cost - current) / previous  # how much of it must be past
        return period * (gone - into) if gone > into else 0.0

    def sweep(self, most: int) -> int:
        """Forget up to `most` keys of windows that have passed; how many were forgotten.
        Call it now and then: a quiet server's keys expire without anyone acting."""
        self._now()
        forgotten = 0
        while self._retired and forgotten < most:
            table = self._retired[-1]
            while table and forgotten < most:
                table.popitem()
                forgotten += 1
            if not table:
                self._retired.pop()  # an empty table: freeing it costs nothing more
        return forgotten


def parse_rate(text: str) -> tuple[int, float]:
    """("60/minute") -> (60, 60.0): one limit in the settings' notation
    (`chat.core.sliding_window.parse_limits`: also "5 per 15 minutes"), as a count and its period
    in seconds. ValueError for anything else, several limits included: an allowance is one
    bucket."""
    limits = parse_limits(text)
    if len(limits) != 1:
        raise ValueError(f"not a single limit: {text!r}")
    return limits[0].amount, float(limits[0].seconds)
