"""Garbage-collection pauses of a load generator, measured, and kept short.

A simulated user's latency runs on the generator's clock: while its interpreter collects
garbage, every action in flight waits, whatever the server did. A full collection over
thousands of users' objects (sockets, parsed frames, random generators) took up to
200 ms at 2,500 users, 5 s of every minute in all, even with the server's thresholds.
So `tune` freezes what the run set up and leaves full collections to the run, which
makes one between windows (`full_collection`), never inside one. The young generations
were collected as usual at first, and still cost the generator up to a third of its
core at 3,000-5,000 users (13 s of a 60-s window at 5,000, 7 ms a collection, up to
105 ms at once): every idle user's reader waits for the next tick in a fresh chain of
coroutines (`Teammate._pause`), which live half a second, so each young collection
traverses tens of thousands of them. Nearly all garbage here is freed by reference
counts, so `no_collections` turns the collector off for a window (a minute's cyclic
garbage, a few MiB, waits for the collection after it). And `GcPauses` reports what
collections still cost in each window (none, with `no_collections`), so a reader can
tell the generator's stalls from the server's.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chat.server.garbage_collection import YOUNG_THRESHOLDS

#: The young generations' thresholds as the server's; the oldest's so high that it is
#: never collected but by `full_collection`.
THRESHOLDS = (*YOUNG_THRESHOLDS, 1_000_000)


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


@contextmanager
def no_collections() -> Iterator[None]:
    """No automatic collection inside (a measured window); on again after it."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


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
