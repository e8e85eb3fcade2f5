"""`FileCollector`: the task that removes files nobody needs any more.

Two kinds of files go: those uploaded and never attached to a message within
`unattached_for` (24 hours), and those whose messages were all deleted (deleting a
message detaches its files). A file goes record first, then its bytes (file and
thumbnail): an object never outlives its record for long, and an upload, which records
before it stores, is never undone by a sweep.

In a cluster every instance sweeps, but each file is removed by exactly one: the one
whose DELETE removed its record (`Files.delete_file_record` says which), so two
instances never work on the same file. Once a day a sweep also lists the storage for
objects that have no record (left by a crash between the two steps, or by an account
deleted with its files' records), and removes those that had none at the previous
listing too: an object whose record another instance has just removed, and whose bytes
it is removing, is that instance's to remove, not this one's.

Error handling: a failed sweep is logged and counted (`TaskFailures`) and tried again at
the next period; nothing a sweep meets ends the task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import NoReturn

import trio

from chat.core.task_failures import TaskFailures
from chat.files.storage import FileStorage
from chat.store import Files

log = logging.getLogger(__name__)

#: Files removed per store query (a sweep goes on until none are left).
BATCH = 100

#: How often the storage itself is listed for objects without a record.
ORPHAN_SWEEP_EVERY = timedelta(days=1)


class FileCollector:
    """Removes unattached and unreferenced files, periodically."""

    def __init__(
        self,
        store: Files,
        storage: FileStorage,
        *,
        period: float = 600.0,
        unattached_for: timedelta = timedelta(hours=24),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        failures: TaskFailures | None = None,
    ) -> None:
        self.store = store
        self.storage = storage
        self.period = period
        self.unattached_for = unattached_for
        self.clock = clock
        self._failures = failures or TaskFailures()
        self._last_orphan_sweep: datetime | None = None
        #: FileIDs whose objects had no record at the last listing of the storage.
        self._suspects: set[str] = set()
        #: Files removed since the start (for tests and metrics), and the bytes their
        #: records said they held (objects without a record are not measured).
        self.removed = 0
        self.removed_bytes = 0
        #: Sweeps made to the end, and when the last ended (for the metrics).
        self.runs = 0
        self.last_run: datetime | None = None
        # One sweep at a time: the retention task asks for one after deleting messages
        # that carried files (`chat.app.messages.retention`), maybe while the period's is under way.
        self._sweeping = trio.Lock()

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Sweep every `period` seconds. Runs until cancelled."""
        task_status.started()
        while True:
            await trio.sleep(self.period)
            with self._failures.contained("files", "a sweep of unneeded files"):
                await self.sweep()

    async def sweep(self) -> int:
        """Remove every file due now; how many were removed."""
        async with self._sweeping:
            return await self._sweep()

    async def _sweep(self) -> int:
        cutoff = self.clock() - self.unattached_for
        removed = 0
        while True:
            due = await self.store.collectable_files(cutoff, limit=BATCH)
            for file in due:
                if await self.store.delete_file_record(file.id):
                    await self.storage.delete(file.storage_key)
                    await self.storage.delete(file.thumbnail_key)
                    removed += 1
                    self.removed_bytes += file.size
            if len(due) < BATCH:
                break
        now = self.clock()
        if self._last_orphan_sweep is None or now - self._last_orphan_sweep >= ORPHAN_SWEEP_EVERY:
            removed += await self.sweep_orphans()
            self._last_orphan_sweep = now
        if removed:
            log.info("files removed", extra={"count": removed})
        self.removed += removed
        self.runs += 1
        self.last_run = self.clock()
        return removed

    async def sweep_orphans(self) -> int:
        """Remove stored objects (``<sha256>.<FileID>[.thumbnail]``) whose record is gone,
        and was gone at the previous call too; how many files' objects were removed."""
        by_file: dict[str, list[str]] = {}
        async for key in self.storage.keys():
            parts = key.split(".")
            if len(parts) >= 2:
                by_file.setdefault(parts[1], []).append(key)
        removed = 0
        suspects: set[str] = set()
        ids = list(by_file)
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            known = await self.store.known_files(chunk)
            for file_id in chunk:
                if file_id in known:
                    continue
                if file_id not in self._suspects:
                    suspects.add(file_id)
                    continue
                for key in by_file[file_id]:
                    await self.storage.delete(key)
                removed += 1
        self._suspects = suspects
        return removed
