"""`RetentionTask`: the task that deletes messages older than their room keeps them.

How long a room keeps its messages: `CHAT_RETENTION_DAYS` (unset: forever), or the
room's own ``RetentionDays`` where its owners set one, which may only shorten it (the
shorter of the two applies; with no server-wide retention, the room's alone). Expired
messages are deleted as rows, not left as tombstones: with them go their edits,
reactions, mentions, reports and file links (ON DELETE CASCADE; on SQLite their search
entries by trigger), and their files are then removed, records and bytes, by the
`FileCollector`, which this task asks for a sweep after a pass that detached some. A
reply to a deleted message keeps its ``ReplyTo`` (the browser quotes it as "an earlier
message", as one not loaded).

Batches: a room's oldest messages go a small batch per transaction (by id, from an index
range of the room's messages), so the writer (SQLite's one write lock, a PostgreSQL
row lock) is never held for long: each batch is timed, and the next one's size follows
from it, aiming at `TARGET_S`, well under the 50 ms budget, with at most `MAX_BATCH` rows;
between two batches the task sleeps as long as the last one took, so that it uses at most
half of the writer's time (it sleeps at most 0.1 s).

One instance at a time: a pass runs only while this instance holds the ``retention``
lease (a row of ``task_leases`` with an expiry, claimed at every pass and renewed during
a long one). The holder keeps it from pass to pass and gives it back when cancelled, so
another instance takes over at its next pass; if the holder dies, once the lease has
expired.

The audit log: each room that lost messages gets an entry of the pass, by the server
(``"Action": "retention"``, the room's, `NOT_A_USER` named "server"): how many messages
and files went, up to which message, older than when. It is written after the room's
last batch, not in it (the count is the batches' sum), so a pass cut short between the
two leaves the deletion unrecorded; the structured log line says it too.

Clients: each room that lost messages hears ``{"Type": "expired", "RoomID", "UpToID"}``
(every message of the room up to UpToID is gone), best-effort; history and resumes never
return deleted messages, whatever a client heard.

Error handling: a failed pass is logged and counted (`TaskFailures`) and tried again at
the next period; nothing a pass meets ends the task.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NoReturn

import trio

from chat.core import shapes
from chat.core.moderation_records import NOT_A_USER, AuditEntry, RetentionRoom
from chat.core.names import SYSTEM_NAME
from chat.core.task_failures import TaskFailures
from chat.store import Retention

log = logging.getLogger(__name__)

#: The lease's name in ``task_leases``.
LEASE = "retention"
#: What one batch should take (the writer's budget is 50 ms; half of it leaves room for a
#: slower batch before the size shrinks).
TARGET_S = 0.025
#: Batch sizes: the first, the smallest and the largest.
FIRST_BATCH = 100
MIN_BATCH = 10
MAX_BATCH = 200
#: Rooms read per query as a pass looks for expired messages.
ROOMS_PAGE = 500
#: Batches remembered for tests and diagnostics (`RetentionTask.batches`).
KEPT_BATCHES = 200


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """One batch: the size asked for, how many messages it deleted, how long the call took
    (what the size follows: queueing and commit included), and how long its transaction
    held the writer (the store's measure)."""

    room_id: int
    limit: int
    deleted: int
    seconds: float
    held_seconds: float


def effective_days(server_days: int | None, room_days: int | None) -> int | None:
    """How many days a room keeps its messages: the shorter of the server's and the
    room's (None: forever)."""
    if server_days is None:
        return room_days
    if room_days is None:
        return server_days
    return min(server_days, room_days)


def next_batch_size(size: int, seconds: float) -> int:
    """The size after a batch of `size` that took `seconds`: in proportion to how far it
    was from `TARGET_S`, at most double or half at a step, within the bounds."""
    wanted = size * 2 if seconds <= 0 else int(size * TARGET_S / seconds)
    wanted = max(size // 2, min(size * 2, wanted))
    return max(MIN_BATCH, min(MAX_BATCH, wanted))


class RetentionTask:
    """Deletes expired messages every `period` seconds, on one instance at a time."""

    def __init__(
        self,
        store: Retention,
        *,
        days: int | None,
        period: float,
        holder: str,
        after_files_detached: Callable[[], Awaitable[object]] | None = None,
        on_expired: Callable[[int, int], Awaitable[None]] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        timer: Callable[[], float] = time.perf_counter,
        failures: TaskFailures | None = None,
    ) -> None:
        self._store = store
        self.days = days
        self.period = period
        self._holder = holder
        self._after_files_detached = after_files_detached
        self._on_expired = on_expired
        self.clock = clock
        self._timer = timer
        self._failures = failures or TaskFailures()
        #: The lease lasts this long from each claim: a dead holder's task is taken over
        #: within it.
        self.lease_term = timedelta(seconds=2 * period + 60)
        #: The size of the next batch (adapts to the measured times).
        self.batch_size = FIRST_BATCH
        #: The latest batches (for tests and diagnostics).
        self.batches: deque[BatchRecord] = deque(maxlen=KEPT_BATCHES)
        #: Messages deleted since the start (for tests and metrics).
        self.deleted = 0
        #: Passes this instance made to the end holding the lease, and when the last
        #: ended (for the metrics).
        self.runs = 0
        self.last_run: datetime | None = None
        #: Whether this instance held the lease at its last pass, and since when.
        self.holding = False
        self._claimed_at = clock()

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """A pass every `period` seconds. Runs until cancelled; gives the lease back then,
        so that another instance takes over at its next pass."""
        task_status.started()
        try:
            while True:
                await trio.sleep(self.period)
                with self._failures.contained("retention", "a pass of retention"):
                    await self.sweep()
        finally:
            if self.holding:
                # Shielded and bounded: the database may be what is going away.
                with trio.move_on_after(2, shield=True):
                    await self._store.release_lease(LEASE, self._holder)
                self.holding = False

    async def sweep(self) -> int:
        """One pass, if this instance holds (or takes) the lease: every room's expired
        messages deleted. How many were."""
        if self.days is None and not await self._any_room_retention():
            # Nothing can expire (no server-wide retention, and no room has one): no
            # lease to take either.
            return 0
        if not await self._claim():
            return 0
        deleted = files = 0
        after = 0
        own_only = self.days is None
        while True:
            page = await self._store.retention_rooms(
                after=after, limit=ROOMS_PAGE, own_only=own_only
            )
            for room in page:
                room_deleted, room_files = await self._sweep_room(room)
                deleted += room_deleted
                files += room_files
                if not self.holding:
                    break  # the lease was lost during the room: the pass ends here
            if len(page) < ROOMS_PAGE or not self.holding:
                break
            after = page[-1].room_id
        if files and self._after_files_detached is not None:
            await self._after_files_detached()
        if deleted:
            log.info("expired messages deleted", extra={"count": deleted, "files": files})
        self.deleted += deleted
        if self.holding:
            self.runs += 1
            self.last_run = self.clock()
        return deleted

    async def _any_room_retention(self) -> bool:
        return bool(await self._store.retention_rooms(after=0, limit=1, own_only=True))

    async def _claim(self) -> bool:
        now = self.clock()
        self.holding = await self._store.claim_lease(
            LEASE, self._holder, now=now, until=now + self.lease_term
        )
        self._claimed_at = now
        return self.holding

    async def _sweep_room(self, room: RetentionRoom) -> tuple[int, int]:
        """Delete one room's expired messages, a batch at a time; (messages, files)."""
        days = effective_days(self.days, room.retention_days)
        if days is None or room.oldest is None:
            return 0, 0
        before = self.clock() - timedelta(days=days)
        if room.oldest >= before:
            return 0, 0
        deleted = files = last_id = 0
        while True:
            # A long pass renews the lease before half of it has gone; a lease lost
            # meanwhile (this instance was taken for dead) ends the pass.
            if self.clock() - self._claimed_at > self.lease_term / 2 and not await self._claim():
                break
            size = self.batch_size
            started = self._timer()
            batch = await self._store.delete_expired(room.room_id, before, limit=size)
            seconds = self._timer() - started
            self.batches.append(
                BatchRecord(room.room_id, size, batch.deleted, seconds, batch.held_seconds)
            )
            self.batch_size = next_batch_size(size, seconds)
            deleted += batch.deleted
            files += batch.files
            last_id = max(last_id, batch.last_id)
            if batch.done:
                break
            # The writer is others' as long as the batch took (at least a checkpoint).
            await trio.sleep(min(seconds, TARGET_S * 4))
        if deleted:
            await self._store.add_audit(
                AuditEntry(
                    room_id=room.room_id,
                    action="retention",
                    actor_id=NOT_A_USER,
                    actor_name=SYSTEM_NAME,
                    details={
                        "Messages": deleted,
                        "Files": files,
                        "UpToID": last_id,
                        "Days": days,
                        "Before": shapes.timestamp(before),
                    },
                )
            )
        if last_id and self._on_expired is not None:
            await self._on_expired(room.room_id, last_id)
        return deleted, files
