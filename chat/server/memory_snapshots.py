"""Opt-in tracemalloc snapshots of a running server, for finding what holds its memory.

With ``CHAT_TRACEMALLOC=<directory>`` (`Config.tracemalloc_dir`), `chat serve` traces
every allocation from the start (`start`) and, each time it is sent SIGUSR2, writes two
files into the directory (`run`): ``tracemalloc-<pid>-<n>.pickle``, a
`tracemalloc.Snapshot` (load it with ``tracemalloc.Snapshot.load`` and compare two with
``compare_to``: by line or by traceback), and ``objects-<pid>-<n>.json``, the objects the
garbage collector tracks, counted by type with their shallow sizes. `bench/soak.py
--tracemalloc` takes one after the first minute and one at the end and prints what grew.

Off (the default), nothing here runs and nothing is traced: the cost is one ``if``. On,
tracing slows the server (about twice, `FRAMES`) and costs memory of its own (a trace per live
block): a debugging tool, not for production, and RSS read while tracing is not a
figure of record.

Nothing is collected before a snapshot: garbage waiting for a collection is part of
what the process holds, and hiding it would hide one kind of growth.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import NoReturn

import trio

#: Frames kept per allocation. One (the allocating line) slows the server about twice;
#: twelve, enough to see who called the library that allocated, about ten times. For
#: more, start the server with PYTHONTRACEMALLOC=12 (Python's own setting: tracing then
#: begins before anything is imported, and `start` leaves it as it is).
FRAMES = 1


def start() -> None:
    """Trace allocations from now on (before the server starts, so that every block it
    allocates has a trace)."""
    if not tracemalloc.is_tracing():
        tracemalloc.start(FRAMES)


def objects_by_type() -> tuple[Counter[str], Counter[str]]:
    """How many objects of each type the garbage collector tracks, and their shallow
    sizes in bytes (what they point to is counted under its own type)."""
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    for obj in gc.get_objects():
        name = type(obj).__qualname__
        counts[name] += 1
        sizes[name] += sys.getsizeof(obj)
    return counts, sizes


def write_snapshot(directory: Path, number: int) -> Path:
    """Write the snapshot and the object counts as files `number` of this process; the
    snapshot's path. Blocking (seconds for a large heap): run it in a worker thread."""
    directory.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    counts, sizes = objects_by_type()
    objects = {name: [counts[name], sizes[name]] for name, _ in sizes.most_common()}
    (directory / f"objects-{pid}-{number}.json").write_text(json.dumps(objects))
    snapshot = tracemalloc.take_snapshot()
    path = directory / f"tracemalloc-{pid}-{number}.pickle"
    # Written under another name first: a reader polling the directory sees it whole.
    partial = path.with_suffix(".partial")
    snapshot.dump(str(partial))
    partial.rename(path)
    return path


async def run(
    directory: Path, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> NoReturn:
    """Write a snapshot into `directory` at each SIGUSR2. Runs until cancelled.

    The snapshot is taken in a worker thread: taking and pickling one holds the GIL for
    most of its time, so the server still pauses, but the Trio thread never blocks in a
    call it cannot be cancelled out of."""
    number = 0
    with trio.open_signal_receiver(signal.SIGUSR2) as signals:
        task_status.started()
        async for _ in signals:
            number += 1
            await trio.to_thread.run_sync(write_snapshot, directory, number)
    raise AssertionError("a signal receiver never ends")
