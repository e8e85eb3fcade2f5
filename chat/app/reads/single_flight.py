"""Single-flight reads: identical reads in flight at once are made once, and shared.

After an instance dies, its clients reconnect elsewhere within a second or two, and the
hundred in one room all resume from the same message: without this, each resume is a
query of its own, the same rows read a hundred times over (bench/reconnect_storm.py).
`SingleFlight.read(kind, key, read)` runs `read()` once for all the callers that ask for
the same `kind` and `key` while it runs; each gets its result, or its error. Nothing is
kept once the read ends: a caller that comes after gets a read of its own. So this is
not a cache; but a caller that joins a read may get an answer read a moment before it
asked, so the key must hold whatever makes that answer as good as its own read would be
(a resume's bounds; for "the newest N", the position this instance had delivered when
the reader asked: see `ChatService.resume` and `ChatService.history`).

Results are shared as they are, so they must not be changed by the callers: the reads
given here return frozen records in lists no caller modifies (`Message`, `Change`,
`Backlog`).

Resource handling: the read runs in a task of `run`'s nursery, not in the caller's, so
that the caller who started it can leave (its client disconnected: cancelled) without
taking the others' read with it. The task counts its waiters; when the last one leaves,
it is cancelled, so an abandoned read does not go on holding a database connection.
`run` ends (cancelled) only when the server shuts down; a waiter whose read was
cancelled under it that way reads for itself, which, the server shutting down, is
cancelled in turn.

Error handling: an `Exception` raised by the read reaches every waiter (the same
object, as `concurrent.futures` does). A `BaseException` that is not an `Exception`
(other than the task's own cancellation) is a bug, and ends `run`, and the server.

Bounds: at most `max_keys` different reads share at once; a caller past that reads on
its own (correct, just not shared), and `unshared` counts it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, NoReturn, TypeVar

import trio
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

T = TypeVar("T")

#: The most different reads in flight at once that callers may join (per instance).
MAX_KEYS = 4096


@dataclass(eq=False)
class _Flight(Generic[T]):
    """One read in flight: who waits for it, and, once `done`, what it gave."""

    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    done: trio.Event = field(default_factory=trio.Event)
    waiters: int = 0
    value: T | None = None
    error: Exception | None = None
    finished: bool = False  # `value` or `error` holds the outcome


@dataclass
class SingleFlightStats:
    """What the reads were, by kind (the key's first element): `reads` ran a read,
    `shared` joined one in flight, `unshared` read alone (past `max_keys`, or before
    `run` started)."""

    reads: dict[str, int] = field(default_factory=dict)
    shared: dict[str, int] = field(default_factory=dict)
    unshared: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def count(counter: dict[str, int], kind: str) -> None:
        counter[kind] = counter.get(kind, 0) + 1


class SingleFlight:
    """Identical concurrent reads, made once (module docstring)."""

    def __init__(self, *, max_keys: int = MAX_KEYS) -> None:
        self._max_keys = max_keys
        self._flights: dict[tuple[str, Hashable], _Flight[Any]] = {}
        self._nursery: trio.Nursery | None = None
        self.stats = SingleFlightStats()

    @property
    def in_flight(self) -> int:
        """How many different reads are in flight now."""
        return len(self._flights)

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Hold the nursery the shared reads run in. Runs until cancelled."""
        # Holds one task per read in flight; each ends when its read does, or when its
        # last waiter leaves (cancelled). Cancelled with the server.
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                self._nursery = None  # from here, callers read on their own
        raise AssertionError("unreachable: sleep_forever only ends by cancellation")

    async def read(self, kind: str, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        """`read()`'s result, shared with every caller asking for the same `kind` (a
        name, the metrics' label) and an equal `key` while it runs. The key must hold
        everything that makes two reads' answers equal. Raises what `read` raises.
        """
        key = (kind, key)
        flight: _Flight[T] | None = self._flights.get(key)
        if flight is not None:
            SingleFlightStats.count(self.stats.shared, kind)
        else:
            nursery = self._nursery
            if nursery is None or len(self._flights) >= self._max_keys:
                SingleFlightStats.count(self.stats.unshared, kind)
                return await read()
            SingleFlightStats.count(self.stats.reads, kind)
            flight = _Flight()
            self._flights[key] = flight
            nursery.start_soon(self._fly, key, flight, read)
        flight.waiters += 1
        try:
            await flight.done.wait()
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.done.is_set():
                # The last waiter left (cancelled): nobody wants the answer. Nobody may
                # join a cancelled read either, so it leaves the map now.
                self._forget(key, flight)
                flight.scope.cancel()
        if flight.error is not None:
            raise flight.error
        if not flight.finished:
            # The read was cancelled under us: `run` is ending (the server shuts down).
            # Read alone, which will be cancelled in turn, unless the caller is shielded.
            return await read()
        return flight.value  # type: ignore[return-value]  # `finished` without error: a T

    async def _fly(
        self, key: tuple[str, Hashable], flight: _Flight[T], read: Callable[[], Awaitable[T]]
    ) -> None:
        """Run one shared read, and hand its outcome to its waiters."""
        try:
            with flight.scope:
                try:
                    flight.value = await read()
                except Exception as error:  # every waiter gets it, and none is lost
                    flight.error = error
                flight.finished = True
        finally:
            # Whatever happened (done, failed, cancelled), the key is free for the next
            # read and every waiter wakes; a cancelled read leaves `finished` False.
            self._forget(key, flight)
            flight.done.set()

    def _forget(self, key: tuple[str, Hashable], flight: _Flight[Any]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]


class SingleFlightCollector(Collector):
    """``chat_shared_reads_total{kind, outcome}`` at scrape time: `outcome` is ``read``
    (a read made, shared with whoever joined), ``shared`` (joined one in flight) or
    ``unshared`` (read alone). Reads made = read + unshared; reads saved = shared."""

    def __init__(self, stats: SingleFlightStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "chat_shared_reads",
            "Resume and history reads, by kind and by whether they were made (read, alone:"
            " unshared) or joined one in flight (shared).",
            labels=["kind", "outcome"],
        )
        stats = self._stats
        for outcome, counter in (
            ("read", stats.reads),
            ("shared", stats.shared),
            ("unshared", stats.unshared),
        ):
            for kind, count in sorted(counter.items()):
                family.add_metric([kind, outcome], count)
        yield family
