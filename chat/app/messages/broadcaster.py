"""Fan-out: who is subscribed to what, and delivering each published event to them.

Its one publisher, the writer task (`MessageWriter.run`), hands each committed batch's
events to `Broadcaster.publish`, which waits for room in the broadcaster's inbox, a
bounded channel (so a broadcaster that falls behind slows the writer, not the clients).
The broadcaster task (`Broadcaster.run`) takes out every event waiting, in order, and
offers each subscriber the encoded frames meant for it. Offering never waits: a
subscriber whose outgoing queue is full is a slow consumer; it evicts itself and
unsubscribes as it ends. Nobody else is held up by it.

Pace: a write to a socket costs a system call and the TCP stack's work whatever its size,
so fan-out steps start at least `pace` seconds apart (`CHAT_GATHER_MS`): what is published
while a step waits joins it, one write to each connection for all of it.

Ownership: the broadcaster owns the subscription map and the receive end of its inbox.
`subscribe`/`unsubscribe` are plain methods: Trio runs one task at a time and the fan-out
loop never awaits between reading the map and finishing an event, so no lock is needed.

Order: its one publisher, `MessageWriter`, publishes every committed message and change
(this instance's and, caught up from the tables, other instances') in position order, so
the broadcaster delivers in that order too, and `position` (that of the last message or
change it delivered) says exactly what a new subscriber has missed: everything up to
`position` came before it subscribed, everything after will reach it (resume,
`chat.ws.rooms`).

Departures (a member removed, banned, or leaving a group room: `Departure`) come in the
same order, each between the events before and after it: the broadcaster offers what
precedes it, then hands it to `on_departure`'s listener (`chat.app.rooms.moderation`:
the member's connections here leave the room, unsubscribing, and are told why), then
goes on. So no event positioned after a departure reaches the departed member, on any
instance, however the two were committed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn, Protocol

import trio

from chat.core.frames import text_frame
from chat.core.records import Change, Departure, Message, Room
from chat.core.task_failures import TaskFailures

#: What subscribers subscribe to: ("room", room_id), ("user", user_id), ...
Topic = tuple[str, int]


def room_topic(room_id: int) -> Topic:
    return ("room", room_id)


def user_topic(user_id: int) -> Topic:
    """Every authenticated connection of a user that speaks direct messages."""
    return ("user", user_id)


def support_topic(user_id: int) -> Topic:
    """The connections of a user that speak the support protocol."""
    return ("support", user_id)


#: The connections of every operator that speak the support protocol.
OPERATORS: Topic = ("operators", 0)


def topics_for(room: Room) -> list[Topic]:
    """Who hears of a message in `room`: the connections listening to the room, and

    - for a direct room, every connection of both users (whatever room it looks at);
    - for a support thread, the user's support connections and every operator's.
    """
    topics = [room_topic(room.id)]
    if room.kind == "direct" and room.pair is not None:
        topics.extend(user_topic(user_id) for user_id in sorted(set(room.pair)))
    elif room.kind == "support" and room.creator_id is not None:
        topics.extend((support_topic(room.creator_id), OPERATORS))
    return topics


@dataclass(frozen=True, slots=True)
class Event:
    """A committed message, or change to a message, to deliver to every subscriber of
    `topic`.

    `room` is the room the message was stored in: encoders read what they need from it
    (the other user of a direct conversation, the owner of a support thread). `skip` names
    a subscriber that must not get it (the sender's own connection, where the protocol
    says "to everyone else", or where the sender gets an answer of its own instead).
    """

    topic: Topic
    item: Message | Change
    room: Room
    skip: int | None = None


#: What the broadcaster's inbox holds: a batch of events published together, or a
#: member's departure from a room, applied between what comes before and after it.
Published = list[Event] | Departure

#: Turns an event into the text frame one protocol dialect sends, or None if that
#: dialect has no frame for it (the spec dialects show no changes to messages).
Encoder = Callable[[Event], str | None]


def _encoded(encode: Encoder, event: Event) -> bytes:
    """The frame `encode` makes of `event`; b"" when it makes none."""
    text = encode(event)
    return b"" if text is None else text_frame(text)


class Subscriber(Protocol):
    """A client connection as the broadcaster sees it."""

    id: int

    def offer(self, data: bytes) -> bool:
        """Take encoded frames without waiting. False means the subscriber is gone or has
        just evicted itself as a slow consumer: it will unsubscribe itself as it ends."""


@dataclass(eq=False, slots=True)
class Subscription:
    """One subscriber's interest in one topic. `encode` may be swapped at any time (a
    client switching dialect variants); the next event uses the new encoder."""

    subscriber: Subscriber
    topic: Topic
    encode: Encoder


#: The most events fanned out in one go.
MAX_BATCH = 256


@dataclass(slots=True)
class BroadcastStats:
    """Running totals of the fan-out, plain integers so that counting costs the hot path
    nothing more than an addition; `chat.app.metrics` reads them when it is scraped."""

    events: int = 0
    deliveries: int = 0
    refused: int = 0  # frames a subscriber would not take (gone, or just evicted)
    #: Subscribers that evicted themselves because their outgoing queue was full.
    slow_consumers_evicted: int = 0


class Broadcaster:
    """Owns the subscription map and the fan-out task."""

    def __init__(
        self, inbox_size: int = 1024, *, failures: TaskFailures | None = None, pace: float = 0.0
    ) -> None:
        self._failures = failures or TaskFailures()
        # Fan-out steps start at least `pace` seconds apart (0: as soon as events come).
        self._pace = pace
        self._next_step = -math.inf  # when the next step may start, with a pace
        # The broadcaster's inbox. Publishers share the send end (the Broadcaster closes
        # neither end before `run` exits); `run` owns and closes the receive end.
        # Items are lists of events (a batch published together is delivered together)
        # or departures.
        self._inbox_send, self._inbox_receive = trio.open_memory_channel[Published](inbox_size)
        # Told of each departure, in its place (`on_departure`).
        self._departed: Callable[[Departure], None] | None = None
        self._topics: dict[Topic, dict[Subscription, None]] = {}
        self.stats = BroadcastStats()
        #: The position of the last message or change delivered: everything up to it has
        #: been fanned out, nothing after it yet. Read it in the same step as `subscribe`
        #: (no await in between) to know where a new subscription starts.
        self.position = 0
        self._advanced: trio.Event | None = None  # set when `position` moves, if awaited

    def start_at(self, position: int) -> None:
        """Where the message stream starts (the newest message committed before it did)."""
        self.position = position

    async def wait_for_position(self, position: int) -> None:
        """Return once every message up to `position` has been delivered."""
        while self.position < position:
            if self._advanced is None:
                self._advanced = trio.Event()
            await self._advanced.wait()

    def _advance(self, position: int) -> None:
        self.position = position
        if self._advanced is not None:
            self._advanced.set()
            self._advanced = None

    def subscribe(self, topic: Topic, subscriber: Subscriber, encode: Encoder) -> Subscription:
        subscription = Subscription(subscriber, topic, encode)
        self._topics.setdefault(topic, {})[subscription] = None
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Idempotent: unsubscribing twice, or after an eviction, is fine."""
        subscribers = self._topics.get(subscription.topic)
        if subscribers is not None:
            subscribers.pop(subscription, None)
            if not subscribers:
                del self._topics[subscription.topic]

    def on_departure(self, listener: Callable[[Departure], None]) -> None:
        """Call `listener` with each departure published, in its place: after every event
        before it was offered, before any after it. It must not wait; it may unsubscribe."""
        self._departed = listener

    async def publish(self, events: Published) -> None:
        """Queue events for fan-out, as one batch (so a client that gets several of them
        gets them in one write), or a departure. Waits while the inbox is full
        (backpressure on publishers). Raises `trio.BrokenResourceError` once the
        broadcaster has stopped."""
        await self._inbox_send.send(events)

    def publish_nowait(self, events: Published) -> None:
        """`publish` without waiting: raises `trio.WouldBlock` if the inbox is full.

        Batches published one after the other this way, with no schedule point between
        them, reach `run` together, which delivers them as one (a connection gets one
        write for all of them): the writer publishes what other instances committed
        before its own batch, then its own, and `publish` would let `run` deliver the
        first alone (a send on a channel is a schedule point)."""
        self._inbox_send.send_nowait(events)

    def deliver_published(self, published: Sequence[Published]) -> None:
        """Deliver what was taken from the inbox, in order: each run of event batches
        as one (`deliver`), each departure in its place (`depart`)."""
        batch: list[Event] = []
        for item in published:
            if isinstance(item, Departure):
                self._deliver_contained(batch)
                batch = []
                self.depart(item)
            else:
                batch.extend(item)
        self._deliver_contained(batch)

    def depart(self, departure: Departure) -> None:
        """Apply a member's departure from a room (`on_departure`). Never waits."""
        if self._departed is not None:
            with self._failures.contained("broadcaster", "a member leaving a room"):
                self._departed(departure)
        self._advance(departure.position)

    def deliver(self, events: list[Event]) -> None:
        """Fan a batch of events out now. Never waits.

        Each subscriber gets all of its frames from the batch in one `offer`, so a busy
        connection takes many messages per write instead of one. Each event is encoded
        once per encoder (per dialect variant), not once per receiver.
        """
        if not events:
            return
        if len(events) == 1:
            self._deliver_one(events[0])
        else:
            self._deliver_many(events)
        # Events come in position order, so the last one is the newest delivered.
        self._advance(events[-1].item.position)

    def _deliver_many(self, events: list[Event]) -> None:
        # Per subscriber, the frames of the whole batch in order (parts joined at the end)
        # and how many they are.
        pending: dict[Subscriber, list[bytes]] = {}
        counts: dict[Subscriber, int] = {}
        start, end = 0, len(events)
        while start < end:
            # A run: consecutive events of one topic (a busy room's batch is one run).
            topic = events[start].topic
            stop = start + 1
            while stop < end and events[stop].topic == topic:
                stop += 1
            run = events[start:stop]
            start = stop
            subscriptions = self._topics.get(topic)
            if not subscriptions:
                continue
            self.stats.events += len(run)
            self._gather_run(run, subscriptions, pending, counts)
        # Offered only once every event is encoded: an encoder that raises has cost
        # nobody anything yet, and `run` delivers the batch again one event at a time.
        for subscriber, parts in pending.items():
            data = parts[0] if len(parts) == 1 else b"".join(parts)
            # A try costs nothing until it catches (Python 3.11): kept inline, as a call
            # per offer would cost the hot loop.
            try:
                accepted = subscriber.offer(data)
            except Exception as error:
                accepted = self._offer_failed(error)
            if accepted:
                self.stats.deliveries += counts[subscriber]
            else:
                self.stats.refused += counts[subscriber]

    @staticmethod
    def _gather_run(
        run: list[Event],
        subscriptions: dict[Subscription, None],
        pending: dict[Subscriber, list[bytes]],
        counts: dict[Subscriber, int],
    ) -> None:
        """Add each subscriber's frames of `run` (events of one topic) to `pending`.

        The run's frames are encoded once per encoder and joined once per encoder: every
        subscriber of that encoder is offered the same bytes, so the work per subscriber
        is a few lookups, not one per event (fanout-100's batch: 50 events to 100
        subscribers). A subscriber some event skips (its sender) gets a join of its own.
        """
        skipped = {event.skip for event in run if event.skip is not None}
        encoded: dict[Encoder, list[bytes]] = {}
        joined: dict[Encoder, tuple[bytes, int]] = {}
        for subscription in subscriptions:
            subscriber = subscription.subscriber
            encode = subscription.encode
            frames = encoded.get(encode)
            if frames is None:
                frames = encoded[encode] = [_encoded(encode, event) for event in run]
            if subscriber.id in skipped:
                own = subscriber.id
                mine = [f for f, event in zip(frames, run, strict=True) if f and event.skip != own]
                data, count = b"".join(mine), len(mine)
            else:
                shared = joined.get(encode)
                if shared is None:
                    sent = [frame for frame in frames if frame]
                    shared = joined[encode] = (b"".join(sent), len(sent))
                data, count = shared
            if not count:
                continue
            parts = pending.get(subscriber)
            if parts is None:
                pending[subscriber] = [data]
                counts[subscriber] = count
            else:
                parts.append(data)
                counts[subscriber] += count

    def _deliver_one(self, event: Event) -> None:
        """`deliver` for a batch of one event (a quiet server, a big room): the same, but
        offering each frame as it goes, without gathering frames per subscriber first."""
        subscriptions = self._topics.get(event.topic)
        if not subscriptions:
            return
        self.stats.events += 1
        frames: dict[Encoder, bytes] = {}
        delivered = refused = 0
        for subscription in subscriptions:
            subscriber = subscription.subscriber
            if subscriber.id == event.skip:
                continue
            encode = subscription.encode
            frame = frames.get(encode)
            if frame is None:
                frame = frames[encode] = _encoded(encode, event)
            if not frame:
                continue
            try:
                accepted = subscriber.offer(frame)
            except Exception as error:
                accepted = self._offer_failed(error)
            if accepted:
                delivered += 1
            else:
                refused += 1
        self.stats.deliveries += delivered
        self.stats.refused += refused

    def _offer_failed(self, error: Exception) -> bool:
        """A subscriber's `offer` raised (a bug): counted as refused, so that the other
        subscribers still get theirs and none gets a frame twice. Returns False."""
        self._failures.record("broadcaster", "offering frames to a connection", error)
        return False

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Deliver published events in the order they were published. Runs until cancelled.

        Each wake-up takes every batch waiting in the inbox (up to about `MAX_BATCH`
        events): under load, events arrive faster than one at a time, and a batch costs
        little more to fan out than a single event.
        """
        async with self._inbox_receive:
            task_status.started()
            async for first in self._inbox_receive:
                if self._pace:
                    # A checkpoint even when no wait is due, so that the path has the
                    # same checkpoints whatever the timing. What is published while it
                    # waits joins this step: one write to each connection for all of
                    # it. Cancelled here (shutdown), the events taken are dropped with
                    # the connections they were for.
                    await trio.sleep_until(self._next_step)
                    started, delivered = trio.current_time(), self.stats.deliveries
                published = [first]
                taken = 1 if isinstance(first, Departure) else len(first)
                while taken < MAX_BATCH:
                    try:
                        more = self._inbox_receive.receive_nowait()
                    except trio.WouldBlock:
                        break
                    published.append(more)
                    taken += 1 if isinstance(more, Departure) else len(more)
                self.deliver_published(published)
                if self._pace and self.stats.deliveries != delivered:
                    # Only a step that wrote holds the next one back: events nobody
                    # listens to are no reason to delay the next that someone does.
                    self._next_step = started + self._pace
        raise AssertionError("the inbox send end is never closed while run() is running")

    def _deliver_contained(self, batch: list[Event]) -> None:
        """`deliver`, an encoder that raises costing only its own event."""
        if not batch:
            return
        try:
            self.deliver(batch)
        except Exception as error:
            self._failures.record("broadcaster", "encoding a fan-out batch", error)
            # Nothing of it was offered (see `_deliver_many`): each event again on its
            # own, so that only the one that cannot be encoded is lost.
            for event in batch if len(batch) > 1 else ():
                with self._failures.contained("broadcaster", "encoding an event"):
                    self._deliver_one(event)
            # Past it, too: what was not delivered live is in the history, and nobody
            # waits for it forever.
            self._advance(batch[-1].item.position)
