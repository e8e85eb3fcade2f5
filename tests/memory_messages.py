"""The `Messages` role in memory (chat.store.roles.Messages), for fast tests of the
components that use it (tests/test_message_writer.py).

It keeps the real stores' promises, which tests/test_messages_contract.py checks against
both it and the real stores: ids increase in the order of a batch, a batch is all or
nothing (a row naming an unknown room or sender raises `Gone` and stores nothing), a
resent `client_msg_id` gives back the original, a batch's thread replies change their
roots' summaries (a `THREAD` change each, positioned after the batch's messages, carried
by the thread's newest reply), and `committed_after` reads every room's messages and
those changes in position order with their rooms.

Hooks for tests: `fail_next` makes the next `add_messages` raise, `fail_next_read` the
next `committed_after`; `hold()` keeps the next commits in flight (the messages are not
stored) until its event is set; `batches` is every batch it was asked to store, in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime

import trio

from chat.core.errors import Gone
from chat.core.records import (
    THREAD,
    Added,
    Change,
    Message,
    NewMessage,
    Room,
    ThreadSummary,
)
from chat.core.thread_records import summary_with_replies, with_thread_changes
from chat.store.roles import Notifications


class MemoryMessages:
    """`Messages` on a list: the rooms and users (id -> name) it knows are given."""

    def __init__(self, rooms: Iterable[Room], users: Mapping[int, str]) -> None:
        self.rooms = {room.id: room for room in rooms}
        self.users = dict(users)
        self.messages: list[Message] = []
        #: Each thread's changes of summary, in position order (the last is the summary).
        self.thread_changes: list[Change] = []
        self._summaries: dict[int, ThreadSummary] = {}
        #: Every batch `add_messages` was called with, stored or not.
        self.batches: list[list[NewMessage]] = []
        #: Raised (once) by the next `add_messages` to start, before it stores anything.
        self.fail_next: BaseException | None = None
        #: Raised (once) by the next `committed_after`.
        self.fail_next_read: BaseException | None = None
        #: Set while a commit waits for `release` (see `hold`).
        self.in_flight = trio.Event()
        self._release: trio.Event | None = None
        self._originals: dict[tuple[int, int, str], Message] = {}

    def hold(self) -> trio.Event:
        """Keep the next commits in flight until the returned event is set: they wait
        (setting `in_flight`) before storing anything, as a slow transaction would."""
        self._release = trio.Event()
        self.in_flight = trio.Event()
        return self._release

    async def add_messages(
        self, rows: list[NewMessage], *, notify: Notifications | None = None
    ) -> list[Added]:
        self.batches.append(list(rows))
        # Taken now: a failure set while a commit is in flight is for the next one.
        failure, self.fail_next = self.fail_next, None
        if self._release is not None:
            self.in_flight.set()
            await self._release.wait()
        else:
            await trio.lowlevel.checkpoint()
        if failure is not None:
            raise failure
        for row in rows:
            if row.room_id not in self.rooms or row.sender_id not in self.users:
                raise Gone()  # a foreign key, as the real stores: nothing is stored
        # Nothing awaits from here on: the batch is stored whole, or (above) not at all.
        now = datetime.now(UTC)
        added = []
        for row in rows:
            sent = row.outgoing
            key = (row.room_id, row.sender_id, sent.client_msg_id or "")
            original = self._originals.get(key) if sent.client_msg_id is not None else None
            if original is not None:
                added.append(Added(original, new=False))
                continue
            message = Message(
                self.last_id() + 1,
                row.room_id,
                row.sender_id,
                self.users[row.sender_id],
                sent.body,
                now,
                sent.client_msg_id,
                sent.reply_to,
                thread_id=sent.thread_id,
                also_to_room=sent.also_to_room,
            )
            self.messages.append(message)
            if sent.client_msg_id is not None:
                self._originals[key] = message
            added.append(Added(message, new=True))
        return self._in_threads(added, now)

    def _in_threads(self, added: list[Added], now: datetime) -> list[Added]:
        """Add the batch's new thread replies to their roots' summaries, as the stores'
        `count_new_replies` does."""
        replies = [item.message for item in added if item.new and item.message.thread_id]
        changes: dict[int, Change] = {}
        for root_id in dict.fromkeys(reply.thread_id for reply in replies):
            assert root_id is not None
            ours = [reply for reply in replies if reply.thread_id == root_id]
            summary = summary_with_replies(self._summaries.get(root_id), ours)
            self._summaries[root_id] = summary
            change = Change(self.last_id() + 1, ours[0].room_id, root_id, THREAD, now)
            changes[root_id] = replace(change, thread=summary)
            self.thread_changes.append(changes[root_id])
        return with_thread_changes(added, changes)

    def last_id(self) -> int:
        """The last position taken, by a message or a thread change."""
        last_message = self.messages[-1].id if self.messages else 0
        last_change = self.thread_changes[-1].seq if self.thread_changes else 0
        return max(last_message, last_change)

    async def last_position(self) -> int:
        await trio.lowlevel.checkpoint()
        return self.last_id()

    async def committed_after(
        self, after: int, *, before: int | None = None, limit: int
    ) -> list[tuple[Message | Change, Room]]:
        await trio.lowlevel.checkpoint()
        if self.fail_next_read is not None:
            error, self.fail_next_read = self.fail_next_read, None
            raise error
        below = before if before is not None else self.last_id() + 1
        items: list[Message | Change] = [*self.messages, *self.thread_changes]
        page = sorted(
            (item for item in items if after < item.position < below), key=lambda i: i.position
        )[:limit]
        return [(item, self.rooms[item.room_id]) for item in page]
