"""Point reads made at once, answered by one query: a user's row by id, a room and the
caller's membership.

Every WebSocket handshake reads the user its token names, and every `enter` the room and
the membership. One at a time that is a query each: on PostgreSQL about 110-135 us of
this process's CPU per query (asyncpg, and the crossing into its asyncio loop), the same
again for the next. When ten thousand clients reconnect together (bench/
reconnect_storm.py), those point reads were a fifth of the surviving instance's CPU.
`BatchedPointReads.get(key)` puts the key into the *open batch*; the batch's task reads every
key of a batch in one query (`WHERE id = ANY(...)`: 2-3 us a key) and wakes the callers.
While one batch is read, the next one fills, as the writer's group commit does: a lone
read waits for nothing but one pass of the scheduler, and the busier the server, the
bigger the batches.

Exact, not a cache: a caller's key goes into a batch whose query has not started, so its
answer is read after the caller asked, as its own query would be. Nothing is kept once
a batch is answered.

Resource handling: one task (`run`, a root component) reads the batches, one at a time;
callers only wait on their batch's event, so a caller that leaves (its client gone,
cancelled) takes nothing with it. When `run` ends (the server shuts down) a caller whose
batch was never answered reads alone, which is cancelled in turn.

Error handling: an `Exception` raised by a batch's read reaches every caller of that
batch (the same object, as `chat.app.reads.single_flight` does); the next batch is read as usual.

Bounds: a batch holds at most `max_batch` keys; a caller that finds the open batch full
reads alone (correct, just not batched).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, NoReturn, Protocol, TypeVar

import trio
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from chat.core.records import Room, User

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: The most keys one query reads.
MAX_BATCH = 500


@dataclass(eq=False)
class _Batch(Generic[K, V]):
    """The keys one query will read, and once `done`, what it found (or its error)."""

    keys: dict[K, None] = field(default_factory=dict)  # ordered, and each key once
    done: trio.Event = field(default_factory=trio.Event)
    found: Mapping[K, V] = field(default_factory=dict)
    error: Exception | None = None
    finished: bool = False  # `found` or `error` holds the outcome


class BatchedPointReads(Generic[K, V]):
    """Point reads of one kind, batched (module docstring). `read_many(keys)` is the
    query: the values of the keys it finds, by key; a key it does not return has none
    (`get` answers None)."""

    def __init__(
        self,
        kind: str,
        read_many: Callable[[Sequence[K]], Awaitable[Mapping[K, V]]],
        *,
        max_batch: int = MAX_BATCH,
    ) -> None:
        #: What is read (log lines, metrics).
        self.kind = kind
        self._read_many = read_many
        self._max_batch = max_batch
        self._open: _Batch[K, V] = _Batch()
        # Set when the open batch gets its first key; None while `run` is not running.
        self._filled: trio.Event | None = None
        #: Queries made (batches, and reads alone) and keys read, since the start.
        self.queries = 0
        self.keys = 0

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Read each batch as it fills, one query at a time. Runs until cancelled."""
        self._filled = trio.Event()
        task_status.started()
        try:
            while True:
                await self._filled.wait()
                # From here on, callers fill the next batch while this one is read.
                batch, self._open, self._filled = self._open, _Batch(), trio.Event()
                await self._answer(batch)
        finally:
            # Cancelled (the server shuts down): from now on callers read alone, and
            # so does whoever waits in the open batch (`get`).
            self._filled = None
            self._open.done.set()

    async def get(self, key: K) -> V | None:
        """The value `key` has now (None: it has none); raises what the query raises."""
        filled = self._filled
        batch = self._open
        if filled is None or (len(batch.keys) >= self._max_batch and key not in batch.keys):
            return await self._alone(key)
        batch.keys[key] = None
        filled.set()
        await batch.done.wait()
        if batch.error is not None:
            raise batch.error
        if not batch.finished:
            return await self._alone(key)  # `run` ended before the batch was read
        return batch.found.get(key)

    async def _answer(self, batch: _Batch[K, V]) -> None:
        """Read one batch and wake its callers, whatever happens."""
        try:
            self.queries += 1
            self.keys += len(batch.keys)
            try:
                batch.found = await self._read_many(list(batch.keys))
            except Exception as error:  # every caller of the batch gets it
                batch.error = error
            batch.finished = True
        finally:
            # Cancelled half-way, `finished` stays False and the callers read alone.
            batch.done.set()

    async def _alone(self, key: K) -> V | None:
        self.queries += 1
        self.keys += 1
        return (await self._read_many([key])).get(key)


class PointReads:
    """The point reads every connection makes, batched: the user a token names
    (`users`, for `ChatService.identify`) and a room with the caller's membership
    (`memberships`, for `ChatService.member_room`)."""

    def __init__(self, store: PointReadStore) -> None:
        self.users: BatchedPointReads[int, User] = BatchedPointReads("users", store.users_by_ids)
        self.memberships: BatchedPointReads[tuple[int, int], tuple[Room, bool]] = BatchedPointReads(
            "memberships", store.rooms_for_members
        )

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Read both kinds' batches, a task each. Runs until cancelled."""
        # Holds the two batch readers; neither returns, so it ends when cancelled.
        async with trio.open_nursery() as nursery:
            await nursery.start(self.users.run)
            await nursery.start(self.memberships.run)
            task_status.started()
        raise AssertionError("unreachable: the batch readers only end by cancellation")


class PointReadStore(Protocol):
    """What `PointReads` needs of the store."""

    async def users_by_ids(self, user_ids: Sequence[int]) -> dict[int, User]: ...

    async def rooms_for_members(
        self, pairs: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], tuple[Room, bool]]: ...


class BatchedPointReadsCollector(Collector):
    """``chat_batched_reads_queries_total{kind}`` and ``chat_batched_reads_keys_total{kind}``
    at scrape time: keys per query is how much batching saves."""

    def __init__(self, reads: PointReads) -> None:
        self._reads = (reads.users, reads.memberships)

    def collect(self) -> Iterator[Metric]:
        queries = CounterMetricFamily(
            "chat_batched_reads_queries",
            "Queries made for point reads (a user by id, a room and a membership), by kind.",
            labels=["kind"],
        )
        keys = CounterMetricFamily(
            "chat_batched_reads_keys",
            "Point reads answered by those queries, by kind (several per query when batched).",
            labels=["kind"],
        )
        for batched in self._reads:
            queries.add_metric([batched.kind], batched.queries)
            keys.add_metric([batched.kind], batched.keys)
        yield queries
        yield keys
