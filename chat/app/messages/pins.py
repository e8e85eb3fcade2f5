"""Pinned messages: the rules for who may pin what, and how each pin reaches everyone.

- a room's moderators and owners (and operators; in the lobby, operators only) pin and
  unpin its messages; members who are not are refused (`Forbidden`), and direct
  conversations and support threads have no pins (`Conflict`, as every moderation
  action there: `chat.core.room_permissions`);
- a room has at most `MAX_PINS` pinned messages: one more is refused (`Conflict`) until
  one is unpinned;
- only a message of the room that is not deleted can be pinned or unpinned (`NotFound`);
  pinning a pinned message, or unpinning one that is not, changes nothing;
- each pin and unpin counts against its author's message rate limit, as a change does;
- anyone who may read the room reads its pins, newest pin first.

A pin is a change to a message (kind ``pins``): committed with the next position of the
message stream (`chat.store.Pins`), then published by `MessageWriter.committed` in
position order with the messages and changes around it, on every instance, and found
again by a resume. Deleting a message unpins it in the same transaction; its ``deleted``
change is what tells clients.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from chat.core.errors import NotFound
from chat.core.records import Change, Message, PinnedMessage, Room
from chat.core.room_permissions import Action, require
from chat.store import Pins

if TYPE_CHECKING:
    from chat.app.limits.rate_limits import RateLimits
    from chat.app.messages.writer import MessageWriter
    from chat.core.records import Identity

#: The most messages a room may have pinned at once.
MAX_PINS = 50


class Ranks(Protocol):
    """What pins need of the rules of running a room (`chat.app.rooms.moderation`)."""

    async def rank(self, identity: Identity, room: Room) -> int: ...
    async def require_writable(self, room: Room) -> None: ...


class MessagePins:
    """Pinning and unpinning a room's messages, and listing its pins, for every front
    door."""

    def __init__(
        self,
        store: Pins,
        writer: MessageWriter,
        rate_limits: RateLimits,
        ranks: Ranks,
        committed: dict[str, int],
    ) -> None:
        self._store = store
        self._writer = writer
        self._rate_limits = rate_limits
        self._ranks = ranks
        #: The changes' counts by kind (`MessageChanges.committed`, which the metrics
        #: read): pins are counted there as "pins".
        self._committed = committed

    async def set_pin(
        self, identity: Identity, room: Room, message_id: int, *, pinned: bool
    ) -> Change | None:
        """Pin (`pinned`) or unpin message `message_id` of `room`, which the caller may
        read or moderate (`ChatService.moderated_room`). None if it was so already:
        nothing changed."""
        require(room, Action.PIN, await self._ranks.rank(identity, room))
        await self._ranks.require_writable(room)
        self._rate_limits.hit(self._rate_limits.messages, str(identity.user_id))

        def check(message: Message | None) -> None:
            if message is None:
                raise NotFound(f"no message with MessageID {message_id} in room {room.id}")
            if message.deleted:
                raise NotFound(f"message {message_id} was deleted")

        change = await self._store.set_pin(
            room.id, message_id, identity.user_id, pinned=pinned, max_pins=MAX_PINS, check=check
        )
        if change is not None:
            self._committed[change.kind] = self._committed.get(change.kind, 0) + 1
            self._writer.committed(change, room)
        return change

    async def room_pins(self, room: Room) -> list[PinnedMessage]:
        """The pinned messages of `room`, which the caller may read, newest pin first."""
        return await self._store.room_pins(room.id, limit=MAX_PINS)
