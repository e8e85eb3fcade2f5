"""The publishing half of the message stream (`chat.app.messages.writer`): the position
of this instance's stream, and what was committed elsewhere that waits to be published
after it.

The writer commits this instance's messages; this part decides what is published next,
so that every connection, on every instance, sees each room's messages and changes in
the order of their positions, with no gaps and no duplicates. It is a part the writer
owns, not a task of its own: the writer's task calls its waiting methods (`catch_up`,
`publish_ours`), and the bus's task and request handlers call the others, which never
wait and `nudge` the writer's task to act on what they handed over.

Other instances' items come with the bus (`carried`) and wait, held by position
(`chat.app.messages.reorder_buffer`), for what comes before them; a gap in the positions
that the bus has not filled within `GAP_GRACE_S` (a payload lost or late, an id taken by
a transaction that rolled back) is read from the table, which stays the source of truth;
so is everything after a read marker or a wake-up that says "look" (after the bus
(re)connects). With the carrier off (``CHAT_BUS_CARRY=off``) every catch-up reads the
table.

Changes to messages (edits, deletions, reactions: `chat.app.messages.changes`) are
committed by the request that makes them, one transaction each, with a position
(`Change.seq`) from the same sequence as message ids. The request then calls
`committed`, which hands the change to the carrier and to this part as if carried:
changes join the one stream in position order, on this instance as on every other. A
member's departure from a room (`chat.store.departures`) joins it the same way, and is
handed to the broadcaster in its place between the events around it.

`position` is the position of the last message or change published. Everything
published next has a higher one, and positions commit in order (a lock, see
`Messages.add_messages` and `chat.store.Changes`), so "everything above `position`"
never skips a message that commits late: when this instance has seen N, everything below
N has committed or never will.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import trio

from chat.app.messages.broadcaster import Broadcaster, Event, Published, room_topic, topics_for
from chat.app.messages.reorder_buffer import ReorderBuffer
from chat.bus.carried import decode
from chat.core.errors import Unavailable
from chat.core.records import Change, Departure, Message, Room, StreamItem
from chat.store import Messages

if TYPE_CHECKING:
    from chat.bus.carrier import Carrier
    from chat.bus.interface import Bus
    from chat.core.observer import Observer

log = logging.getLogger(__name__)

#: The most messages read from the table in one catch-up query.
CATCH_UP_PAGE = 500
#: After a catch-up failed, the next attempt waits this long.
RETRY_S = 1.0
#: How long a gap in the positions waits for the bus to bring what fills it before the
#: table is read (a commit's payload usually arrives within a millisecond or two of the
#: next commit; a position nobody will ever fill, a rolled-back one, waits this).
GAP_GRACE_S = 0.05

#: A committed message, change or departure, its room, and the subscriber it skips
#: (None: nobody).
Publishable = tuple[StreamItem, Room, int | None]
#: Called with every batch published, in position order (`Publisher.follow`): its
#: messages and changes (departures are the broadcaster's).
Follower = Callable[[Sequence[tuple[Message | Change, Room]]], None]


class Publisher:
    """Owns the stream's position, the items handed over that wait for what comes before
    them, and the reads of the table that fill what the bus did not bring."""

    def __init__(
        self,
        store: Messages,
        broadcaster: Broadcaster,
        bus: Bus,
        *,
        carrier: Carrier | None,
        nudge: Callable[[], None],
        bus_lag_seconds: Observer | None = None,
    ) -> None:
        self._store = store
        self._broadcaster = broadcaster
        self._bus = bus
        self._carrier = carrier  # None: carrying is off, every catch-up reads the table
        # Makes the writer's task come round (it owns the queue this puts a wake-up on).
        self._nudge = nudge
        # Observed once per item caught up from another instance; never per delivery.
        self._bus_lag_seconds = bus_lag_seconds
        self._position = 0  # the last position (message id or change seq) published
        self._announced = 0  # the newest position another instance said it committed
        self._look = False  # another instance may have committed something: read the table
        self._retry_at = math.inf  # when to retry a catch-up that failed
        # Committed items handed over without a table read (carried from other instances,
        # or this instance's own changes), held until what comes before them is
        # published; `_gap_deadline` is when a gap stops waiting for the bus.
        self._handed_items = ReorderBuffer()
        self._gap_deadline = math.inf
        self._handed = trio.Event()  # set when items are handed over
        #: Table reads, by why (``gap``: nothing filled it in time, ``marker``: a read
        #: marker or a dropped payload, ``wake``: told to look, ``carry-off``: every
        #: catch-up reads, CHAT_BUS_CARRY=off), and items taken from the bus: plain
        #: counts read by `chat.app.metrics`.
        self.table_reads: dict[str, int] = {}
        self.carried_in = 0
        self._followers: list[Follower] = []

    @property
    def position(self) -> int:
        """The last position published: every message and change up to it is published."""
        return self._position

    @property
    def due(self) -> float:
        """When the writer's task must come round even with nothing queued (Trio time):
        a failed catch-up's retry, or the end of a gap's wait for the bus."""
        return min(self._retry_at, self._gap_deadline)

    @property
    def behind(self) -> bool:
        """Whether something committed elsewhere may wait to be published."""
        return self._look or self._announced > self._position or self._gap_deadline < math.inf

    async def start(self) -> None:
        """Start after the newest position already stored: older ones are history."""
        self._position = await self._store.last_position()
        self._broadcaster.start_at(self._position)

    def retry_soon(self) -> None:
        """A step of the writer failed unexpectedly: read the table in `RETRY_S`."""
        self._look = True
        self._retry_at = trio.current_time() + RETRY_S

    # --- handed over, from any task: none of these waits ---

    def wake(self, position: int | None = None) -> None:
        """Another instance has committed messages up to `position` (None: it may have):
        they are read from the table after the writer's current batch."""
        if position is None:
            self._look = True
        elif position > max(self._position, self._announced):
            self._announced = position
        else:
            return  # already published (our own commit, announced back to us)
        self._nudge()

    def carried(self, items: Sequence[tuple[StreamItem, Room]], read: int = 0) -> None:
        """Items committed elsewhere (another instance's, from the bus; or a change a
        request committed here) to publish without reading the table, once everything
        before them is published; and a read marker: positions up to `read` are to be
        read from the table."""
        top = self._handed_items.hold(items, read, published=self._position)
        if top > self._announced:
            self._announced = top
        self._handed.set()
        self._nudge()

    def on_carried_event(self, event: dict[str, object]) -> None:
        """A ``carried`` event from another instance's carrier (`chat.bus.carried`)."""
        if self._carrier is None:
            return  # CHAT_BUS_CARRY=off: their wake-ups suffice, the table has it all
        carried = decode(event)
        if carried is None:
            self.wake(None)  # malformed: whatever it held, the table has it
            return
        self.carried_in += len(carried.items)
        self.carried(carried.items, carried.read)

    def committed(self, item: Change | Departure, room: Room) -> None:
        """A request has committed `item` (a change to a message of `room`, or a member's
        departure from it): publish it here (after anything before it) and carry it to
        the other instances. With the carrier off, it is read from the table, as other
        instances' commits are."""
        if self._carrier is None:
            self.committed_up_to(item.seq)
            return
        self._carrier.carry([(item, room)])
        self.carried([(item, room)])
        self._bus.announce(item.seq)

    def committed_up_to(self, position: int) -> None:
        """Changes up to `position` were committed here (an erasure's tombstones, many
        at once): publish them from the table, and tell the other instances to read
        them too."""
        if self._carrier is not None:
            self._carrier.carry([], read=position)
            self.carried([], read=position)
        else:
            self.wake(position)
        self._bus.announce(position)

    def follow(self, follower: Follower) -> None:
        """Hand `follower` every batch published from now on, in position order, after
        the broadcaster has it (`chat.app.people.activity`). It must not wait: it runs in
        the writer's task, between two batches."""
        self._followers.append(follower)

    # --- in the writer's task ---

    async def catch_up(self) -> None:
        """Publish what other instances committed since our position, oldest first: from
        what was handed over while it fills the positions in order, else from the table,
        once a gap has waited `GAP_GRACE_S` for the bus (at once when told to look, past
        a read marker, or with the carrier off)."""
        await self._publish_handed()
        if not (self._look or self._announced > self._position):
            self._gap_deadline = math.inf
            return
        if self._look:
            why = "wake"
        elif self._handed_items.read_up_to > self._position:
            why = "marker"
        elif self._carrier is None:
            why = "carry-off"
        else:
            now = trio.current_time()
            if self._gap_deadline == math.inf:
                self._gap_deadline = now + GAP_GRACE_S
            if now < self._gap_deadline:
                return  # the bus may still bring it: the writer comes back at `due`
            why = "gap"
        self._gap_deadline = math.inf
        self._look = False
        try:
            await self._read_table(why, before=None)
        except Unavailable as error:
            detail = error.detail or error
            log.warning("cannot catch up with other instances' messages yet: %s", detail)
            self._look = True
            self._retry_at = trio.current_time() + RETRY_S
            return
        self._retry_at = math.inf

    async def publish_ours(self, ours: list[Publishable]) -> None:
        """Publish a batch this instance just committed, after anything with a lower
        position that other instances committed before it and is not published yet; then
        tell the other instances how far this one has committed."""
        first = ours[0][0].position
        if first > self._position + 1:
            await self._wait_for_handed(first)
        if first > self._position + 1:
            # A gap the bus did not fill in time: another instance's messages (or ids
            # nobody will ever commit). Every one of them has committed or rolled back
            # by now (ours had to wait for them), so one read settles it. It is read
            # however long that takes (each try is bounded by the store's query
            # timeout): publishing ours past it would skip those messages for every
            # connection here, for good. Meanwhile this instance publishes nothing new;
            # its senders wait for their answers, and resend if they give up.
            while True:
                try:
                    await self._read_table("gap", before=first)
                    break
                except Unavailable as error:
                    why = error.detail or error
                    log.warning("cannot read messages committed before ours yet: %s", why)
                    await trio.sleep(RETRY_S)
        await self._publish(ours)
        self._bus.announce(self._position)

    async def _read_table(self, why: str, *, before: int | None) -> None:
        """Read every message and change above our position (and below `before`) from
        the tables, a page at a time, and publish them; then what was handed over that
        follows them."""
        self.table_reads[why] = self.table_reads.get(why, 0) + 1
        while True:
            page = await self._store.committed_after(
                self._position, before=before, limit=CATCH_UP_PAGE
            )
            if page:
                self._observe_lag([item for item, _room in page])
                await self._publish([(item, room, None) for item, room in page])
            if len(page) < CATCH_UP_PAGE:
                break
        # What was handed over and has now been read is published already.
        self._handed_items.drop_through(self._position)
        await self._publish_handed(before=before)

    async def _publish_handed(self, *, before: int | None = None) -> None:
        """Publish the items handed over (`carried`) that follow our position without a
        gap (and come before `before`)."""
        run = self._handed_items.take_run(after=self._position, before=before)
        if run:
            self._observe_lag([item for item, _room in run])
            await self._publish([(item, room, None) for item, room in run])

    async def _wait_for_handed(self, position: int) -> None:
        """Publish what was handed over below `position` (ours, just committed), waiting
        up to `GAP_GRACE_S` for the bus to fill the gap before it; returns at once where
        nothing will come that way (the carrier off, a read marker, told to look)."""
        deadline = trio.current_time() + GAP_GRACE_S
        while True:
            await self._publish_handed(before=position)
            if self._position + 1 >= position:
                return
            marked = self._handed_items.read_up_to > self._position
            if self._carrier is None or self._look or marked:
                return
            # No await between the check above and the new event: nothing handed over
            # can slip between them.
            self._handed = trio.Event()
            with trio.move_on_at(deadline):
                await self._handed.wait()
            if trio.current_time() >= deadline:
                await self._publish_handed(before=position)
                return

    def _observe_lag(self, items: list[StreamItem]) -> None:
        """How long after being stored each message or change is published here (the
        clocks of the database and this host are assumed in step: NTP)."""
        if self._bus_lag_seconds is None:
            return
        now = time.time()
        for item in items:
            stored_at = item.created_at if isinstance(item, Message) else item.at
            self._bus_lag_seconds.observe(max(0.0, now - stored_at.timestamp()))

    async def _publish(self, items: Sequence[Publishable]) -> None:
        """Hand committed items, in position order, to the broadcaster, and move our
        position to the last: the one place the position moves forward. A change goes to
        the room's listeners only: of the dialects, only the room protocol shows
        changes. A departure goes in its place, between the events around it."""
        published: list[Published] = []
        events: list[Event] = []
        add = events.append  # the hot loop: a message's events, as the comprehension was
        for item, room, skip in items:
            if isinstance(item, Message):
                for topic in topics_for(room):
                    add(Event(topic, item, room, skip))
            elif isinstance(item, Departure):
                if events:
                    published.append(events)
                    events = []
                    add = events.append
                published.append(item)
            else:
                add(Event(room_topic(room.id), item, room, skip))
        if events:
            published.append(events)
        for batch in published:
            try:
                # No schedule point here: what one step of the writer publishes
                # (another instance's batch, then ours) is delivered together, one write
                # per connection (`Broadcaster.publish_nowait`).
                self._broadcaster.publish_nowait(batch)
            except trio.WouldBlock:
                await self._broadcaster.publish(batch)  # the fan-out is behind: wait
        self._position = items[-1][0].position
        if self._followers:
            followed: list[tuple[Message | Change, Room]] = [
                (item, room) for item, room, _skip in items if not isinstance(item, Departure)
            ]
            for follower in self._followers:
                follower(followed)
