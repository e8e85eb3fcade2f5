"""Failures a long-lived task survived: one event or round of work that raised, logged
and counted, while the task goes on with the next.

The root nursery's tasks (`chat.server.serving.serve`) handle events from other instances and
data that clients sized (messages, names, rate-limit keys). An error there, raised, would
end the root nursery and with it the whole instance: one bad event, or one client who
found a bug, would stop the service for everyone. So each such task runs every unit of
its work (one bus event, one round of sharing counts, one fan-out batch) inside
`TaskFailures.contained`: an error is logged with its traceback, counted under the
task's name (``chat_task_failures_total`` in `chat.app.metrics`), and the task carries on.

Only `Exception` is contained: `trio.Cancelled` (shutdown) and `KeyboardInterrupt` pass,
as they must. Log lines are limited to one per task every `LOG_EVERY_S` (with the
number left out), so a failure that repeats per event cannot flood the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

#: At most one log line per task this often; the others are counted, and said in the next.
LOG_EVERY_S = 10.0


class TaskFailures:
    """Counts of contained failures by task name, and their rate-limited log lines."""

    def __init__(self) -> None:
        #: Failures contained, by task name (read by `chat.app.metrics`).
        self.counts: dict[str, int] = {}
        self._logged_at: dict[str, float] = {}
        self._unlogged: dict[str, int] = {}

    @contextmanager
    def contained(self, task: str, what: str) -> Iterator[None]:
        """Run the block; if it raises an `Exception`, log and count it under `task` (doing
        `what`, for the log line) and return normally."""
        try:
            yield
        except Exception as error:
            self.record(task, what, error)

    def record(self, task: str, what: str, error: Exception) -> None:
        """Log and count `error`, which `task` survived while doing `what`."""
        self.counts[task] = self.counts.get(task, 0) + 1
        now = time.monotonic()
        if now - self._logged_at.get(task, -LOG_EVERY_S) < LOG_EVERY_S:
            self._unlogged[task] = self._unlogged.get(task, 0) + 1
            return
        self._logged_at[task] = now
        skipped = self._unlogged.pop(task, 0)
        also = f" ({skipped} more since the last report)" if skipped else ""
        log.error("%s: %s failed; carrying on%s", task, what, also, exc_info=error)
