"""Garbage-collection pauses of a load generator, measured, and kept short.

A simulated user's latency runs on the generator's clock: while its interpreter collects
garbage, every action in flight waits, whatever the server did. A full collection over
thousands of users' objects (sockets, parsed frames, random generators) took up to
200 ms at 2,500 users, 5 s of every minute in all, even with the server's thresholds.
So `tune` freezes what the run set up and leaves full collections to the run, which
makes one between windows (`full_collection`), never inside one; the young generations
are collected as usual (most of the garbage, freed by reference counts anyway). And
`GcPauses` reports what collections still cost in each window, so a reader can tell
the generator's stalls from the server's.
"""

from __future__ import annotations

import gc
import time
from typing import Any

#: The young generations' thresholds as the server's (chat.cli.GC_THRESHOLDS); the
#: oldest's so high that it is never collected but by `full_collection`.
THRESHOLDS = (2000, 10, 1_000_000)


def tune() -> None:
    """Freeze everything alive now (the team, the tokens) out of collection, collect the
    young generations less often, and the oldest only when asked."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


def full_collection() -> None:
    """Collect every generation now (between windows: what it costs is nobody's latency
    that is measured)."""
    gc.collect()


class GcPauses:
    """Collections' time in this process, from `gc.callbacks`, while installed."""

    def __init__(self) -> None:
        self._began = 0.0
        self.count = 0
        self.total_s = 0.0
        self.longest_s = 0.0

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            return
        pause = time.perf_counter() - self._began
        self.count += 1
        self.total_s += pause
        self.longest_s = max(self.longest_s, pause)

    def take(self) -> dict[str, float]:
        """What collections cost since the last take (ms), and start again."""
        taken = {
            "collections": self.count,
            "total_ms": round(self.total_s * 1000, 1),
            "longest_ms": round(self.longest_s * 1000, 1),
        }
        self.count, self.total_s, self.longest_s = 0, 0.0, 0.0
        return taken
