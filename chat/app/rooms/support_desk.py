"""Support threads (spec 001): one private room per user, in which the user writes to
support and any operator answers.

A thread is a room (kind "support", its user the only member), so its messages are
stored, ordered and delivered as every message is (`ChatService.post`); this module adds
who may do what in them, and finding the thread to answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from chat.core import validation
from chat.core.errors import Forbidden, NotFound
from chat.core.outgoing import OutgoingMessage
from chat.core.records import Message, Room, WaitingThread
from chat.store import History, Support

if TYPE_CHECKING:
    from chat.core.records import Identity, User

#: The most messages a thread's history, or the support queue, holds.
MAX_THREAD = 100


def _operators_only(identity: Identity, doing: str) -> None:
    if not identity.is_admin:
        raise Forbidden(f"only operators {doing}")


class DeskStore(Support, History, Protocol):
    """What the desk needs of the store: support threads and their messages."""


class Posted(Protocol):
    """What posting answers (`chat.app.service.Posted`): the message stored."""

    @property
    def message(self) -> Message: ...


class DeskService(Protocol):
    """What the support desk needs of `chat.app.service.ChatService`: posting, and users."""

    @property
    def store(self) -> DeskStore: ...
    @property
    def max_text_chars(self) -> int: ...
    async def post(
        self, identity: Identity, room: Room, outgoing: OutgoingMessage, *, skip: int | None = None
    ) -> Posted: ...
    async def user(self, user_id: int) -> User: ...


class SupportDesk:
    """The support operations, on top of the core's messages (`ChatService.post`)."""

    def __init__(self, service: DeskService) -> None:
        self._service = service
        self._store = service.store

    async def thread(
        self, identity: Identity, *, up_to_id: int | None = None
    ) -> tuple[Room | None, list[Message]]:
        """The caller's own support thread and its latest `MAX_THREAD` messages (deleted
        ones left out: spec 001 has no word for them), oldest first (only those up to
        `up_to_id`, if given); (None, []) if they never wrote to support (nothing is
        created)."""
        room = await self._store.support_room(identity.user_id, create=False)
        if room is None:
            return None, []
        if up_to_id is None:
            return room, await self._store.latest_messages(room.id, MAX_THREAD, skip_deleted=True)
        newest_first = await self._store.messages_before(
            room.id, up_to_id + 1, MAX_THREAD, skip_deleted=True
        )
        return room, newest_first[::-1]

    async def send(
        self, identity: Identity, outgoing: OutgoingMessage, *, skip: int | None = None
    ) -> tuple[Room, Message]:
        """A message from a user to support, in their own thread (created on first use)."""
        validation.message_text(outgoing.body, self._service.max_text_chars)
        room = await self._store.support_room(identity.user_id, create=True)
        assert room is not None
        return room, (await self._service.post(identity, room, outgoing, skip=skip)).message

    async def reply(
        self,
        identity: Identity,
        user_id: int,
        outgoing: OutgoingMessage,
        *,
        skip: int | None = None,
    ) -> tuple[Room, Message]:
        """An operator's answer in a user's support thread (created if the user has none)."""
        _operators_only(identity, "may answer support threads")
        validation.message_text(outgoing.body, self._service.max_text_chars)
        await self._service.user(user_id)
        room = await self._store.support_room(user_id, create=True)
        assert room is not None
        return room, (await self._service.post(identity, room, outgoing, skip=skip)).message

    async def reply_latest(
        self, identity: Identity, outgoing: OutgoingMessage, *, skip: int | None = None
    ) -> tuple[Room, Message]:
        """`reply` to the user of the latest thread: the one holding the newest message
        that is either from its user or from this operator. `NotFound` if no thread has
        one."""
        _operators_only(identity, "may answer support threads")
        validation.message_text(outgoing.body, self._service.max_text_chars)
        user_id = await self._store.latest_support_user(identity.user_id)
        if user_id is None:
            raise NotFound("no support thread to answer: give the user's id")
        return await self.reply(identity, user_id, outgoing, skip=skip)

    async def waiting(self, identity: Identity) -> list[WaitingThread]:
        """Support threads whose latest message is the user's: waiting for an operator."""
        _operators_only(identity, "see the support queue")
        return await self._store.waiting_support_threads(MAX_THREAD)
