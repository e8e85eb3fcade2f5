"""The `Messages` role in memory (chat.store.roles.Messages), for fast tests of the
components that use it (tests/test_message_writer.py).

It keeps the real stores' promises, which tests/test_messages_contract.py checks against
both it and the real stores: ids increase in the order of a batch, a batch is all or
nothing (a row naming an unknown room or sender raises `Gone` and stores nothing), a
resent `client_msg_id` gives back the original, a thread's summary counts its replies
when refreshed (a `THREAD` change, positioned after them; `stale_threads` finds threads
with replies not counted), and `committed_after` reads every room's messages and those
changes in position order with their rooms.

Hooks for tests: `fail_next` makes the next `add_messages` raise, `fail_next_read` the
next `committed_after`; `read_delay` makes every `committed_after` take that long (a slow
link to the database); `hold()` keeps the next commits in flight (the messages are not
stored) until its event is set; `batches` is every batch it was asked to store, in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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
from chat.core.thread_records import summary_with_repliers
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
        #: Root id -> the newest reply its summary counts.
        self._counted_through: dict[int, int] = {}
        #: Every batch `add_messages` was called with, stored or not.
        self.batches: list[list[NewMessage]] = []
        #: Raised (once) by the next `add_messages` to start, before it stores anything.
        self.fail_next: BaseException | None = None
        #: Raised (once) by the next `committed_after`.
        self.fail_next_read: BaseException | None = None
        self.read_delay = 0.0
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
        return added

    async def refresh_thread_summaries(self, root_ids: Sequence[int]) -> list[Change]:
        await trio.lowlevel.checkpoint()
        changes = []
        for root_id in root_ids:
            through = self._counted_through.get(root_id, 0)
            new = [m for m in self.messages if m.thread_id == root_id and m.id > through]
            if not new:
                continue
            summary = summary_with_repliers(
                self._summaries.get(root_id),
                replies=len(new),
                last_reply_at=new[-1].created_at,
                repliers=list(dict.fromkeys(m.sender_id for m in new)),
            )
            self._summaries[root_id] = summary
            self._counted_through[root_id] = new[-1].id
            now = datetime.now(UTC)
            change = Change(self.last_id() + 1, new[0].room_id, root_id, THREAD, now)
            changes.append(replace(change, thread=summary))
            self.thread_changes.append(changes[-1])
        return changes

    async def stale_threads(self, after: int) -> tuple[list[tuple[int, int]], int]:
        await trio.lowlevel.checkpoint()
        newest = self.messages[-1].id if self.messages else 0
        stale = {
            m.thread_id: m.room_id
            for m in self.messages
            if m.thread_id is not None
            and after < m.id
            and m.id > self._counted_through.get(m.thread_id, 0)
        }
        return list(stale.items()), newest

    async def room_by_id(self, room_id: int) -> Room | None:
        await trio.lowlevel.checkpoint()
        return self.rooms.get(room_id)

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
        await trio.sleep(self.read_delay)
        if self.fail_next_read is not None:
            error, self.fail_next_read = self.fail_next_read, None
            raise error
        below = before if before is not None else self.last_id() + 1
        items: list[Message | Change] = [*self.messages, *self.thread_changes]
        page = sorted(
            (item for item in items if after < item.position < below), key=lambda i: i.position
        )[:limit]
        return [(item, self.rooms[item.room_id]) for item in page]
