"""Counts a `chat serve` process's Trio task steps by task name, and its scheduler
passes, when `CHAT_BENCH_TASK_STEPS` names a file to write them to (JSON, at exit).
bench/task_steps.py puts this directory on the server's PYTHONPATH; Python imports a
`sitecustomize` module at start-up, so the server needs no change. Inert without it."""

from __future__ import annotations

import atexit
import collections
import json
import os

OUT = os.environ.get("CHAT_BENCH_TASK_STEPS")

if OUT:
    import trio

    steps: collections.Counter[str] = collections.Counter()
    passes: collections.Counter[str] = collections.Counter()

    class _Steps(trio.abc.Instrument):
        def before_task_step(self, task: trio.lowlevel.Task) -> None:
            steps[task.name] += 1

        def before_io_wait(self, timeout: float) -> None:
            # One a pass of the scheduler: an epoll_wait, then a round of runnable tasks.
            passes["blocking" if timeout else "not blocking"] += 1

    _run = trio.run

    def _run_counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["instruments"] = [*kwargs.get("instruments", ()), _Steps()]
        return _run(*args, **kwargs)

    trio.run = _run_counted

    def _write() -> None:
        with open(OUT, "w") as out:
            json.dump({"steps": steps, "passes": passes}, out)

    atexit.register(_write)
