"""Threads read a page at a time, and a room's threads listed.

- a thread is read by whoever may read its room (members; `NotFound` for a message that
  is not a root of the room: unknown, another room's, or itself a reply);
- a thread's pages are as a room's (`chat.app.history.pages`): newest first, back from
  the newest or from a message, forward from one, or around one; the root is the
  thread's oldest message, so the last page ends with it; tombstones are included;
- a room's threads come by last activity (their newest reply that shows), each root as
  history shows it with its summary (`ThreadSummary`);
- following: anyone who may read a thread follows it or stops (replying in it follows
  again), and moves their marker in it; the threads they follow come with what of each
  they have not read (`FollowedThread`), in the rooms they may read now. A thread the
  caller may not read is one answer with an unknown one (`NotFound`).

Posting in a thread is posting to the room (`ChatService.post`, which checks the root):
this module only reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from chat.app.history.pages import DEFAULT_AROUND, MAX_PAGE, checked_limit
from chat.core.errors import Forbidden, InvalidInput, NotFound
from chat.core.records import Message, Room, ThreadSummary
from chat.core.thread_records import FollowedThread
from chat.store import Threads

if TYPE_CHECKING:
    from chat.app.people.thread_follows import KnownFollows
    from chat.core.records import Identity

#: How many threads a room's list holds when the client does not say (and at most).
DEFAULT_THREADS = 50
MAX_THREADS = 100
#: How many followed threads `GET /threads/unread` lists when the client does not say
#: (and at most).
DEFAULT_FOLLOWED = 200
MAX_FOLLOWED = 500


class Readers(Protocol):
    """What threads need of `chat.app.service.ChatService`: the rooms a caller may read."""

    lobby: Room

    async def member_room(self, identity: Identity, room_id: int) -> Room: ...


class MessageThreads:
    """A thread's messages a page at a time, and a room's threads (`ChatService.threads`)."""

    def __init__(self, readers: Readers, store: Threads, follows: KnownFollows) -> None:
        self._readers = readers
        self._store = store
        self._follows = follows

    async def page(
        self,
        identity: Identity,
        room_id: int,
        thread_id: int,
        *,
        last_id: int = 0,
        after: int | None = None,
        around: int | None = None,
        limit: int | None = None,
    ) -> list[Message]:
        """A page of the thread `thread_id` of room `room_id`, newest first: older than
        `last_id` (0: from the newest), or the messages next after `after`, or `around`
        a message of the thread (about half older, the rest newer)."""
        room = await self._readers.member_room(identity, room_id)
        if not await self._store.is_thread_root(room.id, thread_id):
            raise NotFound(f"no thread {thread_id} in room {room.id}")
        store = self._store
        if around is not None:
            size = checked_limit(DEFAULT_AROUND if limit is None else limit)
            through = await store.thread_before(room.id, thread_id, around + 1, size // 2 + 1)
            if not through or through[0].id != around:
                raise NotFound(f"no message with MessageID {around} in thread {thread_id}")
            newer = await store.thread_after(room.id, thread_id, around, size - len(through))
            return [*newer, *through]
        size = checked_limit(MAX_PAGE if limit is None else limit)
        if after is not None:
            return await store.thread_after(room.id, thread_id, after, size)
        return await store.thread_before(room.id, thread_id, last_id or None, size)

    async def room_threads(
        self, identity: Identity, room_id: int, *, limit: int = DEFAULT_THREADS
    ) -> list[tuple[Message, ThreadSummary]]:
        """Room `room_id`'s threads with replies, by last activity, newest first."""
        if not 1 <= limit <= MAX_THREADS:
            raise InvalidInput(f"limit must be between 1 and {MAX_THREADS}")
        room = await self._readers.member_room(identity, room_id)
        return await self._store.room_threads(room.id, limit)

    async def follow(self, identity: Identity, thread_id: int, *, following: bool) -> int:
        """Follow thread `thread_id`, or stop following it; its room's id."""
        room_id = await self._readable_thread(identity, thread_id)
        await self._store.follow_thread(identity.user_id, room_id, thread_id, following=following)
        await self._follows.chose(thread_id)
        return room_id

    async def following(self, identity: Identity, thread_id: int) -> tuple[int, bool]:
        """Thread `thread_id`'s room, and whether the caller follows the thread."""
        room_id = await self._readable_thread(identity, thread_id)
        return room_id, await self._store.follows_thread(identity.user_id, thread_id)

    async def mark_read(self, identity: Identity, thread_id: int, message_id: int) -> int:
        """The caller has read thread `thread_id` up to `message_id` (its root or one of
        its replies: `NotFound` otherwise); the marker after (it never moves back)."""
        room_id = await self._readable_thread(identity, thread_id)
        through = await self._store.thread_before(room_id, thread_id, message_id + 1, 1)
        if not through or through[0].id != message_id:
            raise NotFound(f"no message with MessageID {message_id} in thread {thread_id}")
        return await self._store.mark_thread_read(identity.user_id, room_id, thread_id, message_id)

    async def followed(
        self, identity: Identity, *, limit: int = DEFAULT_FOLLOWED
    ) -> list[FollowedThread]:
        """The threads the caller follows, by last activity, with their unread counts."""
        if not 1 <= limit <= MAX_FOLLOWED:
            raise InvalidInput(f"limit must be between 1 and {MAX_FOLLOWED}")
        return await self._store.followed_threads(
            identity.user_id, self._readers.lobby.id, limit, operator=identity.is_admin
        )

    async def _readable_thread(self, identity: Identity, thread_id: int) -> int:
        """The room of thread `thread_id`, if the caller may read it."""
        room_id = await self._store.thread_room(thread_id)
        try:
            if room_id is None:
                raise NotFound("no such thread")
            await self._readers.member_room(identity, room_id)
        except (NotFound, Forbidden):
            raise NotFound(f"no thread {thread_id}") from None
        return room_id
