"""The message stream of one instance: this instance's messages committed in batches,
other instances' taken from the bus (or read from the table), all of them published to
the broadcaster in position order, each exactly once.

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

The work is split in two, so that each half reads on its own: `MessageWriter` owns the
queue of messages to commit, the task, and the commits (steps 1-4); `Publisher`
(`chat.app.messages.publisher`), a part it owns with no task of its own, owns the
stream's position and what was committed elsewhere (step 5, and what comes before our
batch in step 3): which items wait for which, when the table is read instead, and why
that keeps every instance's order the same. The publisher's entry points (`wake`,
`carried`, `committed`, `follow`...) are reached through the writer, the one object the
rest of the server wires.

Messages from one client are committed and delivered in the order it sent them: its
handler takes one frame at a time and queues each message before taking the next
(`add` waits for the commit, `submit` does not), the writer takes the queue in order,
and a batch keeps that order in its ids.

Error handling: if a batch fails, it is retried one message at a time, so one bad
message (its sender deleted meanwhile, say) fails alone; every message that still fails
gets its error raised in its own handler, which answers its client. If the database is
away (`Unavailable`) the whole batch fails at once and nothing is published, so the
position stays where it was. A catch-up that fails (the database is away) is retried
`chat.app.messages.publisher.RETRY_S` later; nothing is skipped meanwhile.

A message resent with a `client_msg_id` its sender already used in that room is not
stored again: its handler gets the original, and it is not published (nobody receives
it twice).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

import trio

from chat.app.messages.broadcaster import Broadcaster
from chat.app.messages.gathering import Gathering
from chat.app.messages.pending import PendingMessage
from chat.app.messages.publisher import Follower, Publishable, Publisher
from chat.core.errors import ChatError, Unavailable
from chat.core.outgoing import OutgoingMessage
from chat.core.records import Added, Change, Departure, Message, NewMessage, Room, StreamItem
from chat.core.task_failures import TaskFailures
from chat.store import Messages
from chat.store.connection_slots import on_message_lane

if TYPE_CHECKING:
    from chat.bus.carrier import Carrier
    from chat.bus.interface import Bus
    from chat.core.observer import Observer
    from chat.store.roles import Notifications

log = logging.getLogger(__name__)

#: The most messages committed in one transaction.
MAX_BATCH = 256
#: Messages waiting for a batch; past this, handlers wait (backpressure).
QUEUE_SIZE = 1024
#: A commit that takes longer fails its batch (the database is not answering).
COMMIT_TIMEOUT_S = 10.0


class _Wake:
    """Queued by the publisher (`MessageWriter._queue_wake`) so that an idle writer looks
    at what was handed over, or at the table."""


_WAKE = _Wake()


class MessageWriter:
    """Owns the queue of messages to commit, the one task that commits them and advances
    the stream, and the part that publishes it (`Publisher`)."""

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
        gather_window: float = 0.0,
    ) -> None:
        self._store = store
        self._failures = failures or TaskFailures()
        # Committed items travel to the other instances with the carrier, and this
        # instance takes theirs from `carried`, unless the carrier is off
        # (CHAT_BUS_CARRY): then every instance reads every other's from the table.
        self._carrier = carrier if carrier is not None and carrier.enabled else None
        # Metrics (`chat.app.metrics`): observed once per batch committed, never per
        # delivery.
        self._commit_seconds = commit_seconds
        #: Messages this instance has stored (resends of a stored message not counted).
        self.stored = 0
        # Handlers (and the publisher's wake-ups) share the send end, which this object
        # holds; `run` owns the receive end.
        self._queue_send, self._queue_receive = trio.open_memory_channel[PendingMessage | _Wake](
            QUEUE_SIZE
        )
        self._wake_queued = False
        self._gathering = Gathering(gather_window)
        self._stored: list[Callable[[Sequence[tuple[Message, Room]]], None]] = []
        self._publisher = Publisher(
            store,
            broadcaster,
            bus,
            carrier=self._carrier,
            nudge=self._queue_wake,
            bus_lag_seconds=bus_lag_seconds,
        )

    @property
    def position(self) -> int:
        """The last position published: every message and change up to it is published."""
        return self._publisher.position

    @property
    def batches_held(self) -> int:
        """Batches an idle writer held for more messages to join (`Gathering`)."""
        return self._gathering.held

    @property
    def table_reads(self) -> dict[str, int]:
        """Reads of the table for other instances' commits, by why (`Publisher`)."""
        return self._publisher.table_reads

    @property
    def carried_in(self) -> int:
        """Items taken from the bus (`Publisher`)."""
        return self._publisher.carried_in

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

    # --- the publisher's entry points (see `Publisher`): none of them waits ---

    def wake(self, position: int | None = None) -> None:
        """Another instance has committed up to `position` (None: it may have); the bus
        calls it from its own task."""
        self._publisher.wake(position)

    def carried(self, items: Sequence[tuple[StreamItem, Room]], read: int = 0) -> None:
        """Items committed elsewhere to publish without reading the table, and a read
        marker (`Publisher.carried`)."""
        self._publisher.carried(items, read)

    def on_carried_event(self, event: dict[str, object]) -> None:
        """A ``carried`` event from another instance's carrier (`chat.bus.carried`)."""
        self._publisher.on_carried_event(event)

    def committed(self, item: Change | Departure, room: Room) -> None:
        """A request has committed a change to a message of `room`, or a member's
        departure from it (`Publisher.committed`)."""
        self._publisher.committed(item, room)

    def committed_up_to(self, position: int) -> None:
        """Changes up to `position` were committed here (`Publisher.committed_up_to`)."""
        self._publisher.committed_up_to(position)

    def follow(self, follower: Follower) -> None:
        """Hand `follower` every batch published from now on (`Publisher.follow`)."""
        self._publisher.follow(follower)

    def tell_stored(self, told: Callable[[Sequence[tuple[Message, Room]]], None]) -> None:
        """After each commit, tell `told` the messages it stored (new ones, with their
        rooms; each once in a cluster: `chat.app.messages.thread_summaries`,
        `chat.app.messages.link_previews`, `chat.app.commands.dispatch`'s trigger
        words). It must not wait."""
        self._stored.append(told)

    def _queue_wake(self) -> None:
        """Make an idle `run` come round to what the publisher was handed."""
        if self._wake_queued:
            return
        try:
            self._queue_send.send_nowait(_WAKE)
        except trio.WouldBlock:
            return  # busy: it looks again after the batch it is committing
        except trio.BrokenResourceError:
            return  # stopped
        self._wake_queued = True

    # --- the task ---

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Commit, catch up, and publish, in position order. Runs until cancelled.

        Its database calls are on the message lane (`chat.store.connection_slots`):
        every message waits on them, and none should queue behind a storm of reads."""
        with on_message_lane():
            await self._run(task_status)

    async def _run(self, task_status: trio.TaskStatus[None]) -> NoReturn:
        await self._publisher.start()
        async with self._queue_receive:
            task_status.started()
            # Taken from the queue and not yet advanced: a batch held for more to join
            # it is committed at shutdown like everything still queued.
            taken: list[PendingMessage | _Wake] = []
            try:
                while True:
                    first = None
                    idle = self._queue_receive.statistics().current_buffer_used == 0
                    # Wait for work, for the retry of a catch-up that failed, or for
                    # the end of a gap's wait for the bus.
                    with trio.move_on_at(self._publisher.due):
                        first = await self._queue_receive.receive()
                    taken = [] if first is None else [first, *self._waiting(MAX_BATCH - 1)]
                    await self._gather(taken, idle=idle)
                    batch, taken = taken, []
                    with self._failures.contained("message-writer", "a batch of messages"):
                        await self._advance(batch)
            finally:
                # Shutdown: the clients are being cancelled, but what they already sent
                # was accepted, so it is committed now (bounded); nobody is left to
                # deliver it to live, and everyone finds it in the history.
                with trio.move_on_after(COMMIT_TIMEOUT_S, shield=True):
                    while batch := taken or self._waiting(MAX_BATCH):
                        taken = []
                        messages = [item for item in batch if isinstance(item, PendingMessage)]
                        if messages:
                            await self._commit(messages, publish=False)

    async def _advance(self, batch: list[PendingMessage | _Wake]) -> None:
        """Commit and publish the messages in `batch`, and publish what other instances
        committed if there is any. An unexpected error leaves every message of the batch
        answered (failed, if not stored) and a catch-up due soon (`Publisher.retry_soon`)."""
        messages = [item for item in batch if isinstance(item, PendingMessage)]
        if len(messages) < len(batch):
            self._wake_queued = False
        try:
            if messages:
                await self._commit(messages)
            if self._publisher.behind:
                await self._publisher.catch_up()
        except Exception as error:
            for pending in messages:
                if not pending.done.is_set():
                    pending._fail(error)
                    pending.done.set()
            self._publisher.retry_soon()
            raise

    async def _gather(self, taken: list[PendingMessage | _Wake], *, idle: bool) -> None:
        """Count the messages `taken`; if the writer was idle and they are fewer than
        the arrival rate promises within the gathering window, wait out the window and
        add what arrived meanwhile (`chat.app.messages.gathering`)."""
        count = sum(1 for item in taken if isinstance(item, PendingMessage))
        if not count:
            return
        now = trio.current_time()
        self._gathering.arrived(count, now)
        until = self._gathering.hold_until(count, now) if idle else None
        if until is None:
            return
        # Cancellation here (shutdown) leaves `taken` to `_run`'s last commit.
        await trio.sleep_until(until)
        more = self._waiting(MAX_BATCH - len(taken))
        taken.extend(more)
        self._gathering.arrived(
            sum(1 for item in more if isinstance(item, PendingMessage)), trio.current_time()
        )

    def _waiting(self, most: int) -> list[PendingMessage | _Wake]:
        """Up to `most` items already queued, without waiting."""
        batch: list[PendingMessage | _Wake] = []
        while len(batch) < most:
            try:
                batch.append(self._queue_receive.receive_nowait())
            except (trio.WouldBlock, trio.ClosedResourceError):
                break
        return batch

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
        ours: list[Publishable] = [
            (p.message, p.room, p.skip) for p in fresh if p.message is not None
        ]
        if publish and ours and self._carrier is not None and not self._carrier.with_commit:
            # To the other instances first: they need not wait while this one fills a
            # gap before its batch. (With PostgreSQL's bus the commit carried it.)
            self._carrier.carry([(item, room) for item, room, _skip in ours])
        try:
            if publish and ours:
                await self._publisher.publish_ours(ours)
        except trio.BrokenResourceError:
            stopping = Unavailable("the message was stored, but the server is shutting down")
            for pending in fresh:
                pending._fail(stopping)
        finally:
            for pending in batch:
                pending.done.set()
            # Their threads' summaries count them next, their links are previewed... (each
            # told in `tell_stored`'s order).
            stored = [(p.message, p.room) for p in fresh if p.message is not None]
            for told in self._stored if stored else ():
                told(stored)

    def _carried_with(self, batch: list[PendingMessage]) -> Notifications | None:
        """What the store sends with the commit of `batch` to carry it to the other
        instances (a bus that carries with the commit: PostgreSQL), or None."""
        carrier = self._carrier
        if carrier is None or not carrier.with_commit:
            return None
        rooms = [pending.room for pending in batch]

        def notifications(added: list[Added]) -> list[tuple[str, str]]:
            fresh: list[tuple[StreamItem, Room]] = [
                (a.message, room) for a, room in zip(added, rooms, strict=True) if a.new
            ]
            return carrier.notifications(fresh) if fresh else []

        return notifications
