"""The pusher: pushes each new message to the browsers of the users who are away and
whose level asks for it, outside the fan-out path.

The message writer hands every batch it publishes (this instance's messages and the
others') to `offer` (a follower, `MessageWriter.follow`), which never waits: while nobody
at all has a subscription it does nothing (a flag, refreshed every `REFRESH_S` seconds
and set at once when a browser registers here); otherwise it puts each message in a
bounded queue, or drops and counts it (`PushStats.queue_dropped`) if the queue is full.
Fan-out never waits for a push.

`Pusher.run`, one task, takes the queue in order, a batch at a time (what is waiting, up
to `MAX_BATCH`: under load the database is asked once per room of the batch, not once
per message). For each room it asks, in one query, for the subscriptions of everyone who
may read it and whose level there could ask for these messages (`Push.push_candidates`),
and keeps, for each message, those whose level does ask for it (`wants_push`: never the
sender; "mentions" only if it mentions them; a thread reply not sent to the room, at
"all", only for its thread's followers, read in one query per batch that has anyone
to push to, `Threads.thread_follows`). An edit that newly mentions someone
(`Change.newly`) is pushed to them alone, as the message now is. The messages that
someone should hear of are claimed in one statement (`Push.claim_pushes`): every
instance sees every message, and only the one whose claim is first pushes it, so each
message is pushed once in a cluster. The winner leaves out the users who are online
(`Presence.is_online`, cluster-wide: a user is online while a WebSocket of theirs is
authenticated on any instance; what other instances see arrives by the bus, so it lags
by up to a moment) and those whose status says "do not disturb" (`Statuses`, which
every instance knows), and starts one delivery per subscription.

Deliveries run in the pusher's nursery, at most `CONCURRENCY` at once (the task waits
for a free slot before starting another, so the queue, not memory, absorbs a burst).
Each is bounded by `SEND_TIMEOUT_S` per attempt; a push service answering 429 or 5xx (or
not answering) is tried again after `RETRY_DELAYS_S` (or its Retry-After), then the push
is dropped and counted. A subscription answered 404 or 410 is removed, and so is one
whose endpoint no request can be sent to (`chat.push.sender`).

Resource handling: `run` owns the queue's receive end, the HTTP client and the nursery;
cancelling it ends them all (deliveries under way are cancelled: a push is a courtesy,
the message itself is in the history). Claims older than `CLAIM_KEEP_S` are pruned; a
message older than `MAX_AGE_S` when it reaches the pusher is not pushed.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, NoReturn, Protocol

import httpx
import trio

from chat.app.people.notification_levels import default_level, wants_push
from chat.core.errors import Unavailable
from chat.core.records import Change, Message, PushCandidate, PushSubscription, Room
from chat.core.task_failures import TaskFailures
from chat.core.thread_records import ThreadFollows
from chat.push.payload import push_payload, urgency
from chat.push.sender import Outcome, PushSender
from chat.store import Changes, Push, Threads

if TYPE_CHECKING:
    from chat.app.presence.tracker import Presence

log = logging.getLogger(__name__)

#: Messages waiting for the pusher; past this, new ones are dropped (and counted).
QUEUE_SIZE = 1024
#: The most messages considered together (one candidate query per room among them).
MAX_BATCH = 256
#: Pushes being sent at once.
CONCURRENCY = 16
#: How long one attempt at a push may take, connecting included.
SEND_TIMEOUT_S = 10.0
#: The waits between attempts at a push its service answered 429 or 5xx.
RETRY_DELAYS_S = (1.0, 2.0, 4.0)
#: How often the "does anybody have a subscription" flag is read from the database.
REFRESH_S = 2.0
#: Messages older than this when they reach the pusher are not pushed (a late catch-up).
MAX_AGE_S = 300.0
#: Claims are kept this long, then pruned (every `PRUNE_S`).
CLAIM_KEEP_S = 3600.0
PRUNE_S = 600.0


@dataclass
class PushStats:
    """What /metrics reports of the pusher."""

    #: Pushes a push service accepted.
    sent: int = 0
    #: Pushes given up: still refused (429, 5xx, no answer) after the retries, or
    #: refused outright (another 4xx).
    dropped: int = 0
    #: Subscriptions removed because their push service said they are gone (404, 410),
    #: or because their endpoint cannot be sent to.
    removed: int = 0
    #: Messages not considered for pushes because the pusher's queue was full.
    queue_dropped: int = 0


@dataclass(frozen=True, slots=True)
class _Push:
    """One push to send: through which client, to whom, what (encrypted as it is sent)."""

    client: httpx.AsyncClient
    subscription: PushSubscription
    body: bytes
    urgency: str


class PushStore(Push, Changes, Threads, Protocol):
    """What the pusher needs of the store: an edit's message is read as it now is, and a
    thread reply's thread's followers."""


class Pusher:
    """Owns the queue of messages to consider for pushes, and the task that sends them."""

    def __init__(
        self,
        store: PushStore,
        presence: Presence,
        sender: PushSender,
        *,
        failures: TaskFailures | None = None,
        retry_delays: Sequence[float] = RETRY_DELAYS_S,
        do_not_disturb: Callable[[int], bool] = lambda _user_id: False,
    ) -> None:
        self._store = store
        self._presence = presence
        #: Whether a user's status asks not to be disturbed now (`chat.app.people.statuses`).
        self._do_not_disturb = do_not_disturb
        self._sender = sender
        self._failures = failures or TaskFailures()
        self._retry_delays = tuple(retry_delays)
        self.stats = PushStats()
        # The writer offers through the send end, which this object holds; `run` owns
        # the receive end.
        self._send, self._receive = trio.open_memory_channel[tuple[Message | Change, Room]](
            QUEUE_SIZE
        )
        self._slots = trio.Semaphore(CONCURRENCY)
        #: Whether anybody has a subscription (False until `run` has read it).
        self.wanted = False
        self._subscribed_at = -math.inf  # when a browser last registered here

    def subscribed(self) -> None:
        """A browser registered here: consider messages from now on (the other
        instances notice within `REFRESH_S`)."""
        self.wanted = True
        self._subscribed_at = trio.current_time()

    def offer(self, published: Sequence[tuple[Message | Change, Room]]) -> None:
        """Queue the messages of a published batch for the pusher (a writer follower,
        `MessageWriter.follow`). Never waits: while nobody has a subscription it returns
        at once; a full queue drops (and counts) what does not fit."""
        if not self.wanted:
            return
        for item, room in published:
            # Messages, and edits that mention someone the text before did not.
            if isinstance(item, Change) and item.newly is None:
                continue
            try:
                self._send.send_nowait((item, room))
            except trio.WouldBlock:
                self.stats.queue_dropped += 1
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return  # the pusher has stopped: the server is shutting down

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Push what the queue brings. Runs until cancelled."""
        with self._failures.contained("pusher", "reading whether anybody subscribed"):
            self.wanted = await self._store.any_push_subscription()
        client = PushSender.open_client(SEND_TIMEOUT_S)
        try:
            # The nursery holds the watcher and the deliveries; it ends when `run` is
            # cancelled (shutdown), which cancels them.
            async with self._receive, trio.open_nursery() as nursery:
                nursery.start_soon(self._watch)
                task_status.started()
                async for first in self._receive:
                    batch = [first, *self._waiting()]
                    with self._failures.contained("pusher", "pushing messages"):
                        await self._consider(batch, client, nursery)
        finally:
            # Closing the client's connections is polite, not needed: bounded.
            with trio.move_on_after(1, shield=True):
                await client.aclose()
        raise AssertionError("the queue's send end is never closed")

    def _waiting(self) -> list[tuple[Message | Change, Room]]:
        """Up to `MAX_BATCH` - 1 more messages already queued, without waiting."""
        batch: list[tuple[Message | Change, Room]] = []
        while len(batch) < MAX_BATCH - 1:
            try:
                batch.append(self._receive.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                break
        return batch

    async def _consider(
        self,
        batch: list[tuple[Message | Change, Room]],
        client: httpx.AsyncClient,
        nursery: trio.Nursery,
    ) -> None:
        """Push each message of `batch` to whoever should hear of it, if this instance
        claims it: one candidate query per room of the batch, and one claim for all."""
        now = time.time()
        rooms: dict[int, tuple[Room, list[Message]]] = {}
        edits: list[tuple[Change, Room]] = []
        for item, room in batch:
            if isinstance(item, Change):
                if now - item.at.timestamp() <= MAX_AGE_S:
                    edits.append((item, room))
            elif not item.deleted and now - item.created_at.timestamp() <= MAX_AGE_S:
                rooms.setdefault(room.id, (room, []))[1].append(item)
        # (the message as pushed, its room, to whom, the position claimed)
        pushes: list[tuple[Message, Room, list[PushCandidate], int]] = []
        try:
            follows: dict[int, ThreadFollows] | None = None
            for room, messages in rooms.values():
                candidates = await self._store.push_candidates(
                    room,
                    default_level=default_level(room),
                    mentioned=any(m.mentions or m.mentions_room for m in messages),
                )
                if candidates and follows is None:
                    # Read once, and only when someone might be pushed to.
                    follows = await self._store.thread_follows(_threads_of(rooms))
                for message in messages:
                    thread = (follows or {}).get(message.thread_id or 0)
                    following = frozenset() if thread is None else thread.followers
                    chosen = [
                        c
                        for c in candidates
                        if wants_push(
                            c.level,
                            message,
                            c.subscription.user_id,
                            follows=c.subscription.user_id in following,
                        )
                    ]
                    if chosen:
                        pushes.append((message, room, chosen, message.id))
            for change, room in edits:
                edited = await self._edit_to_push(change, room)
                if edited is not None:
                    pushes.append(edited)
            if not pushes:
                return
            ours = await self._store.claim_pushes([claim for *_, claim in pushes])
        except Unavailable as error:
            log.warning("%d messages not pushed: %s", len(batch), error.detail or error)
            return
        for message, room, chosen, claim in sorted(pushes, key=lambda push: push[3]):
            if claim in ours:
                await self._start(message, room, chosen, client, nursery)

    async def _edit_to_push(
        self, change: Change, room: Room
    ) -> tuple[Message, Room, list[PushCandidate], int] | None:
        """An edit that newly mentions someone is pushed to them alone (whatever their
        level but "none"), with the message's present text, claimed by its position."""
        newly = change.newly
        assert newly is not None, "only such edits are queued"
        message = await self._store.message_in_room(room.id, change.message_id)
        if message is None or message.deleted:
            return None
        candidates = await self._store.push_candidates(
            room, default_level=default_level(room), mentioned=True
        )
        chosen = [
            c
            for c in candidates
            if c.level != "none"
            and c.subscription.user_id != message.sender_id
            and newly.mentions_user(c.subscription.user_id)
        ]
        if not chosen:
            return None
        # Pushed as a mention of each of them (what `_start` reads the flag from).
        mentioned = tuple({c.subscription.user_id: None for c in chosen})
        return replace(message, mentions=mentioned, mentions_room=False), room, chosen, change.seq

    async def _start(
        self,
        message: Message,
        room: Room,
        chosen: list[PushCandidate],
        client: httpx.AsyncClient,
        nursery: trio.Nursery,
    ) -> None:
        """Start the pushes of a message this instance claimed: to each subscription of
        the users who are not online, nor asked not to be disturbed (their status's
        "dnd": held until it ends, the message waiting unread in its room)."""
        for candidate in chosen:
            user_id = candidate.subscription.user_id
            if self._presence.is_online(user_id) or self._do_not_disturb(user_id):
                continue
            mention = message.mentions_user(user_id)
            body = push_payload(message, room, mention=mention)
            # Wait for a slot here, not in the delivery: a burst waits in the queue.
            await self._slots.acquire()
            push = _Push(client, candidate.subscription, body, urgency(room, mention=mention))
            nursery.start_soon(self._deliver, push)

    async def _deliver(self, push: _Push) -> None:
        """One push, tried again while its service asks for it; holds a slot, which it
        gives back when done."""
        try:
            with self._failures.contained("pusher", "a push"):
                await self._attempts(push)
        finally:
            self._slots.release()

    async def _attempts(self, push: _Push) -> None:
        client, subscription = push.client, push.subscription
        for delay in (*self._retry_delays, None):
            outcome = Outcome("retry")
            with trio.move_on_after(SEND_TIMEOUT_S):
                outcome = await self._sender.send(
                    client, subscription, push.body, urgency=push.urgency
                )
            if outcome.kind == "sent":
                self.stats.sent += 1
                return
            if outcome.kind == "gone":
                try:
                    if await self._store.remove_gone_push_subscription(subscription):
                        self.stats.removed += 1
                except Unavailable as error:
                    log.warning("could not remove a gone subscription: %s", error.detail or error)
                return
            if outcome.kind == "refused" or delay is None:
                self.stats.dropped += 1
                if delay is None:
                    log.info("push dropped after %d attempts", len(self._retry_delays) + 1)
                return
            await trio.sleep(max(delay, outcome.retry_after or 0.0))

    async def _watch(self) -> NoReturn:
        """Refresh the "anybody subscribed" flag, and prune old claims."""
        pruned_at = trio.current_time()
        while True:
            await trio.sleep(REFRESH_S)
            with self._failures.contained("pusher", "reading whether anybody subscribed"):
                asked = trio.current_time()
                try:
                    anybody = await self._store.any_push_subscription()
                except Unavailable:
                    anybody = self.wanted  # keep the last answer while the database is away
                # An answer read while a browser registered here may predate it.
                if anybody or self._subscribed_at < asked:
                    self.wanted = anybody
            if trio.current_time() - pruned_at >= PRUNE_S:
                pruned_at = trio.current_time()
                cutoff = datetime.now(UTC) - timedelta(seconds=CLAIM_KEEP_S)
                with self._failures.contained("pusher", "pruning push claims"):
                    try:
                        await self._store.prune_push_claims(cutoff)
                    except Unavailable:
                        pass


def _threads_of(rooms: dict[int, tuple[Room, list[Message]]]) -> set[int]:
    """The threads of the thread replies (not sent to their room) among `rooms`' messages."""
    return {
        m.thread_id
        for _, messages in rooms.values()
        for m in messages
        if m.thread_id is not None and not m.in_main_timeline
    }
