"""Samples a `chat serve` process's Python stack by its CPU time, when
`CHAT_BENCH_CPU_PROFILE` names a directory: from a SIGUSR1 (the bench sends it once the
load is ready) to a SIGUSR2 or the exit, written there at exit as collapsed stacks
(``cpu-<pid>.txt``, one "frame;frame;... microseconds" a line, for any flame graph's
tools), with the garbage collector's collections and time over the same span, by
generation (``gc-<pid>.json``; in the samples a collection's time is `_collected`'s, the
callback that times it). The timer falls due at the kernel's tick (4 ms at 250 Hz) and
expirations that meet merge, so each sample is weighed by the process's CPU time since
the one before, not counted once. py-spy samples
wall time: under a CPU quota a throttled thread counts as running, so its shares follow
where the quota ran out, not where the CPU went; ITIMER_PROF counts the process's CPU.

Python runs a signal's handler in the main thread between bytecodes: CPU spent in a C
call (a system call, a hash) lands on the Python line that made it, and CPU spent by
other threads while the main thread waits lands on its wait (epoll). bench/capacity.py
and bench/reconnect_storm.py put this directory on the servers' PYTHONPATH
(`--cpu-profile`); inert without it."""

from __future__ import annotations

import atexit
import collections
import gc
import json
import os
import signal
import time

OUT = os.environ.get("CHAT_BENCH_CPU_PROFILE")
INTERVAL_S = 0.002

if OUT:
    stacks: collections.Counter[str] = collections.Counter()
    last = [0.0]  # the process's CPU time at the sample before
    sampling = [False]
    collections_by_generation = [[0, 0.0] for _ in range(3)]  # count, seconds
    collection_began = [0.0]

    def _collected(phase: str, info: dict) -> None:
        if phase == "start":
            collection_began[0] = time.perf_counter()
        elif sampling[0]:
            counted = collections_by_generation[info["generation"]]
            counted[0] += 1
            counted[1] += time.perf_counter() - collection_began[0]

    def _short(path: str) -> str:
        """chat/ws/stream.py, trio/_core/_run.py, asyncio/events.py: where from."""
        if "/site-packages/" in path:
            return path.rsplit("/site-packages/", 1)[-1]
        if "/chat/" in path:
            return "chat/" + path.rsplit("/chat/", 1)[-1]
        head, _, tail = path.rpartition("/lib/python3.")
        return tail.partition("/")[2] if head else path

    def _sample(_signum: int, frame: object) -> None:
        names = []
        while frame is not None:
            code = frame.f_code  # type: ignore[attr-defined]
            names.append(f"{code.co_name} ({_short(code.co_filename)})")
            frame = frame.f_back  # type: ignore[attr-defined]
        now = time.process_time()
        stacks[";".join(reversed(names))] += round((now - last[0]) * 1e6)
        last[0] = now

    def _start(_signum: int, _frame: object) -> None:
        # A new span: the samples and the collections of an earlier one (a warm-up, a
        # lower rung) are dropped together, so that both files cover the same span.
        stacks.clear()
        for counted in collections_by_generation:
            counted[:] = [0, 0.0]
        last[0] = time.process_time()
        sampling[0] = True
        signal.signal(signal.SIGPROF, _sample)
        signal.setitimer(signal.ITIMER_PROF, INTERVAL_S, INTERVAL_S)

    def _stop(_signum: int, _frame: object) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        sampling[0] = False

    def _write() -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        if stacks:
            with open(os.path.join(OUT, f"cpu-{os.getpid()}.txt"), "w") as out:
                out.writelines(f"{stack} {us}\n" for stack, us in stacks.items())
            with open(os.path.join(OUT, f"gc-{os.getpid()}.json"), "w") as out:
                json.dump(
                    {
                        f"generation {generation}": {"collections": count, "seconds": seconds}
                        for generation, (count, seconds) in enumerate(collections_by_generation)
                    },
                    out,
                )

    gc.callbacks.append(_collected)
    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _stop)
    atexit.register(_write)
