"""How much each user wants to hear of each of their rooms: every message
("all"), only the ones that mention them ("mentions"), or nothing ("none").

A level decides what is pushed to a user who is not connected, and what the browser
notifies; it never hides a message. A room the user never set a level for has its kind's
default: a direct conversation or a support thread is a conversation with someone, so
"all"; a group room or the lobby is many people talking, so "mentions". Levels are
stored per user and room (`chat.store.Rooms`), so every instance reads the same ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from chat.core.errors import InvalidInput
from chat.core.records import Message, Room
from chat.store import Rooms

if TYPE_CHECKING:
    from chat.core.records import Identity

#: The levels, from the most to the least.
LEVELS = ("all", "mentions", "none")


def default_level(room: Room) -> str:
    """The level of a room nobody set one for, by its kind."""
    return "all" if room.kind in ("direct", "support") else "mentions"


def effective_level(room: Room, stored: str | None) -> str:
    """The level that applies: the one the user set, else the room's default."""
    return stored if stored is not None else default_level(room)


def level(value: object) -> str:
    """A level as a client sends it: one of `LEVELS`, exactly."""
    if value not in LEVELS:
        raise InvalidInput('field "Level" must be "all", "mentions" or "none"')
    assert isinstance(value, str)
    return value


class LevelsService(Protocol):
    """What notification levels need of `chat.app.service.ChatService`."""

    @property
    def store(self) -> Rooms: ...
    async def member_room(self, identity: Identity, room_id: int) -> Room: ...


class NotificationLevels:
    """Reading and setting a user's level in one of their rooms (members only)."""

    def __init__(self, service: LevelsService) -> None:
        self._service = service
        self._store = service.store

    async def get(self, identity: Identity, room_id: int) -> tuple[Room, str]:
        """The caller's level in a room they may read, and the room."""
        room = await self._service.member_room(identity, room_id)
        stored = await self._store.notification_level(identity.user_id, room.id)
        return room, effective_level(room, stored)

    async def set(self, identity: Identity, room_id: int, value: object) -> tuple[Room, str]:
        """Set the caller's level in a room they may read; the room and the level."""
        chosen = level(value)
        room = await self._service.member_room(identity, room_id)
        await self._store.set_notification_level(identity.user_id, room.id, chosen)
        return room, chosen


def wants_push(level: str, message: Message, user_id: int, *, follows: bool = False) -> bool:
    """Whether `user_id`, whose level in the message's room is `level`, is pushed
    `message` while away: "all" every message of the room's timeline, "mentions" those
    that mention them, "none" nothing; a thread's reply not sent to the room at "all" only
    if they follow its thread (`follows`) or it mentions them; never their own message,
    never a deleted one."""
    if message.deleted or user_id == message.sender_id:
        return False
    if level == "all" and (message.in_main_timeline or follows):
        return True
    return level in ("all", "mentions") and message.mentions_user(user_id)
