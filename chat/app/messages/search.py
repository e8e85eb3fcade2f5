"""Searching messages (`GET /search`): who may find what, and the page of results.

A user finds the messages they may read now: in the lobby, in the rooms they are a
member of (their direct conversations and their own support thread among them) and, for
operators, in every support thread; never a deleted one, and an edited one by its
present text only. The store finds a message as soon as its sender has been told it is
stored, on every instance, whether its index holds it yet or not (SQLite's takes new
messages in batches: `chat.app.messages.search_indexer`); membership is read by the query itself, so
a room a user has left is not searched any more.

What a query means is `chat.core.search_terms`; each result carries its snippet. The
database stops a search past `SearchFilter.time_limit_s` (`TooCostly`, 422), and no more
searches run at once than half the database's connections (`search_gate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from chat.app.messages.search_gate import SearchGate
from chat.core import search_terms
from chat.core.errors import InvalidInput, TooCostly
from chat.core.records import Message, Room, SearchFilter
from chat.store import Accounts, Search
from chat.store.database import StatementTimeout

if TYPE_CHECKING:
    from chat.app.limits.rate_limits import RateLimits
    from chat.core.records import Identity

#: How many results one page holds by default, and at most.
DEFAULT_RESULTS = 20
MAX_RESULTS = 100


class RoomAccess(Protocol):
    """What searching needs of `chat.app.service.ChatService`: the rooms a caller may read."""

    async def member_room(self, identity: Identity, room_id: int) -> Room: ...


@dataclass(frozen=True, slots=True)
class Found:
    """A message a search found, and where its text matched (`search_terms.snippet`)."""

    message: Message
    snippet: list[str]


class SearchStore(Search, Accounts, Protocol):
    """What searching needs of the store: the index, and finding a sender by name."""


class MessageSearch:
    """Full-text search of messages, for every protocol adapter (`ChatService.search`)."""

    def __init__(
        self, service: RoomAccess, store: SearchStore, rate_limits: RateLimits, gate: SearchGate
    ) -> None:
        self._service = service
        self._store = store
        self._rate_limits = rate_limits
        #: The searches running and waiting (`chat.app.messages.search_gate`).
        self.gate = gate

    async def search(
        self,
        identity: Identity,
        query: str | None,
        *,
        room_id: int | None = None,
        sender_name: str | None = None,
        before_id: int | None = None,
        limit: int = DEFAULT_RESULTS,
    ) -> list[Found]:
        """Up to `limit` (1-`MAX_RESULTS`) messages the caller may read that contain every
        word and phrase of `query`, newest first: older than `before_id` (the next page),
        in room `room_id` (which the caller must be able to read: `NotFound` or
        `Forbidden` as for its history) and from the user called `sender_name`, when set.
        Raises `InvalidInput` for a query `search_terms.parse` refuses, `RateLimited`
        past the caller's search limit (CHAT_RATE_SEARCHES) or searches under way at
        once, `Overloaded` when too many searches wait already (`SearchGate`), and
        `TooCostly` for a search the database stopped at its time limit."""
        if not 1 <= limit <= MAX_RESULTS:
            raise InvalidInput(f"limit must be between 1 and {MAX_RESULTS}")
        terms = search_terms.parse(query)
        self._rate_limits.hit(self._rate_limits.searches, str(identity.user_id))
        if room_id is not None:
            await self._service.member_room(identity, room_id)
        sender_id = None if sender_name is None else await self._sender_id(sender_name)
        search = SearchFilter(
            user_id=identity.user_id,
            admin=identity.is_admin,
            words=terms.indexed,
            short_words=terms.short,
            room_id=room_id,
            sender_id=sender_id,
            before_id=before_id,
            limit=limit,
        )
        try:
            async with self.gate.place(identity.user_id):
                found = await self._store.search_messages(search)
        except StatementTimeout as stopped:
            raise TooCostly(
                f"the search took longer than {stopped.seconds:g} s and was stopped: search"
                " for longer or rarer words, in one room, or from one sender"
            ) from None
        return [Found(message, search_terms.snippet(message.body, terms)) for message in found]

    async def _sender_id(self, name: str) -> int:
        """The id of the user `from=` names (as logging in compares names)."""
        if not name or len(name) > search_terms.MAX_QUERY_CHARS or "\x00" in name:
            raise InvalidInput('query parameter "from" must be a user name')
        user = await self._store.user_like_name(name)
        if user is None:
            raise InvalidInput(f'query parameter "from": no user is called "{name}"')
        return user.id
