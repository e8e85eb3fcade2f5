"""The bus's interface: how the instances of one chat tell each other that messages were
committed.

Several `chat serve` processes on one PostgreSQL database are one chat. Each commits its
own clients' messages and fans them out to its own connections; the bus is how the
others learn that there is something new, and what. Two things travel on it:

- *wake-ups*: "positions up to N are committed" (on PostgreSQL the commit itself sends
  it, a trigger's NOTIFY; on Redis the committing instance publishes it);
- *the committed items themselves* (`chat.bus.carrier`, `chat.bus.carried`): each
  instance sends what it commits, and the others publish it without reading the table.

The messages table stays the source of truth. A woken instance whose positions have a
gap that no carried payload fills in time reads the gap from the table
(`MessageWriter.wake`, `MessageWriter.carried`). So a payload or a wake-up that is lost (a
listener reconnecting, Redis restarting) loses nothing: the next one, or the catch-up
every bus does after it (re)connects, reads the same rows.

Implementations, one module each, behind one interface (`Bus`), that do not know each
other; `chat.bus.opening.open_bus` picks the one the configuration names:

- `LocalBus` (`chat.bus.local`): one instance (SQLite): nobody to tell.
- `PostgresBus` (`chat.bus.postgres`, the default on PostgreSQL): LISTEN/NOTIFY on a
  connection of its own. The database itself announces each commit (a trigger).
- `RedisBus` (`chat.bus.redis`, ``CHAT_BUS_URL=redis://...``): Redis pub/sub through
  coredis, for more instances than PostgreSQL's notifications comfortably wake.

The bus also carries events that are not stored (`send_event`): those reach the
instances listening at the time, and nobody else. Each is a JSON object with a ``"type"``;
`route_events` hands each to the component that handles its type (``tokens-revoked``:
`chat.app.accounts.revocations`). Like a wake-up, an event may be lost, so what it announces must
also be found some other way (the revocation sweep reads the table every few seconds).

Size: an event travels as one message, and PostgreSQL's NOTIFY takes less than 8000
bytes, so every bus refuses events over `MAX_PAYLOAD_BYTES` the same way: the event is
dropped, logged and counted (`Envelope.dropped`, ``chat_bus_events_dropped_total``),
never raised (a raise in a root task would stop the instance). Whoever sends events that
could grow (rate-limit counts, presence snapshots) splits them below that size first.

Ownership: a bus owns its connections; `run` opens them, reconnects them, and closes them
when it is cancelled. It is a child of the root nursery (`chat.server.serving.serve`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

import trio

from chat.core.errors import Unavailable

if TYPE_CHECKING:
    from chat.bus.carried import Payload
    from chat.core.task_failures import TaskFailures

#: Called by a bus when another instance has committed messages up to this id, or with
#: None when it may have (after connecting): the writer then catches up from the table.
#: It must not block: the bus calls it from its own task.
Wake = Callable[[int | None], None]

#: Called with each event another instance sent with `Bus.send_event`. Must not block.
EventSink = Callable[[dict[str, Any]], None]

#: Waits between reconnection attempts: doubling from the first to the last.
RECONNECT_FIRST_S = 0.1
RECONNECT_MAX_S = 5.0

#: A bus connection that has not proved itself alive for this long is taken for dead and
#: replaced, even if its socket never closes (a partition, a broker that hangs): the
#: PostgreSQL bus's keep-alive query, the Redis bus's heartbeat.
SILENCE_S = 5.0
#: How long one publish may take before the bus counts as unavailable for it.
PUBLISH_TIMEOUT_S = 2.0


class Bus(Protocol):
    """What `chat.server.serving.serve` and `MessageWriter` need from a bus."""

    #: What it is, for the log ("PostgreSQL LISTEN/NOTIFY", "Redis at host:port").
    description: str
    #: Events dropped as too large for the bus, by type (read by `chat.app.metrics`).
    dropped: dict[str, int]
    #: Whether it carries committed items to other instances (`chat.bus.carrier`): not
    #: the local bus, which has nobody to carry them to.
    carries: bool
    #: The longest payload it takes (`send_carried` payloads are packed below it).
    max_payload_bytes: int
    #: Whether a committed batch's payloads go with the commit itself (`notification`,
    #: sent by the store in the same trip: PostgreSQL) rather than through `send_carried`.
    carries_with_commit: bool
    #: Whether it listens now, and how often it lost its connection (`chat.app.metrics`).
    state: BusState

    def announce(self, position: int) -> None:
        """This instance has committed (and delivered) messages up to `position`: tell the
        others. Never waits; a bus that cannot tell them now tells them later."""

    async def send_event(self, event: dict[str, Any]) -> None:
        """Send an event that is not stored to the other instances listening now. Raises
        `chat.core.errors.Unavailable` if the bus cannot take it now; an event too large for
        the bus is dropped and counted instead (see the module)."""

    async def send_carried(self, payload: Payload) -> None:
        """Send committed items (`chat.bus.carrier`) to the other instances listening now,
        as a ``carried`` event. Raises `chat.core.errors.Unavailable` if the bus cannot take
        it now."""

    def notification(self, payload: Payload) -> tuple[str, str]:
        """`payload` as the (channel, payload) of a notification the store sends with a
        commit (`carries_with_commit` buses only)."""

    def send_when_stopping(self, event: dict[str, Any]) -> None:
        """Send `event` as `run`'s last act when it is cancelled, before the bus lets go
        of its connection (best effort, `send_last_words`): a goodbye, for instance."""

    async def run(
        self,
        wake: Wake,
        on_event: EventSink | None = None,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> NoReturn:
        """Connect, report started once other instances' commits will wake us, and keep
        listening (reconnecting as needed, catching up after each reconnection). Raises
        `chat.core.errors.Unavailable` if it cannot connect at all at start. Runs until
        cancelled."""


@dataclass(slots=True)
class BusState:
    """Whether a bus listens to the other instances now (its connection is up: LISTEN
    done, subscribed), and how many times it lost that connection since the start. Read
    by the metrics (``chat_bus_connected``, ``chat_bus_connections_lost_total``)."""

    #: Which bus: ``local``, ``postgres``, ``redis`` (the metrics' label).
    kind: str
    connected: bool = False
    losses: int = 0

    def listening(self) -> None:
        self.connected = True

    def lost(self) -> None:
        """The connection is gone (or never came up): counted once per loss."""
        if self.connected:
            self.losses += 1
        self.connected = False


log = logging.getLogger(__name__)

#: How long a request waits for the bus to take an event (`tell_others`); past it, the
#: other instances go without this one.
EVENT_TIMEOUT_S = 2.0


async def tell_others(bus: Bus, event: dict[str, Any], *, what: str) -> None:
    """Send `event` to the other instances from a request's task, best effort: it waits
    at most `EVENT_TIMEOUT_S`, and a bus that cannot take it is logged (as `what` "not
    sent to other instances"), never raised: the request that caused it does not fail."""
    with trio.move_on_after(EVENT_TIMEOUT_S) as sending:
        try:
            await bus.send_event(event)
        except Unavailable as error:
            log.warning("%s not sent to other instances: %s", what, error)
    if sending.cancelled_caught:
        log.warning("%s not sent to other instances: timed out", what)


#: How long a stopping bus tries to send its last words; a dying broker must not hold the
#: shutdown.
LAST_WORDS_TIMEOUT_S = 1.0


async def send_last_words(
    events: list[dict[str, Any]], send: Callable[[dict[str, Any]], Awaitable[None]]
) -> None:
    """Send `events` with `send` from a bus's `run` as it ends: shielded, since it ends by
    being cancelled; bounded by `LAST_WORDS_TIMEOUT_S`; a failure is logged, never raised."""
    with trio.CancelScope(shield=True), trio.move_on_after(LAST_WORDS_TIMEOUT_S):
        for event in events:
            try:
                await send(event)
            except Unavailable as error:
                log.info("last words not sent to other instances: %s", error)
                return


def route_events(
    handlers: Mapping[str, EventSink], failures: TaskFailures | None = None
) -> EventSink:
    """An event sink that hands each event to the handler for its ``"type"``. Events of
    other types (from a newer instance, during a rolling upgrade) are ignored. A handler
    that raises is contained (`chat.core.task_failures`): the bus's task goes on with the
    next event instead of ending the instance."""

    def route(event: dict[str, Any]) -> None:
        kind = event.get("type")
        handler = handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            return
        if failures is None:
            handler(event)
            return
        with failures.contained(f"bus event {kind}", "handling an event from another instance"):
            handler(event)

    return route


#: The longest payload any bus carries: PostgreSQL's NOTIFY takes less than 8000 bytes.
#: Payloads are JSON with every non-ASCII character escaped, so characters are bytes.
MAX_PAYLOAD_BYTES = 7900
#: The longest event type said in a log line or a metric label.
_MAX_TYPE_CHARS = 40


class Envelope:
    """How one instance's events travel: with which chat and which instance sent them,
    as JSON of at most `MAX_PAYLOAD_BYTES`; and how received ones are opened."""

    def __init__(
        self, cluster_id: str, instance_id: str, max_bytes: int = MAX_PAYLOAD_BYTES
    ) -> None:
        self._cluster_id = cluster_id
        self._instance_id = instance_id
        self.max_bytes = max_bytes
        # Every payload starts the same way; `seal_carried` builds its payloads on it.
        self._head = json.dumps({"cluster": cluster_id, "origin": instance_id})[:-1]
        #: Events dropped as too large, by type.
        self.dropped: dict[str, int] = {}

    def seal(self, event: dict[str, Any]) -> str | None:
        """`event` as a payload, or None (dropped, logged and counted) if it is too large
        for the bus."""
        payload = json.dumps(
            {"cluster": self._cluster_id, "origin": self._instance_id, "event": event}
        )
        if len(payload) <= self.max_bytes:
            return payload
        kind = str(event.get("type"))[:_MAX_TYPE_CHARS]
        self.dropped[kind] = self.dropped.get(kind, 0) + 1
        log.warning(
            "bus: a %s event of %d bytes is too large for the bus (at most %d): not sent",
            kind,
            len(payload),
            self.max_bytes,
        )
        return None

    def seal_carried(self, payload: Payload) -> str:
        """A ``carried`` event as a payload, its items spliced in as `pack` encoded them
        (no second encoding). `pack` keeps it within `max_bytes`."""
        read = f',"read":{payload.read}' if payload.read else ""
        items = ",".join(payload.texts)
        return f'{self._head},"event":{{"type":"carried"{read},"items":[{items}]}}}}'

    def open(self, payload: str | bytes) -> dict[str, Any] | None:
        """The event in `payload`, or None if it is another chat's, our own, or not one."""
        if isinstance(payload, str) and payload.startswith(self._head):
            # Our own, heard back (NOTIFY reaches every listener, the sender's too): a
            # payload of carried messages is up to 8,000 bytes not worth parsing.
            return None
        try:
            envelope = json.loads(payload)
            if envelope["cluster"] != self._cluster_id or envelope["origin"] == self._instance_id:
                return None
            event = envelope["event"]
        except (ValueError, TypeError, KeyError):
            return None
        return event if isinstance(event, dict) else None
