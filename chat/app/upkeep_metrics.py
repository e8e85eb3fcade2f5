"""Metrics of the server's upkeep: retention, the file collector, whether the database
answers, and the files directory's free space (docs/DEPLOYMENT.md, "Metrics").

Retention and the collector count in fields of their own (`RetentionTask.runs`,
`FileCollector.removed`...), read at scrape time like the rest (`chat.app.metrics`). The
other two are measured as a scrape begins (`Metrics.measure_before_scrape`), each within
a bound, so that a scrape answers while the database or the disk hangs, which is when it
is most wanted:

- `DatabaseAnswers` asks the readiness probe (`chat.app.database_probe`): it joins the
  ping under way, if any, and waits at most the probe's 2 seconds.
- `StorageSpace` asks the filesystem (``statvfs``) in a worker thread, at most one at a
  time, and gives up waiting after `SPACE_TIMEOUT_S`: a hung network filesystem leaves
  one thread waiting, not one per scrape, and the scrape shows no figure rather than a
  stale one.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import trio
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from datetime import datetime

    from chat.app.database_probe import DatabaseProbe
    from chat.app.messages.retention import RetentionTask
    from chat.files.collector import FileCollector

#: How long a scrape waits for the filesystem's free space.
SPACE_TIMEOUT_S = 1.0


class DiskUsage(Protocol):
    """What `shutil.disk_usage` answers, of which the metrics read two figures."""

    @property
    def total(self) -> int: ...
    @property
    def free(self) -> int: ...


def _timestamp(when: datetime | None) -> float:
    """Seconds since the epoch; 0 for never (Prometheus's convention for "no run yet")."""
    return 0.0 if when is None else when.timestamp()


@dataclass(frozen=True, slots=True, eq=False)
class UpkeepCollector(Collector):
    """Reads the retention task's and the file collector's counts when scraped."""

    retention: RetentionTask
    files: FileCollector

    def collect(self) -> Iterator[Metric]:
        retention = self.retention
        yield CounterMetricFamily(
            "chat_retention_runs",
            "Retention passes this instance made to the end holding the cluster's lease.",
            retention.runs,
        )
        yield CounterMetricFamily(
            "chat_retention_messages_deleted",
            "Messages retention deleted on this instance (older than their room keeps them).",
            retention.deleted,
        )
        yield GaugeMetricFamily(
            "chat_retention_last_run_timestamp_seconds",
            "When this instance's last retention pass ended (0: none yet).",
            _timestamp(retention.last_run),
        )
        files = self.files
        yield CounterMetricFamily(
            "chat_files_collector_runs",
            "Sweeps of unneeded files this instance made to the end.",
            files.runs,
        )
        yield CounterMetricFamily(
            "chat_files_collector_removed",
            "Files the collector removed (never attached, no longer carried, or orphaned).",
            files.removed,
        )
        yield CounterMetricFamily(
            "chat_files_collector_removed_bytes",
            "Bytes of the files the collector removed, as their records said (thumbnails and"
            " objects without a record not measured).",
            files.removed_bytes,
        )
        yield GaugeMetricFamily(
            "chat_files_collector_last_run_timestamp_seconds",
            "When this instance's last sweep of unneeded files ended (0: none yet).",
            _timestamp(files.last_run),
        )


class DatabaseAnswers(Collector):
    """``chat_database_up``: whether the database answered the readiness probe as the
    scrape began."""

    def __init__(self, probe: DatabaseProbe) -> None:
        self._probe = probe
        self._answers: bool | None = None  # not asked yet

    async def measure(self) -> None:
        self._answers = await self._probe.database_answers()  # within the probe's bound

    def collect(self) -> Iterator[Metric]:
        if self._answers is None:
            return
        yield GaugeMetricFamily(
            "chat_database_up",
            "1 if the database answered the readiness probe within 2 s as this scrape"
            " began, else 0.",
            int(self._answers),
        )


class StorageSpace(Collector):
    """``chat_files_storage_free_bytes`` and ``..._size_bytes`` of the files directory
    (directory storage only; an S3 bucket has no such figure)."""

    def __init__(
        self,
        directory: Path,
        *,
        usage: Callable[[Path], DiskUsage] = shutil.disk_usage,
        timeout: float = SPACE_TIMEOUT_S,
    ) -> None:
        self._directory = directory
        self._usage = usage
        self._timeout = timeout
        # Held by the worker thread while it asks the filesystem: a measurement its scrape
        # gave up on still holds it until the filesystem answers, and none starts meanwhile.
        self._measuring = threading.Lock()
        self._space: tuple[int, int] | None = None

    async def measure(self) -> None:
        self._space = None

        def statvfs() -> tuple[int, int] | None:
            if not self._measuring.acquire(blocking=False):
                return None  # the previous one still waits on the filesystem: no figure
            try:
                usage = self._usage(self._directory)
                return usage.free, usage.total
            finally:
                self._measuring.release()

        with trio.move_on_after(self._timeout):
            try:
                self._space = await trio.to_thread.run_sync(statvfs, abandon_on_cancel=True)
            except OSError:
                pass  # the directory is gone or unreadable: no figure

    def collect(self) -> Iterator[Metric]:
        if self._space is None:
            return
        free, size = self._space
        yield GaugeMetricFamily(
            "chat_files_storage_free_bytes",
            "Bytes free for the server's user on the files directory's filesystem.",
            free,
        )
        yield GaugeMetricFamily(
            "chat_files_storage_size_bytes",
            "Size in bytes of the files directory's filesystem.",
            size,
        )
