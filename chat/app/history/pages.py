"""Pages of a room's messages for clients that scroll (`GET /messages/{roomID}`): back
from the newest or from a message, forward from a message, and around one (where a
search result or a link opens). Members only; every page is newest first, tombstones
included (a client shows them as such). Each comes from the room's window in memory
when it holds the page (`chat.app.history.from_memory`), else from the table."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Protocol

from chat.core.errors import InvalidInput, NotFound
from chat.core.records import Message, Room
from chat.store import History

if TYPE_CHECKING:
    from chat.app.history.from_memory import HistoryFromMemory
    from chat.app.reads.single_flight import SingleFlight
    from chat.core.records import Identity

#: The most messages one page may hold.
MAX_PAGE = 100
#: How many messages a page around a message holds when the client does not say.
DEFAULT_AROUND = 50


class InThread(NotFound):
    """The message a page around was asked for is a reply in a thread, not on the room's
    main timeline (a thread reply not also sent to the room): a client reads it in its
    thread, whose root is `thread_id` (HTTP 404, with the ``ThreadID``)."""

    def __init__(self, room_id: int, message_id: int, thread_id: int) -> None:
        super().__init__(
            f"MessageID {message_id} is a reply in thread {thread_id} of room {room_id},"
            f" not on the room's timeline: read it in the thread"
            f" (GET /messages/{room_id}/threads/{thread_id}?around={message_id})"
        )
        self.thread_id = thread_id


def checked_limit(limit: int) -> int:
    """`limit` if a page may hold that many messages; `InvalidInput` otherwise."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
    return limit


class PagesService(Protocol):
    """What pages need of `chat.app.service.ChatService`: the rooms a caller may read, and
    the history kept in memory and the reads shared with others."""

    @property
    def history_cache(self) -> HistoryFromMemory: ...
    @property
    def shared_reads(self) -> SingleFlight: ...
    async def member_room(self, identity: Identity, room_id: int) -> Room: ...


class MessagePages:
    """A room's history a page at a time (`ChatService.pages`)."""

    def __init__(self, service: PagesService, store: History) -> None:
        self._service = service
        self._store = store

    async def before(
        self, identity: Identity, room_id: int, *, last_id: int, limit: int = MAX_PAGE
    ) -> list[Message]:
        """Messages older than `last_id` (0: from the newest)."""
        checked_limit(limit)
        room = await self._service.member_room(identity, room_id)
        # From memory when the room's window holds the page: the first, or one further
        # back within the window's reach (someone scrolling up).
        cached = await self._service.history_cache.latest(
            room.id,
            limit,
            skip_deleted=False,
            kind="older" if last_id else "page",
            up_to_id=last_id - 1 if last_id else None,
        )
        if cached is not None:
            return cached[::-1]
        return await self._store.messages_before(room.id, last_id or None, limit)

    async def entering(self, room: Room, limit: int, *, up_to_id: int) -> list[Message]:
        """The page a room is entered with (``enter`` with ``Page`` on ``/ws``): its
        `limit` newest messages with ids up to `up_to_id`, newest first, tombstones
        included. `up_to_id` is the position at which the entering connection's
        subscription began, so the page and the live frames after it meet exactly. The
        caller has checked the membership.

        From the room's window when it holds the page; else from the table, where
        identical pages in flight at once are read once (`chat.app.reads.single_flight`): the bound
        fixes the answer as it fixes a resume's."""
        checked_limit(limit)
        cached = await self._service.history_cache.latest(
            room.id, limit, skip_deleted=False, kind="enter", up_to_id=up_to_id
        )
        if cached is not None:
            return cached[::-1]
        return await self._service.shared_reads.read(
            "enter",
            (room.id, limit, up_to_id),
            partial(self._store.messages_before, room.id, up_to_id + 1, limit),
        )

    async def after(
        self, identity: Identity, room_id: int, *, after_id: int, limit: int = MAX_PAGE
    ) -> list[Message]:
        """The `limit` messages next after `after_id` (towards the present); fewer than
        `limit` means the page reaches the newest."""
        checked_limit(limit)
        room = await self._service.member_room(identity, room_id)
        cached = await self._service.history_cache.after(room.id, after_id, limit, kind="newer")
        if cached is not None:
            return cached[::-1]
        return await self._store.messages_after(room.id, after_id, limit)

    async def around(
        self, identity: Identity, room_id: int, *, message_id: int, limit: int = DEFAULT_AROUND
    ) -> list[Message]:
        """The message `message_id` with about half of `limit` older messages and the rest
        newer ones (fewer where the room has fewer). `NotFound` if the room has no such
        message; `InThread` if it is a thread reply the main timeline leaves out."""
        checked_limit(limit)
        room = await self._service.member_room(identity, room_id)
        older = limit // 2 + 1  # the message itself, and half the page before it
        cached = await self._service.history_cache.around(room.id, message_id, older, limit)
        newer: list[Message] | None = None
        if cached is not None:
            through, newer = cached[0][::-1], cached[1][::-1]  # newest first, as pages are
        else:
            through = await self._store.messages_before(room.id, message_id + 1, older)
        if not through or through[0].id != message_id:
            # Not on the timeline: a thread reply (one visible, whose root the store
            # names) is told apart from a message the room does not have.
            root = await self._store.thread_root(room.id, message_id)
            if root is not None and root != message_id:
                raise InThread(room.id, message_id, root)
            raise NotFound(f"no message with MessageID {message_id} in room {room.id}")
        if newer is None:  # the table's, read only once the message is known to be there
            newer = await self._store.messages_after(room.id, message_id, limit - len(through))
        return [*newer, *through]
