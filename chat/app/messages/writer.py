"""The message stream of one instance: this instance's messages committed in batches,
other instances' taken from the bus (or read from the table), all of them published to
the broadcaster in id order, each exactly once.

One task (`MessageWriter.run`) does all of it, so there is one place that decides what
this instance delivers and in what order, and nothing to race with:

1. a client's handler calls `MessageWriter.add` and waits (or `submit`, and goes on to
   its next frame: chat messages need no answer, so a client's messages pipeline);
2. the writer task commits every message waiting, as one batch (`Messages.add_messages`:
   group commit, so a busy server pays one transaction for many messages);
3. it hands the batch to the carrier for the other instances (`chat.bus.carrier`), and
   publishes it to the broadcaster, first publishing any message another instance
   committed with a lower id, then tells the bus (`Bus.announce`);
4. it wakes each waiting handler with its stored message;
5. between batches, it publishes what other instances committed, as the bus brought it
   (`carried`), in position order.

Other instances' items come with the bus (`carried`) and wait, held by position
(`chat.app.messages.reorder_buffer`), for what comes before them; a gap in the positions that the
bus has not filled within `GAP_GRACE_S` (a payload lost or late, an id taken by a
transaction that rolled back) is read from the table, which stays the source of truth;
so is everything after a read marker or a wake-up that says "look" (after the bus
(re)connects). With the carrier off (``CHAT_BUS_CARRY=off``) every catch-up reads the
table, as before the bus carried anything.

Changes to messages (edits, deletions, reactions: `chat.app.messages.changes`) are committed
by the request that makes them, one transaction each, with a position (`Change.seq`)
from the same sequence as message ids. The request then calls `committed`, which hands
the change to the carrier and to this writer as if carried: changes join the one stream
in position order, on this instance as on every other.

`_position` is the position of the last message or change published. Everything the
writer publishes has a higher one, and positions commit in order (a lock, see
`Messages.add_messages` and `chat.store.Changes`), so "everything above `_position`"
never skips a message that commits late: when this instance has seen N, everything below
N has committed or never will. That is what makes every connection, on every instance,
see each room's messages and changes in the same order, the order of their positions,
with no gaps and no duplicates.

Messages from one client are committed and delivered in the order it sent them: its
handler takes one frame at a time and queues each message before taking the next
(`add` waits for the commit, `submit` does not), the writer takes the queue in order,
and a batch keeps that order in its ids.

Error handling: if a batch fails, it is retried one message at a time, so one bad
message (its sender deleted meanwhile, say) fails alone; every message that still fails
gets its error raised in its own handler, which answers its client. If the database is
away (`Unavailable`) the whole batch fails at once and nothing is published, so the
position stays where it was. A catch-up that fails (the database is away) is retried
`RETRY_S` later; nothing is skipped meanwhile.

A message resent with a `client_msg_id` its sender already used in that room is not
stored again: its handler gets the original, and it is not published (nobody receives
it twice).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

import trio

from chat.app.messages.broadcaster import Broadcaster, Event, room_topic, topics_for
from chat.app.messages.pending import PendingMessage
from chat.app.messages.reorder_buffer import HandedItems
from chat.bus.carried import decode
from chat.core.errors import ChatError, Unavailable
from chat.core.outgoing import OutgoingMessage
from chat.core.task_failures import TaskFailures
from chat.store import Added, Change, Message, Messages, NewMessage, Room

if TYPE_CHECKING:
    from chat.bus import Bus
    from chat.bus.carrier import Carrier
    from chat.core.observer import Observer
    from chat.store.roles import Notifications

log = logging.getLogger(__name__)

#: The most messages committed in one transaction.
MAX_BATCH = 256
#: Messages waiting for a batch; past this, handlers wait (backpressure).
QUEUE_SIZE = 1024
#: A commit that takes longer fails its batch (the database is not answering).
COMMIT_TIMEOUT_S = 10.0
#: The most messages read from the table in one catch-up query.
CATCH_UP_PAGE = 500
#: After a catch-up failed, the next attempt waits this long.
RETRY_S = 1.0
#: How long a gap in the positions waits for the bus to bring what fills it before the
#: writer reads the table (a commit's payload usually arrives within a millisecond or two
#: of the next commit; a position nobody will ever fill, a rolled-back one, waits this).
GAP_GRACE_S = 0.05


class _Wake:
    """Queued by `MessageWriter.wake` so that an idle writer looks at the table."""


_WAKE = _Wake()


class MessageWriter:
    """Owns the queue of messages to commit, the position of this instance's message
    stream, and the one task that advances it."""

    def __init__(
        self,
        store: Messages,
        broadcaster: Broadcaster,
        bus: Bus,
        *,
        carrier: Carrier | None = None,
        commit_seconds: Observer | None = None,
        bus_lag_seconds: Observer | None = None,
        failures: TaskFailures | None = None,
    ) -> None:
        self._store = store
        self._failures = failures or TaskFailures()
        self._broadcaster = broadcaster
        self._bus = bus
        # Committed items travel to the other instances with the carrier, and this
        # writer takes theirs from `carried`, unless the carrier is off (CHAT_BUS_CARRY):
        # then every instance reads every other's from the table, as before issue 27.
        self._carrier = carrier if carrier is not None and carrier.enabled else None
        # Metrics (`chat.app.metrics`): observed once per batch committed, and once per
        # message caught up from another instance; never per delivery.
        self._commit_seconds = commit_seconds
        self._bus_lag_seconds = bus_lag_seconds
        #: Messages this instance has stored (resends of a stored message not counted).
        self.stored = 0
        # Handlers (and `wake`) share the send end, which this object holds; `run` owns
        # the receive end.
        self._queue_send, self._queue_receive = trio.open_memory_channel[PendingMessage | _Wake](
            QUEUE_SIZE
        )
        self._position = 0  # the last position (message id or change seq) published
        self._announced = 0  # the newest id another instance said it committed
        self._look = False  # another instance may have committed something: read the table
        self._wake_queued = False
        self._retry_at = math.inf  # when to retry a catch-up that failed
        # Committed items handed over without a table read (carried from other instances,
        # or this instance's own changes), held until what comes before them is
        # published; `_gap_deadline` is when a gap stops waiting for the bus.
        self._handed_items = HandedItems()
        self._gap_deadline = math.inf
        self._handed = trio.Event()  # set when items are handed over
        #: Table reads, by why (``gap``: nothing filled it in time, ``marker``: a read
        #: marker or a dropped payload, ``wake``: told to look, ``carry-off``: every
        #: catch-up reads, CHAT_BUS_CARRY=off), and items taken from the bus: plain
        #: counts read by `chat.app.metrics`.
        self.table_reads: dict[str, int] = {}
        self.carried_in = 0
        self._followers: list[Callable[[Sequence[tuple[Message | Change, Room]]], None]] = []

    @property
    def position(self) -> int:
        """The last position published: every message and change up to it is published."""
        return self._position

    async def add(
        self, room: Room, sender_id: int, outgoing: OutgoingMessage, *, skip: int | None
    ) -> PendingMessage:
        """Store a message and publish it; return it once committed (`result()` is then
        ready, and `resent` says whether it was a resend).

        Raises `Unavailable` if the server is shutting down, or the error that made its
        commit fail.
        """
        pending = await self.submit(room, sender_id, outgoing, skip=skip)
        # If we are cancelled here the message may still be committed and delivered:
        # it was sent, and nothing is lost by finishing the job.
        await pending.result()
        return pending

    async def submit(
        self,
        room: Room,
        sender_id: int,
        outgoing: OutgoingMessage,
        *,
        skip: int | None,
        on_error: Callable[[BaseException], None] | None = None,
        on_resent: Callable[[Message], None] | None = None,
    ) -> PendingMessage:
        """Queue a message for the next batch and return without waiting for the commit
        (waiting only while the queue is full). A client that does not need the stored
        message back can go on to its next frame, and its messages share batches."""
        pending = PendingMessage(room, sender_id, outgoing, skip, on_error, on_resent)
        try:
            await self._queue_send.send(pending)
        except trio.BrokenResourceError:
            raise Unavailable("the server is shutting down") from None
        return pending

    def wake(self, position: int | None = None) -> None:
        """Another instance has committed messages up to `position` (None: it may have):
        the writer reads them from the table after its current batch. Never waits; the
        bus calls it from its own task."""
        if position is None:
            self._look = True
        elif position > max(self._position, self._announced):
            self._announced = position
        else:
            return  # already published (our own commit, announced back to us)
        self._queue_wake()

    def carried(self, items: Sequence[tuple[Message | Change, Room]], read: int = 0) -> None:
        """Items committed elsewhere (another instance's, from the bus; or a change a
        request committed here) to publish without reading the table, once everything
        before them is published; and a read marker: positions up to `read` are to be
        read from the table. Never waits."""
        top = self._handed_items.hold(items, read, published=self._position)
        if top > self._announced:
            self._announced = top
        self._handed.set()
        self._queue_wake()

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

    def _queue_wake(self) -> None:
        if self._wake_queued:
            return
        try:
            self._queue_send.send_nowait(_WAKE)
        except trio.WouldBlock:
            return  # busy: it looks again after the batch it is committing
        except trio.BrokenResourceError:
            return  # stopped
        self._wake_queued = True

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Commit, catch up, and publish, in id order. Runs until cancelled."""
        # Live delivery starts after the newest message already stored; older ones are
        # history.
        self._position = await self._store.last_position()
        self._broadcaster.start_at(self._position)
        async with self._queue_receive:
            task_status.started()
            try:
                while True:
                    first = None
                    # Wait for work, for the retry of a catch-up that failed, or for
                    # the end of a gap's wait for the bus.
                    with trio.move_on_at(min(self._retry_at, self._gap_deadline)):
                        first = await self._queue_receive.receive()
                    batch = [] if first is None else [first, *self._waiting(MAX_BATCH - 1)]
                    with self._failures.contained("message-writer", "a batch of messages"):
                        await self._advance(batch)
            finally:
                # Shutdown: the clients are being cancelled, but what they already sent
                # was accepted, so it is committed now (bounded); nobody is left to
                # deliver it to live, and everyone finds it in the history.
                with trio.move_on_after(COMMIT_TIMEOUT_S, shield=True):
                    while batch := self._waiting(MAX_BATCH):
                        messages = [item for item in batch if isinstance(item, PendingMessage)]
                        if messages:
                            await self._commit(messages, publish=False)

    async def _advance(self, batch: list[PendingMessage | _Wake]) -> None:
        """Commit and publish the messages in `batch`, and read what other instances
        committed if they said so. An unexpected error leaves every message of the batch
        answered (failed, if not stored) and a catch-up due in `RETRY_S`."""
        messages = [item for item in batch if isinstance(item, PendingMessage)]
        if len(messages) < len(batch):
            self._wake_queued = False
        try:
            if messages:
                await self._commit(messages)
            if self._look or self._announced > self._position or self._gap_deadline < math.inf:
                await self._catch_up()
        except Exception as error:
            for pending in messages:
                if not pending.done.is_set():
                    pending._fail(error)
                    pending.done.set()
            self._look = True
            self._retry_at = trio.current_time() + RETRY_S
            raise

    def _waiting(self, most: int) -> list[PendingMessage | _Wake]:
        """Up to `most` items already queued, without waiting."""
        batch: list[PendingMessage | _Wake] = []
        while len(batch) < most:
            try:
                batch.append(self._queue_receive.receive_nowait())
            except (trio.WouldBlock, trio.ClosedResourceError):
                break
        return batch

    async def _catch_up(self) -> None:
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
                return  # the bus may still bring it: `run` comes back at the deadline
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

    def _observe_lag(self, items: list[Message | Change]) -> None:
        """How long after being stored each message or change is published here (the
        clocks of the database and this host are assumed in step: NTP)."""
        if self._bus_lag_seconds is None:
            return
        now = time.time()
        for item in items:
            stored_at = item.created_at if isinstance(item, Message) else item.at
            self._bus_lag_seconds.observe(max(0.0, now - stored_at.timestamp()))

    async def _commit(self, batch: list[PendingMessage], *, publish: bool = True) -> None:
        rows = [NewMessage(p.room.id, p.sender_id, p.outgoing) for p in batch]
        try:
            # Shielded: a commit under way finishes even if shutdown begins (cutting it
            # could lose messages the clients were told nothing bad about); bounded, so
            # a database that stops answering fails the batch instead of hanging it.
            with trio.move_on_after(COMMIT_TIMEOUT_S, shield=True) as commit:
                started = time.perf_counter()
                added = await self._store.add_messages(rows, notify=self._carried_with(batch))
                if self._commit_seconds is not None:
                    self._commit_seconds.observe(time.perf_counter() - started)
            if commit.cancelled_caught:
                detail = f"a commit did not finish in {COMMIT_TIMEOUT_S:g} s"
                log.warning("database unavailable: %s", detail)
                raise Unavailable(detail=detail)
        except Exception as error:
            if len(batch) == 1 or isinstance(error, Unavailable):
                for pending in batch:
                    if not isinstance(error, ChatError):
                        log.error("could not store a message", exc_info=error)
                    pending._fail(error)
                    pending.done.set()
                return
            # Find the culprit: one message at a time, so the others still go through.
            for pending in batch:
                await self._commit([pending], publish=publish)
            return
        fresh = []
        for pending, item in zip(batch, added, strict=True):
            pending._stored(item.message, new=item.new)
            if item.new:
                fresh.append(pending)
        self.stored += len(fresh)
        if publish and fresh and self._carrier is not None and not self._carrier.with_commit:
            # To the other instances first: they need not wait while this one fills a
            # gap before its batch. (With PostgreSQL's bus the commit carried it.)
            self._carrier.carry([(p.message, p.room) for p in fresh if p.message is not None])
        try:
            if publish and fresh:
                await self._publish_ours(fresh)
        except trio.BrokenResourceError:
            stopping = Unavailable("the message was stored, but the server is shutting down")
            for pending in fresh:
                pending._fail(stopping)
        finally:
            for pending in batch:
                pending.done.set()

    def _carried_with(self, batch: list[PendingMessage]) -> Notifications | None:
        """What the store sends with the commit of `batch` to carry it to the other
        instances (a bus that carries with the commit: PostgreSQL), or None."""
        carrier = self._carrier
        if carrier is None or not carrier.with_commit:
            return None
        rooms = [pending.room for pending in batch]

        def notifications(added: list[Added]) -> list[tuple[str, str]]:
            fresh = [(a.message, room) for a, room in zip(added, rooms, strict=True) if a.new]
            return carrier.notifications(fresh) if fresh else []

        return notifications

    async def _publish_ours(self, fresh: list[PendingMessage]) -> None:
        """Publish a batch this instance just committed, after anything with a lower id
        that other instances committed before it and we have not published yet."""
        first = fresh[0].message
        assert first is not None
        if first.id > self._position + 1:
            await self._wait_for_handed(first.id)
        if first.id > self._position + 1:
            # A gap the bus did not fill in time: another instance's messages (or ids
            # nobody will ever commit). Every one of them has committed or rolled back
            # by now (ours had to wait for them), so one read settles it.
            with trio.move_on_after(COMMIT_TIMEOUT_S) as reading:
                while True:
                    try:
                        await self._read_table("gap", before=first.id)
                        break
                    except Unavailable as error:
                        why = error.detail or error
                        log.warning("cannot read messages committed before ours yet: %s", why)
                        await trio.sleep(RETRY_S)
            if reading.cancelled_caught:
                log.error(
                    "gave up reading messages %d-%d: they are in the history but were not "
                    "delivered live on this instance",
                    self._position + 1,
                    first.id - 1,
                )
        ours = []
        for pending in fresh:
            assert pending.message is not None
            ours.append((pending.message, pending.room, pending.skip))
        await self._publish(ours)
        self._bus.announce(self._position)

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

    async def _publish(self, items: Sequence[tuple[Message | Change, Room, int | None]]) -> None:
        """Hand committed (message or change, room, skip) triples, in position order, to
        the broadcaster, and move our position to the last: the one place the position
        moves forward. A change goes to the room's listeners only: of the dialects, only
        the room protocol shows changes."""
        events = [
            Event(topic, item, room, skip)
            for item, room, skip in items
            for topic in (topics_for(room) if isinstance(item, Message) else (room_topic(room.id),))
        ]
        try:
            # No schedule point here: what one step of the writer publishes (another
            # instance's batch, then ours) is delivered together, one write per
            # connection (`Broadcaster.publish_nowait`).
            self._broadcaster.publish_nowait(events)
        except trio.WouldBlock:
            await self._broadcaster.publish(events)  # the fan-out is behind: wait
        self._position = items[-1][0].position
        if self._followers:
            published = [(item, room) for item, room, _skip in items]
            for follower in self._followers:
                follower(published)

    def follow(self, follower: Callable[[Sequence[tuple[Message | Change, Room]]], None]) -> None:
        """Hand `follower` every batch published from now on, in position order, after
        the broadcaster has it (`chat.app.people.activity`). It must not wait: it runs in the
        writer's task, between two batches."""
        self._followers.append(follower)

    def committed(self, change: Change, room: Room) -> None:
        """A request has committed `change` to a message of `room`: publish it here
        (after anything before it) and carry it to the other instances. Never waits: the
        writer publishes it after its current batch. With the carrier off, it reads it
        from the table, as it reads other instances' commits."""
        if self._carrier is None:
            self.committed_up_to(change.seq)
            return
        self._carrier.carry([(change, room)])
        self.carried([(change, room)])
        self._bus.announce(change.seq)

    def committed_up_to(self, position: int) -> None:
        """Changes up to `position` were committed here (an erasure's tombstones, many
        at once): publish them from the table, and tell the other instances to read
        them too. Never waits."""
        if self._carrier is not None:
            self._carrier.carry([], read=position)
            self.carried([], read=position)
        else:
            self.wake(position)
        self._bus.announce(position)
