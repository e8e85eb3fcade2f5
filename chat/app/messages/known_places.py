"""Where recently named messages are, so that a reply or a thread reply is admitted
without a trip to the database for each one.

A message's room and thread never change, so an answer once read stays true while the
message shows: `(room, message) -> the root of the thread a reply naming it joins` (its
own id outside any thread). Deletion or retention can make an answer stale; the writer's
transaction looks again at every message a batch names (`chat.store.message_batches`
refuses a reply to one gone meanwhile), so a stale answer costs a later error, never a
reply to a message that is gone. Only positive answers are kept: a message not found is
asked again (it may be one committed a moment later).
"""

from __future__ import annotations

from collections import OrderedDict

#: The most places kept (each a few dozen bytes): the messages being answered now.
MAX_KNOWN_PLACES = 10_000


class KnownPlaces:
    """A bounded memory of (room, message) -> thread root, least recently used out."""

    def __init__(self, limit: int = MAX_KNOWN_PLACES) -> None:
        self._limit = limit
        self._roots: OrderedDict[tuple[int, int], int] = OrderedDict()

    def root(self, room_id: int, message_id: int) -> int | None:
        """The root a reply naming message `message_id` of room `room_id` joins, if
        known."""
        key = (room_id, message_id)
        root = self._roots.get(key)
        if root is not None:
            self._roots.move_to_end(key)
        return root

    def remember(self, room_id: int, message_id: int, root_id: int) -> None:
        """Message `message_id` of room `room_id` shows, in thread `root_id` (or its own)."""
        self._roots[(room_id, message_id)] = root_id
        self._roots.move_to_end((room_id, message_id))
        if len(self._roots) > self._limit:
            self._roots.popitem(last=False)
