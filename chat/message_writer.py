"""Group commit: every message goes to the database in a batch, then to its readers.

A message must be committed before anyone is told about it, and committing one message
at a time costs a transaction (and, for SQLite, a trip to a worker thread) per message.
So messages queue here, and one task writes them: while a batch is being committed, new
messages wait, and they all go together in the next one. Under load batches grow by
themselves; when the server is idle a message waits for nobody.

For each message, in order:

1. the client's handler calls `MessageWriter.add` and waits (or `submit`, and goes on
   to its next frame: chat messages need no answer, so a client's messages pipeline);
2. the writer task commits the batch the message is in (`Store.add_messages`);
3. it publishes the committed messages, in commit order, to the broadcaster;
4. it wakes each waiting handler with its stored message.

Messages from one client are committed and delivered in the order it sent them (its
handler waits for each before taking the next frame), and the messages of a batch reach
the broadcaster in commit order.

Error handling: if a batch fails, it is retried one message at a time, so one bad
message (its sender deleted meanwhile, say) fails alone; every message that still fails
gets its error raised in its own handler, which answers its client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

import trio

from .broadcaster import Broadcaster, Event, topics_for
from .errors import ChatError, Unavailable
from .store import Message, NewMessage, Room, Store

log = logging.getLogger(__name__)

#: The most messages committed in one transaction.
MAX_BATCH = 256
#: Messages waiting for a batch; past this, handlers wait (backpressure).
QUEUE_SIZE = 1024
#: A commit that takes longer fails its batch (the database is not answering).
COMMIT_TIMEOUT_S = 10.0


@dataclass(eq=False, slots=True)
class PendingMessage:
    """A message on its way to the database: `done` is set once it is committed (and
    published) or has failed. `on_error`, if given, is called in the writer task when
    it fails: it must not block (see `ClientSession.send_nowait`)."""

    room: Room
    sender_id: int
    body: str
    skip: int | None
    on_error: Callable[[BaseException], None] | None = None
    done: trio.Event = field(default_factory=trio.Event)
    message: Message | None = None
    error: BaseException | None = None

    async def result(self) -> Message:
        """The stored message, once committed; raises the error if it failed."""
        await self.done.wait()
        if self.error is not None:
            raise self.error
        assert self.message is not None
        return self.message

    def _fail(self, error: BaseException) -> None:
        self.error = error
        if self.on_error is not None:
            self.on_error(error)


class MessageWriter:
    """Owns the queue of messages to commit and the task that commits them."""

    def __init__(self, store: Store, broadcaster: Broadcaster) -> None:
        self._store = store
        self._broadcaster = broadcaster
        # Handlers share the send end (this object holds it); `run` owns the receive end.
        self._queue_send, self._queue_receive = trio.open_memory_channel[PendingMessage](QUEUE_SIZE)

    async def add(self, room: Room, sender_id: int, body: str, *, skip: int | None) -> Message:
        """Store a message and publish it; return it once committed.

        Raises `Unavailable` if the server is shutting down, or the error that made its
        commit fail.
        """
        pending = await self.submit(room, sender_id, body, skip=skip)
        # If we are cancelled here the message may still be committed and delivered:
        # it was sent, and nothing is lost by finishing the job.
        return await pending.result()

    async def submit(
        self,
        room: Room,
        sender_id: int,
        body: str,
        *,
        skip: int | None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> PendingMessage:
        """Queue a message for the next batch and return without waiting for the commit
        (waiting only while the queue is full). A client that does not need the stored
        message back can go on to its next frame, and its messages share batches."""
        pending = PendingMessage(room, sender_id, body, skip, on_error)
        try:
            await self._queue_send.send(pending)
        except trio.BrokenResourceError:
            raise Unavailable("the server is shutting down") from None
        return pending

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Commit and publish batches. Runs until cancelled."""
        async with self._queue_receive:
            task_status.started()
            try:
                async for first in self._queue_receive:
                    await self._commit([first, *self._waiting(MAX_BATCH - 1)])
            finally:
                # Shutdown: the clients are being cancelled, but what they already sent
                # was accepted, so it is committed now (bounded); nobody is left to
                # deliver it to live, and everyone finds it in the history.
                with trio.move_on_after(COMMIT_TIMEOUT_S, shield=True):
                    while batch := self._waiting(MAX_BATCH):
                        await self._commit(batch, publish=False)
        raise AssertionError("the queue's send end is never closed while run() is running")

    def _waiting(self, most: int) -> list[PendingMessage]:
        """Up to `most` messages already queued, without waiting."""
        batch: list[PendingMessage] = []
        while len(batch) < most:
            try:
                batch.append(self._queue_receive.receive_nowait())
            except (trio.WouldBlock, trio.ClosedResourceError):
                break
        return batch

    async def _commit(self, batch: list[PendingMessage], *, publish: bool = True) -> None:
        rows = [NewMessage(p.room.id, p.sender_id, p.body) for p in batch]
        try:
            # Shielded: a commit under way finishes even if shutdown begins (cutting it
            # could lose messages the clients were told nothing bad about); bounded, so
            # a database that stops answering fails the batch instead of hanging it.
            with trio.move_on_after(COMMIT_TIMEOUT_S, shield=True) as commit:
                messages = await self._store.add_messages(rows)
            if commit.cancelled_caught:
                raise Unavailable("the database did not answer in time")
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
        if not publish:
            for pending, message in zip(batch, messages, strict=True):
                pending.message = message
                pending.done.set()
            return
        for pending, message in zip(batch, messages, strict=True):
            pending.message = message
        events = [
            Event(topic, message, pending.room, pending.skip)
            for pending, message in zip(batch, messages, strict=True)
            for topic in topics_for(pending.room)
        ]
        try:
            await self._broadcaster.publish(events)
        except trio.BrokenResourceError:
            error = Unavailable("the message was stored, but the server is shutting down")
            for pending in batch:
                pending._fail(error)
        finally:
            for pending in batch:
                pending.done.set()
