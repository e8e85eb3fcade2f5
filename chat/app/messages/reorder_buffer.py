"""Committed items that reached this instance without a read of the table (other
instances' commits, carried by the bus; this instance's own changes), held by position
until everything before them is published (`chat.app.messages.writer`).

The writer publishes positions in order, with no gap: an item waits here while the one
before it has not arrived (`take_run` hands over only the run that follows the writer's
position). Held items are bounded: past `MAX_HELD` the rest becomes a read marker, and the
writer reads those positions from the table, which has them all."""

from __future__ import annotations

import math
from collections.abc import Sequence

from chat.core.records import Room, StreamItem

#: The most items held while they wait for what comes before them; past it, the
#: writer reads the table instead of holding more.
MAX_HELD = 8192

#: A committed message, change or departure, and its room.
Item = tuple[StreamItem, Room]


class ReorderBuffer:
    """Items by position, and the read marker: positions up to `read_up_to` are to be read
    from the table rather than waited for. Used by the writer's task and by what calls
    it without waiting (the bus's task, request handlers): no method waits."""

    __slots__ = ("_held", "read_up_to")

    def __init__(self) -> None:
        self._held: dict[int, Item] = {}
        self.read_up_to = 0

    def hold(self, items: Sequence[Item], read: int, *, published: int) -> int:
        """Hold `items` (those above `published`, the writer's position), and move the read
        marker to `read`. Returns the highest position they and the marker name."""
        top = read
        for item, room in items:
            position = item.position
            if position <= published:
                continue  # already published (read from the table meanwhile)
            if len(self._held) >= MAX_HELD:
                top = max(top, items[-1][0].position)
                read = max(read, top)  # no room to hold them: the table has them
                break
            self._held[position] = (item, room)
            top = max(top, position)
        if read > self.read_up_to:
            self.read_up_to = read
        return top

    def take_run(self, *, after: int, before: int | None = None) -> list[Item]:
        """Remove and return the items at `after + 1`, `after + 2`, ... up to the first
        position missing (or `before`)."""
        held = self._held
        run: list[Item] = []
        if not held:
            return run
        position = after + 1
        end = math.inf if before is None else before
        while position < end and position in held:
            run.append(held.pop(position))
            position += 1
        return run

    def drop_through(self, position: int) -> None:
        """Forget the items up to `position`: read from the table, so published."""
        for held in [p for p in self._held if p <= position]:
            del self._held[held]
