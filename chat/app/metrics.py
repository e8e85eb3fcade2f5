"""Prometheus metrics: one registry per server, read at scrape time.

Cost: the hot path (fan-out, posting a message) counts with plain integer additions on
the components' own fields (`BroadcastStats`, `MessageWriter.stored`,
`MessageChanges.committed`,
`WebSocketServer.sessions`, `RateLimits.refusals`); `ServerCollector` turns them into
metric families only when ``GET /metrics`` is scraped. What is observed directly is
observed far less often than a delivery: a commit latency per batch committed, a
history latency per history query, a bus lag per message caught up from another
instance, and a counter and a latency per HTTP request.

A few figures cost a trip to measure (whether the database answers, the files
directory's free space): `Metrics.refresh` measures them as a scrape begins, each within
a bound, never from a collector (`collect` runs on the Trio thread and cannot wait).

Each `serve` has a registry of its own, never prometheus-client's global one: a process
may run several servers (the tests do), and each shows only its own figures. With
``chat serve --workers N`` each worker is such a server: a scrape is answered by
whichever worker the kernel hands the connection to, and shows that worker's figures,
named by ``chat_instance_info{instance=...}`` (docs/DEPLOYMENT.md, "Metrics").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from chat.app.limits.rate_limits import RateLimits
    from chat.app.messages.broadcaster import BroadcastStats
    from chat.app.messages.changes import MessageChanges
    from chat.app.messages.writer import MessageWriter
    from chat.app.people.activity import Activity
    from chat.app.people.pusher import PushStats
    from chat.app.presence.tracker import Presence
    from chat.bus.carrier import Carrier
    from chat.bus.interface import Bus
    from chat.core.task_failures import TaskFailures
    from chat.net.admission import HandshakeGate
    from chat.store import Operations

#: The classic text format's content type, which every Prometheus (2.x and 3.x) parses.
#: Newer prometheus-client releases label the same text "version=1.0.0" (names with
#: UTF-8 characters escaped); ours are all plain, so the bytes are identical.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: The route label of requests that matched no route (the raw path would let any client
#: create a time series per URL it makes up).
UNMATCHED_ROUTE = "unmatched"

# Database round trips: from a fraction of a millisecond (SQLite, a warm PostgreSQL on
# the same host) to the 10 s after which a commit is given up (`COMMIT_TIMEOUT_S`).
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
# Bus lag: a wake-up takes a millisecond or two; seconds mean the bus or the writer lags.
_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# HTTP requests: a few ms for most routes; uploads, downloads and exports take seconds.
_HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
#: The methods the HTTP latency is labelled with; any other a client sends is ``other``.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class FrameRefusals(Protocol):
    """The per-connection frame limits' refusals, by limit (`chat.ws.session.frame_limits`)."""

    @property
    def refusals(self) -> Mapping[str, int]: ...


class WebSocketCounts(Protocol):
    """What the metrics read of the WebSocket server (`chat.ws.server.WebSocketServer`)."""

    @property
    def sessions(self) -> Mapping[str, int]: ...
    @property
    def handshakes(self) -> HandshakeGate: ...
    @property
    def frame_limits(self) -> FrameRefusals: ...


class Measured(Collector, Protocol):
    """A collector whose figures are measured as a scrape begins, within a bound of its
    own (`chat.app.upkeep_metrics`)."""

    async def measure(self) -> None: ...


class Metrics:
    """One server's registry, with the metrics components observe directly.

    Resource handling: nothing to close; the registry is garbage once the server is.
    """

    def __init__(self, instance_id: str) -> None:
        self.registry = CollectorRegistry()
        self._components: ServerCollector | None = None
        registry = self.registry

        def histogram(name: str, documentation: str, buckets: tuple[float, ...]) -> Histogram:
            return Histogram(name, documentation, buckets=buckets, registry=registry)

        #: Per batch the message writer commits.
        self.commit_seconds = histogram(
            "chat_commit_seconds", "Seconds one batch of messages took to commit.", _LATENCY_BUCKETS
        )
        #: Per history query (`History.messages_before`).
        self.history_seconds = histogram(
            "chat_history_seconds", "Seconds one history query took.", _LATENCY_BUCKETS
        )
        #: Per message another instance stored, when this one publishes it.
        self.bus_lag_seconds = histogram(
            "chat_bus_lag_seconds",
            "Seconds from another instance storing a message to this instance publishing it.",
            _LAG_BUCKETS,
        )
        self._http_requests = Counter(
            "chat_http_requests",
            "HTTP requests answered, by route template and status.",
            ["route", "status"],
            registry=registry,
        )
        self._http_seconds = Histogram(
            "chat_http_request_duration_seconds",
            "Seconds from an HTTP request's head to the last byte of its answer, by route"
            " template and method.",
            ["route", "method"],
            buckets=_HTTP_BUCKETS,
            registry=registry,
        )
        #: Measured as each scrape begins (`refresh`).
        self._before_scrape: list[Callable[[], Awaitable[None]]] = []
        instance = Info(
            "chat_instance", "Which instance (worker) answered this scrape.", registry=registry
        )
        instance.info({"instance": instance_id})
        # The process's CPU, memory and file descriptors, the Python version, and the
        # garbage collector: what prometheus-client shows in its default registry.
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)

    def count_request(self, route: str | None, status: int) -> None:
        """One HTTP request answered; `route` is the URL rule's template, None if none
        matched."""
        self._http_requests.labels(route or UNMATCHED_ROUTE, str(status)).inc()

    def observe_request(self, route: str | None, method: str, seconds: float) -> None:
        """One HTTP request's time, head to last byte (`chat.http.access_log`); `route` as
        in `count_request`. Labels stay bounded: a method of a client's own is ``other``."""
        method = method if method in _METHODS else "other"
        self._http_seconds.labels(route or UNMATCHED_ROUTE, method).observe(seconds)

    def add_measured(self, collector: Measured) -> None:
        """Show `collector`'s figures, measured as each scrape begins (`refresh`)."""
        self.registry.register(collector)
        self._before_scrape.append(collector.measure)

    async def refresh(self) -> None:
        """Measure what is measured at scrape time, one figure after the other."""
        for measure in self._before_scrape:
            await measure()

    def collect_from(self, components: ServerCollector) -> None:
        """Show what these components count, from now on; and have their store observe
        its history queries."""
        components.store.history_seconds = self.history_seconds
        self.registry.register(components)
        self._components = components

    def open_connections(self) -> Mapping[str, int]:
        """This instance's open WebSocket connections, by protocol (none before the
        components are collected from)."""
        return {} if self._components is None else dict(self._components.websocket.sessions)

    def exposition(self) -> bytes:
        """Every metric, in Prometheus's text format."""
        return generate_latest(self.registry)

    def show_build(self, version: str, revision: str) -> None:
        """``chat_build_info{version, revision} 1``: which code this instance runs, so that
        a dashboard shows which instances an upgrade has reached (`chat.server.version`;
        `revision` is "" outside a git checkout)."""
        build = Gauge(
            "chat_build_info",
            "Which code this instance runs: its version (as chat --version shows it) and"
            " git commit; always 1.",
            ["version", "revision"],
            registry=self.registry,
        )
        build.labels(version, revision).set(1)


@dataclass(frozen=True, slots=True, eq=False)
class ServerCollector(Collector):
    """Reads the components' own counters when the registry is scraped."""

    broadcast: BroadcastStats
    writer: MessageWriter
    websocket: WebSocketCounts
    rate_limits: RateLimits
    store: Operations
    failures: TaskFailures
    bus: Bus
    presence: Presence
    changes: MessageChanges
    activity: Activity
    pushes: PushStats
    carrier: Carrier

    def collect(self) -> Iterator[Metric]:
        connections = GaugeMetricFamily(
            "chat_websocket_connections",
            "Open WebSocket connections, by the protocol of the path they connected to.",
            labels=["protocol"],
        )
        for protocol, count in self.websocket.sessions.items():
            connections.add_metric([protocol], count)
        yield connections
        handshakes = self.websocket.handshakes
        yield GaugeMetricFamily(
            "chat_websocket_handshakes_in_progress",
            "WebSocket handshakes in progress (at most the bound in force).",
            handshakes.in_progress,
        )
        yield GaugeMetricFamily(
            "chat_websocket_handshakes_bound",
            "Handshakes let in at once now: CHAT_MAX_HANDSHAKES, less while they are slow.",
            handshakes.bound,
        )
        yield CounterMetricFamily(
            "chat_websocket_handshakes_turned_away",
            "Upgrades answered 503 at once because the bound's handshakes were in progress.",
            handshakes.turned_away,
        )

        yield CounterMetricFamily(
            "chat_messages_stored", "Messages this instance stored.", self.writer.stored
        )
        yield CounterMetricFamily(
            "chat_message_batches_held",
            "Commits an idle writer held up to CHAT_GATHER_MS for more messages.",
            self.writer.batches_held,
        )
        changes = CounterMetricFamily(
            "chat_message_changes",
            "Changes to messages this instance committed, by kind (edited, deleted, reactions,"
            " pins).",
            labels=["kind"],
        )
        for kind, count in self.changes.committed.items():
            changes.add_metric([kind], count)
        yield changes
        yield CounterMetricFamily(
            "chat_activity_frames",
            "Activity frames (a message in another of a user's rooms) sent to connections.",
            self.activity.frames,
        )
        yield CounterMetricFamily(
            "chat_activity_batches_dropped",
            "Thread replies whose followers activity could not look up (its queue was full).",
            self.activity.dropped,
        )
        stats = self.broadcast
        yield CounterMetricFamily(
            "chat_deliveries",
            "Messages handed to a WebSocket connection by the fan-out.",
            stats.deliveries,
        )
        yield CounterMetricFamily(
            "chat_deliveries_refused",
            "Messages the fan-out could not hand to a connection (gone, or evicted).",
            stats.refused,
        )
        yield CounterMetricFamily(
            "chat_slow_consumers_evicted",
            "Connections closed (1008) because their outgoing queue was full.",
            stats.slow_consumers_evicted,
        )

        refusals = CounterMetricFamily(
            "chat_rate_limit_refusals",
            "Actions refused by a rate limit, by limit.",
            labels=["limit"],
        )
        for limit, count in self.rate_limits.refusals.items():
            refusals.add_metric([limit], count)
        for limit, count in self.websocket.frame_limits.refusals.items():
            refusals.add_metric([limit], count)  # per connection (`chat.ws.session.frame_limits`)
        yield refusals

        failures = CounterMetricFamily(
            "chat_task_failures",
            "Errors a long-lived task survived (one event or batch each), by task.",
            labels=["task"],
        )
        for task, count in self.failures.counts.items():
            failures.add_metric([task], count)
        yield failures
        pushes = self.pushes
        yield CounterMetricFamily(
            "chat_pushes_sent", "Web Pushes a push service accepted.", pushes.sent
        )
        yield CounterMetricFamily(
            "chat_pushes_dropped",
            "Web Pushes given up: refused, or still failing (429, 5xx, no answer) after retries.",
            pushes.dropped,
        )
        yield CounterMetricFamily(
            "chat_push_subscriptions_removed",
            "Push subscriptions removed because their push service said they are gone (404, 410)"
            " or their endpoint cannot be sent to.",
            pushes.removed,
        )
        yield CounterMetricFamily(
            "chat_push_queue_dropped",
            "Messages not considered for Web Push because the pusher's queue was full.",
            pushes.queue_dropped,
        )
        dropped = CounterMetricFamily(
            "chat_bus_events_dropped",
            "Events not sent to the other instances because they were too large for the bus.",
            labels=["type"],
        )
        for kind, count in self.bus.dropped.items():
            dropped.add_metric([kind], count)
        yield dropped
        carried = CounterMetricFamily(
            "chat_bus_carried_items",
            "Committed messages and changes carried on the bus: sent to the other instances"
            " (out), given up because the bus could not take them (not_sent), taken from the"
            " other instances (in).",
            labels=["direction"],
        )
        carried.add_metric(["out"], self.carrier.items_sent)
        carried.add_metric(["not_sent"], self.carrier.items_not_sent)
        carried.add_metric(["in"], self.writer.carried_in)
        yield carried
        reads = CounterMetricFamily(
            "chat_bus_table_reads",
            "Reads of other instances' messages from the table, by why: gap (the bus did not"
            " fill one in time), marker (told to), wake (after (re)connecting, or a poll),"
            " carry-off (CHAT_BUS_CARRY=off: every catch-up).",
            labels=["reason"],
        )
        for reason, count in self.writer.table_reads.items():
            reads.add_metric([reason], count)
        yield reads
        state = self.bus.state
        connected = GaugeMetricFamily(
            "chat_bus_connected",
            "1 while the bus listens to the other instances (LISTEN, a subscription), else 0.",
            labels=["bus"],
        )
        connected.add_metric([state.kind], int(state.connected))
        yield connected
        losses = CounterMetricFamily(
            "chat_bus_connections_lost",
            "Times the bus lost its connection (closed, or silent too long) and reconnected.",
            labels=["bus"],
        )
        losses.add_metric([state.kind], state.losses)
        yield losses
        yield GaugeMetricFamily(
            "chat_cluster_instances",
            "Instances of this chat that this one has heard from lately, itself included.",
            self.presence.instance_count(),
        )

        pool = self.store.pool_usage()
        yield GaugeMetricFamily(
            "chat_database_connections", "Connections in the database pool.", pool.size
        )
        yield GaugeMetricFamily(
            "chat_database_connections_in_use",
            "Database connections running a statement now.",
            pool.in_use,
        )
        yield GaugeMetricFamily(
            "chat_database_connections_waiting",
            "Callers waiting for a free database connection now.",
            pool.waiting,
        )
