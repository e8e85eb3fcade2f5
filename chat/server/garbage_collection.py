"""How `chat serve` has CPython collect garbage: rarely, and never over and over for
nothing.

A full collection examines every tracked object, and with thousands of connections that
takes tens to hundreds of milliseconds, long enough to show in the 99th percentile of
message latency. So everything alive once the server has started (modules, the app, the
components), which lives until exit, is frozen out of collection (`gc.freeze`), and the
youngest generation is collected every 2000 net allocations instead of 700: fewer
collections, fewer objects promoted, fewer full collections.

The connections' own objects are never frozen: a closed connection's cycles must still
be collected. CPython collects the oldest generation once ten collections of the middle
one have passed and it has grown by a quarter since the last full collection. When
thousands of clients arrive at once (a reconnection storm), it grows by their live
objects: each full collection walks every connection, frees next to nothing, and the
next comes a quarter later (13% of a 10,000-client storm's CPU). Holding full
collections off for good would spare that, but short lives (the soak) leave cyclic
garbage that then waits longer (its memory grew 1.3x against 1.07x). So the wait
follows what the last full collection found (`after_collection`): one that freed less
than `BARREN_SHARE` of what it examined makes the next wait for `BARREN_WAIT` middle
collections instead of ten; one that freed more brings the ten back.
"""

from __future__ import annotations

import gc
from typing import Any

#: The youngest generation's threshold and the middle one's (CPython: 700 and 10).
YOUNG_THRESHOLDS = (2000, 10)
#: Middle collections between full ones, as CPython has it.
USUAL_WAIT = 10
#: Middle collections between full ones after a full collection that found next to
#: no garbage (the oldest generation must still have grown by a quarter).
BARREN_WAIT = 100
#: A full collection that freed less than this share of the objects it examined.
BARREN_SHARE = 0.01


def tune() -> None:
    """Freeze what is alive now, collect the young generations less often, and let each
    full collection set the wait for the next (`after_collection`)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*YOUNG_THRESHOLDS, USUAL_WAIT)
    if after_collection not in gc.callbacks:
        gc.callbacks.append(after_collection)


def next_wait(freed: int, survivors: int) -> int:
    """Middle collections before the next full one, after a full collection that freed
    `freed` objects and kept `survivors`."""
    return BARREN_WAIT if freed < BARREN_SHARE * (freed + survivors) else USUAL_WAIT


def after_collection(phase: str, info: dict[str, Any]) -> None:
    """`gc.callbacks` entry: after each full collection, the wait for the next. Counting
    the survivors walks them once more, a small part of the collection just made."""
    if phase != "stop" or info["generation"] != 2:
        return
    survivors = len(gc.get_objects(generation=2))
    gc.set_threshold(*YOUNG_THRESHOLDS, next_wait(info["collected"], survivors))
