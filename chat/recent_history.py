"""The newest messages of active rooms, in memory, kept exact by the stream of commits.

Issue 27, item 2 (history from memory), its first step: the data structure, not yet
wired into the server. `RoomWindow` holds the newest messages of one room as they are
now (edited, deleted, reacted to) and the changes made to any of the room's messages
after it opened; `RecentHistory` holds the windows of the rooms asked about lately,
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

Bounds: at most `per_room` messages per room (the oldest dropped: the window's `floor`
rises), as many changes, and at most `max_rooms` windows.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import replace

from .store.records import Change, Message, Room

#: The newest messages a room's window keeps.
PER_ROOM = 200
#: The most rooms with a window at once.
MAX_ROOMS = 1000


class RoomWindow:
    """One room's newest messages as they are now, and the changes since it opened.

    Exact for positions above its floors: every message of the room with
    ``floor < id <= through`` is in `messages`, and every change with
    ``changes_floor < seq <= through`` is in `changes`.
    """

    def __init__(
        self, room_id: int, newest: Sequence[Message], *, through: int, per_room: int = PER_ROOM
    ) -> None:
        """A window from a read of the table: `newest`, the room's newest messages with
        ids up to `through` (deleted ones included), at most `per_room` of them."""
        self.room_id = room_id
        self.per_room = per_room
        ordered = sorted(newest, key=lambda message: message.id)[-per_room:]
        self._ids = [message.id for message in ordered]
        self._messages = {message.id: message for message in ordered}
        # Fewer than asked for: the read reached the room's first message.
        self.floor = 0 if len(ordered) < per_room else ordered[0].id - 1
        self.changes_floor = through
        self.through = through
        self._changes: list[Change] = []

    def __len__(self) -> int:
        return len(self._ids)

    def apply(self, item: Message | Change) -> None:
        """Apply one published item of this room (in position order)."""
        if isinstance(item, Message):
            if item.id <= self.floor or item.id in self._messages:
                return  # older than the window, or already read with it
            insort(self._ids, item.id)  # a late commit may land below the newest
            self._messages[item.id] = item
            if len(self._ids) > self.per_room:
                self.floor = self._ids.pop(0)
                del self._messages[self.floor]
        else:
            if item.seq > self.changes_floor:
                self._changes.append(item)
                if len(self._changes) > self.per_room:
                    self.changes_floor = self._changes.pop(0).seq
            message = self._messages.get(item.message_id)
            if message is not None:
                self._messages[item.message_id] = changed(message, item)
        self.through = max(self.through, item.position)

    def expired(self, up_to_id: int) -> None:
        """Retention deleted every message of the room with an id up to `up_to_id`."""
        cut = bisect_left(self._ids, up_to_id + 1)
        for message_id in self._ids[:cut]:
            del self._messages[message_id]
        del self._ids[:cut]
        # Their changes went with them (ON DELETE CASCADE): a resume no longer sees them.
        self._changes = [c for c in self._changes if c.message_id > up_to_id]
        if up_to_id >= self.floor:
            # Nothing of the room older than the window is left: it holds all there is.
            self.floor = 0

    def latest(self, count: int, *, skip_deleted: bool) -> list[Message] | None:
        """The room's `count` newest messages, oldest first, as `Messages.latest_messages`
        answers; None if the window cannot tell (older messages would be needed)."""
        found: list[Message] = []
        for message_id in reversed(self._ids):
            message = self._messages[message_id]
            if not (skip_deleted and message.deleted):
                found.append(message)
                if len(found) == count:
                    return found[::-1]
        return found[::-1] if self.floor == 0 else None

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
        # The tombstone (chat.store.shared.changes.TOMBSTONE_SQL): only who and when stay.
        return replace(
            message,
            body="",
            edited_at=None,
            deleted=True,
            reactions=(),
            mentions=(),
            mentions_room=False,
            files=(),
        )
    if change.kind == "reactions":
        return replace(message, reactions=change.reactions)
    raise ValueError(f"unknown change kind {change.kind!r}")


class RecentHistory:
    """The windows of the rooms asked about lately (module docstring)."""

    def __init__(self, *, per_room: int = PER_ROOM, max_rooms: int = MAX_ROOMS) -> None:
        self.per_room = per_room
        self.max_rooms = max_rooms
        self._windows: OrderedDict[int, RoomWindow] = OrderedDict()
        self.evictions = 0

    def window(self, room_id: int) -> RoomWindow | None:
        """The room's window, if it has one (now the most recently used)."""
        window = self._windows.get(room_id)
        if window is not None:
            self._windows.move_to_end(room_id)
        return window

    def open(self, room_id: int, newest: Sequence[Message], *, through: int) -> RoomWindow:
        """Open the room's window from a read of the table up to `through` (see
        `RoomWindow`); the least recently used window goes if there are too many."""
        window = RoomWindow(room_id, newest, through=through, per_room=self.per_room)
        self._windows[room_id] = window
        self._windows.move_to_end(room_id)
        while len(self._windows) > self.max_rooms:
            self._windows.popitem(last=False)
            self.evictions += 1
        return window

    def offer(self, items: Iterable[tuple[Message | Change, Room]]) -> None:
        """A published batch (`MessageWriter.follow`): applied to the windows it concerns."""
        windows = self._windows
        for item, room in items:
            window = windows.get(room.id)
            if window is not None:
                window.apply(item)

    def expired(self, room_id: int, up_to_id: int) -> None:
        """Retention's "expired" event: the room's messages up to `up_to_id` are gone."""
        window = self._windows.get(room_id)
        if window is not None:
            window.expired(up_to_id)

    def forget_room(self, room_id: int) -> None:
        """Drop the room's window (its messages changed in a way the stream does not say)."""
        self._windows.pop(room_id, None)

    def forget_all(self) -> None:
        """Drop every window (a rename: names are in every window)."""
        self._windows.clear()
