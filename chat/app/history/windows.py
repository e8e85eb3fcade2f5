"""The newest messages of active rooms, in memory, kept exact by the stream of commits.

The data structure; `chat.app.history.from_memory` opens
the windows and answers from them. `RoomWindow` holds the newest messages of one room as they are
now (edited, deleted, reacted to) and the changes made to any of the room's messages
after it opened; `RecentWindows` holds the windows of the rooms asked about lately,
bounded per room and in all, least recently used evicted first.

Why the stream: every instance's writer publishes every committed message and change,
its own and the other instances', in position order (`MessageWriter.follow`). A window
that starts from a read of the table up to a position `through` and then applies every
item published after it stays what a read of the table would answer, without asking the
table again: this is what lets `history N`, a `/ws` resume and the first page of
`GET /messages` be answered from memory. An item applied twice (one the read already saw)
changes nothing: a change carries the message's whole new state.

What the stream does not carry, the owner must tell the windows (`forget_room`,
`expired`): a rename (names are joined in when messages are read), retention's row
deletions (the "expired" event), a room deleted.

A window holds the room's main timeline only (`Message.in_main_timeline`): a thread's
replies never push the room's messages out of it, and every answer from it is a page of
the main timeline, as the table's reads are. Changes to a thread reply are held all the
same (a resume sends them, as the table's read does: clients showing the thread use them).

Bounds: at most `per_room` messages per room (the oldest dropped: the window's `floor`
rises), as many changes, and at most `max_rooms` windows.
"""

from __future__ import annotations

import sys
from bisect import bisect_left, insort
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import replace

from chat.core.link_previews import PREVIEWS
from chat.core.records import PINS, THREAD, Change, Message, Room

#: The newest messages a room's window keeps.
PER_ROOM = 200
#: The most rooms with a window at once.
MAX_ROOMS = 1000
#: What a held message or change costs besides its text, in bytes: the record, its
#: dates, its entries in the window's list and dict. On the high side on purpose, so the
#: ceiling holds: tracemalloc measured about 400 bytes per short message, text included
#: (2,000 messages of about 35 characters). Each reaction or file adds
#: `PART_BYTES`.
ITEM_BYTES = 600
PART_BYTES = 200


def cost(item: Message | Change) -> int:
    """The bytes a window spends holding `item` (an estimate: `ITEM_BYTES`), counted
    against the memory ceiling (`RecentWindows`). O(1): a string's size is known."""
    if isinstance(item, Message):
        parts = len(item.reactions) + len(item.files) + 2 * len(item.previews)
        return ITEM_BYTES + sys.getsizeof(item.body) + PART_BYTES * parts
    text = 0 if item.text is None else sys.getsizeof(item.text)
    previews = 2 * len(item.previews or ())
    return ITEM_BYTES + text + PART_BYTES * (len(item.reactions) + previews)


class RoomWindow:
    """One room's newest messages as they are now, and the changes since it opened.

    Exact for positions above its floors: every message of the room with
    ``floor < id <= through`` is in `messages`, and every change with
    ``changes_floor < seq <= through`` is in `changes`.
    """

    def __init__(
        self,
        room_id: int,
        newest: Sequence[Message],
        *,
        through: int,
        per_room: int = PER_ROOM,
        changes: Sequence[Change] = (),
        changes_floor: int | None = None,
    ) -> None:
        """A window from a read of the table: `newest`, the room's newest messages with
        ids up to `through` (deleted ones included), at most `per_room` of them; and,
        if read too, `changes`, every change to the room's messages with
        ``changes_floor < seq``, oldest first (without them, the window knows the
        changes from `through` on)."""
        self.room_id = room_id
        self.per_room = per_room
        ordered = sorted(newest, key=lambda message: message.id)[-per_room:]
        self._ids = [message.id for message in ordered]
        self._messages = {message.id: message for message in ordered}
        #: What it holds, in bytes (`cost`): kept as items come and go.
        self.bytes = sum(cost(message) for message in ordered)
        # Fewer than asked for: the read reached the room's first message.
        self.floor = 0 if len(ordered) < per_room else ordered[0].id - 1
        self.changes_floor = through if changes_floor is None else changes_floor
        self.through = through
        #: The writer's position from which the window may answer (`chat.app.history.from_memory`):
        #: the table's newest position when it was read.
        self.ready_at = through
        self._changes: list[Change] = list(changes[-per_room:])
        if len(changes) > per_room:
            self.changes_floor = changes[-per_room - 1].seq
        self.bytes += sum(cost(change) for change in self._changes)

    def __len__(self) -> int:
        return len(self._ids)

    def apply(self, item: Message | Change) -> None:
        """Apply one published item of this room (in position order)."""
        if isinstance(item, Message):
            if not item.in_main_timeline:
                # A thread reply: not the main timeline's, but the window is exact past it.
                self.through = max(self.through, item.position)
                return
            if item.id <= self.floor or item.id in self._messages:
                return  # older than the window, or already read with it
            insort(self._ids, item.id)  # a late commit may land below the newest
            self._messages[item.id] = item
            self.bytes += cost(item)
            if len(self._ids) > self.per_room:
                self.floor = self._ids.pop(0)
                self.bytes -= cost(self._messages.pop(self.floor))
        else:
            # In position order, so one at or below the newest held was read already.
            newest = self._changes[-1].seq if self._changes else self.changes_floor
            if item.seq > newest:
                self._changes.append(item)
                self.bytes += cost(item)
                if len(self._changes) > self.per_room:
                    dropped = self._changes.pop(0)
                    self.changes_floor = dropped.seq
                    self.bytes -= cost(dropped)
            message = self._messages.get(item.message_id)
            if message is not None:
                now = changed(message, item)
                self._messages[item.message_id] = now
                self.bytes += cost(now) - cost(message)
        self.through = max(self.through, item.position)

    def advance(self, position: int) -> None:
        """Every item of the stream up to `position` was offered: none of them was the
        room's, so the window is exact through it (`messages_between`, `changes_between`)."""
        self.through = max(self.through, position)

    def expired(self, up_to_id: int) -> None:
        """Retention deleted every message of the room with an id up to `up_to_id`."""
        cut = bisect_left(self._ids, up_to_id + 1)
        for message_id in self._ids[:cut]:
            self.bytes -= cost(self._messages.pop(message_id))
        del self._ids[:cut]
        # Their changes went with them (ON DELETE CASCADE): a resume no longer sees them.
        kept = [c for c in self._changes if c.message_id > up_to_id]
        self.bytes -= sum(cost(c) for c in self._changes) - sum(cost(c) for c in kept)
        self._changes = kept
        if up_to_id >= self.floor:
            # Nothing of the room older than the window is left: it holds all there is.
            self.floor = 0

    def latest(
        self, count: int, *, skip_deleted: bool, up_to_id: int | None = None
    ) -> list[Message] | None:
        """The room's `count` newest messages (with ids up to `up_to_id`, if given),
        oldest first, as `Messages.latest_messages` answers; None if the window cannot
        tell (older messages would be needed, or it is not exact through `up_to_id`)."""
        if up_to_id is not None and up_to_id > self.through:
            return None
        end = len(self._ids) if up_to_id is None else bisect_left(self._ids, up_to_id + 1)
        found: list[Message] = []
        for index in range(end - 1, -1, -1):
            message = self._messages[self._ids[index]]
            if not (skip_deleted and message.deleted):
                found.append(message)
                if len(found) == count:
                    return found[::-1]
        return found[::-1] if self.floor == 0 else None

    def after(self, after_id: int, count: int) -> list[Message] | None:
        """The room's `count` messages next after `after_id` (towards the newest),
        oldest first, as `History.messages_after` finds them; None if the window does
        not hold every message after `after_id`."""
        if after_id < self.floor:
            return None
        start = bisect_left(self._ids, after_id + 1)
        return [self._messages[message_id] for message_id in self._ids[start : start + count]]

    def messages_between(self, after_id: int, up_to_id: int) -> list[Message] | None:
        """The room's messages with ``after_id < id <= up_to_id``, oldest first; None if
        the window does not hold all of them."""
        if after_id < self.floor or up_to_id > self.through:
            return None
        start, end = bisect_left(self._ids, after_id + 1), bisect_left(self._ids, up_to_id + 1)
        return [self._messages[message_id] for message_id in self._ids[start:end]]

    def changes_between(self, after: int, up_to: int) -> list[Change] | None:
        """The changes to the room's messages with ``after < seq <= up_to``, in order;
        None if the window does not hold all of them."""
        if after < self.changes_floor or up_to > self.through:
            return None
        return [change for change in self._changes if after < change.seq <= up_to]


def changed(message: Message, change: Change) -> Message:
    """`message` as `change` leaves it, as the store's tables then read it."""
    if change.kind == "edited":
        return replace(
            message,
            body=change.text or "",
            edited_at=change.at,
            mentions=change.mentions,
            mentions_room=change.mentions_room,
        )
    if change.kind == "deleted":
        # The tombstone (chat.store.changes.TOMBSTONE_SQL): only who and when stay.
        return replace(
            message,
            body="",
            edited_at=None,
            deleted=True,
            reactions=(),
            mentions=(),
            mentions_room=False,
            files=(),
            previews=(),
        )
    if change.kind == "reactions":
        return replace(message, reactions=change.reactions)
    if change.kind == PINS:
        return message  # a pin is the room's, not the message's: history shows none
    if change.kind == THREAD:
        return replace(message, thread=change.thread)
    if change.kind == PREVIEWS:
        return replace(message, previews=change.previews or ())
    raise ValueError(f"unknown change kind {change.kind!r}")


class RecentWindows:
    """The windows of the rooms asked about lately (module docstring): at most
    `max_rooms` of them, holding at most `max_bytes` in all (`cost`), the least recently
    used evicted first."""

    def __init__(
        self, *, per_room: int = PER_ROOM, max_rooms: int = MAX_ROOMS, max_bytes: int | None = None
    ) -> None:
        self.per_room = per_room
        self.max_rooms = max_rooms
        self.max_bytes = max_bytes
        self._windows: OrderedDict[int, RoomWindow] = OrderedDict()
        #: What the windows hold, in bytes (`RoomWindow.bytes`, summed).
        self.bytes = 0
        #: Windows evicted to stay within the bounds (a plain count, for the metrics).
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._windows)

    def window(self, room_id: int) -> RoomWindow | None:
        """The room's window, if it has one (now the most recently used)."""
        window = self._windows.get(room_id)
        if window is not None:
            self._windows.move_to_end(room_id)
        return window

    def open(
        self,
        room_id: int,
        newest: Sequence[Message],
        *,
        through: int,
        then: Iterable[Message | Change] = (),
        ready_at: int | None = None,
        changes: Sequence[Change] = (),
        changes_floor: int | None = None,
    ) -> RoomWindow:
        """Open the room's window from a read of the table (see `RoomWindow`), with the
        items published for the room since `through` applied (`then`); it may answer
        once the stream reaches `ready_at` (`through` if not given). `changes` and
        `changes_floor` as `RoomWindow` takes them. The least recently used windows go
        if there are too many."""
        self.forget_room(room_id)
        window = RoomWindow(
            room_id,
            newest,
            through=through,
            per_room=self.per_room,
            changes=changes,
            changes_floor=changes_floor,
        )
        for item in then:
            window.apply(item)
        window.ready_at = through if ready_at is None else ready_at
        self._windows[room_id] = window
        self.bytes += window.bytes
        self._evict()
        return window

    def offer(self, items: Iterable[tuple[Message | Change, Room]]) -> None:
        """A published batch (`MessageWriter.follow`): applied to the windows it concerns."""
        windows = self._windows
        grown = 0
        for item, room in items:
            window = windows.get(room.id)
            if window is not None:
                before = window.bytes
                window.apply(item)
                grown += window.bytes - before
        if grown:
            self.bytes += grown
            self._evict()

    def expired(self, room_id: int, up_to_id: int) -> None:
        """Retention's "expired" event: the room's messages up to `up_to_id` are gone."""
        window = self._windows.get(room_id)
        if window is not None:
            before = window.bytes
            window.expired(up_to_id)
            self.bytes += window.bytes - before

    def forget_room(self, room_id: int) -> None:
        """Drop the room's window (its messages changed in a way the stream does not say)."""
        window = self._windows.pop(room_id, None)
        if window is not None:
            self.bytes -= window.bytes

    def forget_all(self) -> None:
        """Drop every window (a rename: names are in every window)."""
        self._windows.clear()
        self.bytes = 0

    def _evict(self) -> None:
        windows = self._windows
        while len(windows) > self.max_rooms or (
            self.max_bytes is not None and self.bytes > self.max_bytes and windows
        ):
            _room_id, window = windows.popitem(last=False)
            self.bytes -= window.bytes
            self.evictions += 1
