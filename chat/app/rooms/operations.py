"""Rooms, for every adapter: making, joining and inviting, who may read, write or run
which room, the lists of rooms, members and people, direct conversations, and read
markers.

`RoomOperations` is a part of `ChatService` (a mixin, as `AccountOperations` is): the
HTTP routes and the dialects call these through the one service, and the attributes it
reads are the service's own.
"""

from __future__ import annotations

import weakref
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

import trio

from chat.core import names, shapes, validation
from chat.core.errors import (
    AccountErased,
    Conflict,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    RoomArchived,
)
from chat.core.records import Identity, PublicRoom, Room, RoomDetails, User
from chat.core.room_permissions import Action, permits
from chat.store import AccountData, Accounts, DirectGroups, Rooms

if TYPE_CHECKING:
    from chat.app.limits.rate_limits import RateLimits
    from chat.app.people.user_notices import UserNotices
    from chat.app.reads.batched_point_reads import PointReads
    from chat.app.rooms.moderation import RoomModeration

#: The most users one search by name prefix (`find_users`) returns.
MAX_FOUND_USERS = 20
#: The most members one page of a room's member list (`room_members`) holds.
MAX_MEMBERS_PAGE = 100
#: The most rooms `public_rooms` lists.
MAX_PUBLIC_ROOMS = 1000


class RoomStore(Accounts, AccountData, Rooms, DirectGroups, Protocol):
    """What rooms need of the store: rooms and memberships, users by id and name, and
    whether an account was erased."""


class RoomOperations:
    """Rooms, memberships, people and read markers (part of `ChatService`)."""

    store: RoomStore
    lobby: Room
    rate_limits: RateLimits
    notices: UserNotices
    moderation: RoomModeration
    point_reads: PointReads
    #: The rooms `room` handed out, while something holds them (`room`).
    _rooms_held: weakref.WeakValueDictionary[int, Room]
    #: One lock per user while a read marker of theirs is being moved (`mark_read`).
    _marking: dict[int, trio.Lock]

    if TYPE_CHECKING:
        # The service's own, from `AccountOperations`: a user by id, or `NotFound`.
        async def user(self, user_id: int) -> User: ...

    @property
    def lobby_id(self) -> int:
        return self.lobby.id

    async def create_room(self, identity: Identity, name: str, *, is_private: bool) -> Room:
        """A new group room, the caller its first member. Each attempt with a valid name
        counts against the caller's room limit (`RateLimited` past it), one whose name
        turns out to be taken too: the check and the count are one step, before the
        insert, so two requests at once cannot both take the last one."""
        validation.room_name(name)
        self.rate_limits.hit(self.rate_limits.rooms, str(identity.user_id))
        room = await self.store.create_room(
            name, is_private=is_private, creator_id=identity.user_id
        )
        await self._joined(identity, room)
        if not room.is_private:
            # Every directory lists it now (a private room's name is nobody else's).
            await self.notices.send_to_everyone(
                {"Type": "room-created", "RoomID": room.id, "Name": room.name}
            )
        return room

    async def _joined(self, identity: Identity, room: Room) -> None:
        """Tell the caller's connections, on every instance, that they are a member of
        `room` now (their other tabs list it; `chat.app.people.activity` follows it for them)."""
        await self.notices.send(
            identity.user_id, {"Type": "joined", "RoomID": room.id, "Name": room.name}
        )

    async def room(self, room_id: int) -> Room:
        """A room by id (`NotFound` if there is none): who may see it is the caller's.

        A room read again as it was is the same object while anyone holds it
        (`_rooms_held`): every /ws connection in a room keeps the room it entered, and
        100,000 copies of the lobby were a fifth of a KiB each."""
        return self._held(room_id, await self.store.room_by_id(room_id))

    def _held(self, room_id: int, room: Room | None) -> Room:
        """`room` as read, or the equal one held already (`room`); `NotFound` if None."""
        if room is None:
            raise NotFound(f"no room with RoomID {room_id}")
        held = self._rooms_held.get(room_id)
        if held == room:
            return held
        self._rooms_held[room_id] = room
        return room

    async def visible_room(self, identity: Identity | None, room_id: int) -> Room:
        """A room's description: anyone may see a public room, only members a private one."""
        room = await self.room(room_id)
        if room.is_private:
            if identity is None:
                raise NotAuthenticated(f"room {room_id} is private: send a token")
            if not await self.store.is_member(room.id, identity.user_id):
                raise Forbidden(f"room {room_id} is private and you are not a member")
        return room

    async def member_room(self, identity: Identity, room_id: int) -> Room:
        """A room the caller may read and write: one they are a member of, the lobby, or
        (for operators) any support thread."""
        # One read for both: every request to a room makes it (a reconnection
        # storm enters rooms by the thousand).
        found = await self.point_reads.memberships.get((room_id, identity.user_id))
        read, member = found if found is not None else (None, False)
        room = self._held(room_id, read)
        if room.kind == "lobby" or (room.kind == "support" and identity.is_admin):
            return room
        if not member:
            raise Forbidden(f"you are not a member of room {room_id}")
        return room

    async def moderated_room(self, identity: Identity, room_id: int) -> Room:
        """`member_room`, except that an operator reaches any group room: operators act
        as owners everywhere (`chat.core.room_permissions`), members or not."""
        room = await self.room(room_id)
        if identity.is_admin and room.kind == "group":
            return room
        return await self.member_room(identity, room_id)

    async def room_members(
        self, identity: Identity, room_id: int, *, after: int = 0, limit: int = MAX_MEMBERS_PAGE
    ) -> list[tuple[int, str, str]]:
        """(UID, name, role) of a room's members whose UIDs are above `after`, by UID, at most
        `limit` (1 to `MAX_MEMBERS_PAGE`): one page (members only, as reading the room).
        The lobby's members are every user, each a member there."""
        if not 1 <= limit <= MAX_MEMBERS_PAGE:
            raise InvalidInput(f"limit must be a whole number from 1 to {MAX_MEMBERS_PAGE}")
        room = await self.moderated_room(identity, room_id)
        return await self.store.room_members(room.id, after=after, limit=limit)

    async def join(self, identity: Identity, room_id: int) -> Room:
        """Join a public room (joining twice is fine). Private rooms take invitations only:
        their members (the creator, those invited) may "join" them again, as anyone may
        a room they are in; nobody else."""
        room = await self.room(room_id)
        member = room.is_private and await self.store.is_member(room.id, identity.user_id)
        if member and room.kind == "group":
            return room
        if room.is_private or room.kind not in ("group", "lobby"):
            raise Forbidden(f"room {room_id} is private: ask its owners for an invitation")
        if room.archived:
            raise RoomArchived(room.id)
        if room.kind == "group":
            # The store refuses a banned user in the statement that adds them: a ban
            # made at this moment, on any instance, is never missed.
            if not await self.store.add_member(room.id, identity.user_id):
                ban = await self.moderation.ban_in_force(room.id, identity.user_id)
                ends = None if ban is None else ban.until
                until = "" if ends is None else f" until {shapes.timestamp(ends)}"
                raise Forbidden(f"you are banned from room {room_id}{until}")
            await self._joined(identity, room)
        return room

    async def invite(self, identity: Identity, room_id: int, user_id: int) -> Room:
        """Add a user to a room. Its owners and moderators may (and operators); only
        group rooms take guests, and not users banned from them. Each invitation counts
        against the caller's invitation limit (`RateLimited` past it), one of a member
        too: it sends them an ``invited`` notice all the same."""
        room = await self.room(room_id)
        if room.kind != "group":
            raise Forbidden(f"only group rooms take invitations, and room {room_id} is not one")
        if not permits(room, Action.INVITE, await self.moderation.rank(identity, room)):
            raise Forbidden(f"only an owner or moderator of room {room_id} may invite users to it")
        await self.user(user_id)
        if room.archived:
            raise RoomArchived(room.id)
        if await self.moderation.ban_in_force(room.id, user_id) is not None:
            raise Conflict(f"UID {user_id} is banned from room {room_id}")
        self.rate_limits.hit(self.rate_limits.invites, str(identity.user_id))
        if not await self.store.add_member(room.id, user_id):  # banned meanwhile
            raise Conflict(f"UID {user_id} is banned from room {room_id}")
        # Told after the commit, so a client that enters the room at once may.
        invited = {
            "Type": "invited",
            "RoomID": room.id,
            "Name": room.name,
            "By": shapes.person(identity.user_id, identity.name),
        }
        await self.notices.send(user_id, invited)
        return room

    async def rooms_of(self, identity: Identity) -> list[int]:
        """The rooms the caller can enter: the lobby, then every room they are a member of."""
        return [self.lobby_id, *await self.store.rooms_of(identity.user_id)]

    async def room_details(self, identity: Identity) -> list[RoomDetails]:
        """`rooms_of`'s rooms, each described: what a room list shows. One query, and one
        more for the members of the group direct conversations among them (their names)."""
        details = await self.store.room_details(identity.user_id, self.lobby_id)
        groups = [each.room.id for each in details if each.room.is_group_direct]
        if not groups:
            return details
        members = await self.store.group_direct_members(groups)
        return [
            replace(each, members=tuple(members[each.room.id]))
            if each.room.is_group_direct
            else each
            for each in details
        ]

    async def public_rooms(self, identity: Identity) -> list[PublicRoom]:
        """The group rooms anyone may join, with their member counts, the most members
        first, then the most recently written in (at most `MAX_PUBLIC_ROOMS`: a crowd of
        empty rooms cannot push the busy ones out). The lobby is not one of them:
        everyone is in it already; nor is a room the caller is banned from."""
        return await self.store.public_rooms(MAX_PUBLIC_ROOMS, user_id=identity.user_id)

    async def find_users(self, identity: Identity, prefix: str) -> list[tuple[int, str]]:
        """(UID, name) of up to `MAX_FOUND_USERS` other users whose names start with
        `prefix`, compared as logging in compares names (`names.name_key`: case and
        look-alike letters aside), by name. The caller is left out: a picker for a
        conversation or an invitation has no use for them."""
        if not prefix:
            raise InvalidInput('query parameter "prefix" is required: one or more characters')
        if "\x00" in prefix:
            raise InvalidInput('query parameter "prefix" must not contain NUL characters')
        if len(prefix) > validation.MAX_NAME_CHARS:
            raise InvalidInput(
                f'query parameter "prefix" must be at most {validation.MAX_NAME_CHARS} characters'
            )
        return await self.store.users_by_prefix(
            names.name_key(prefix), caller_id=identity.user_id, limit=MAX_FOUND_USERS
        )

    # --- read markers ---

    async def mark_read(self, identity: Identity, room_id: int, message_id: int) -> int:
        """Move the caller's read marker in a room (members only) up to a message of that
        room; it never moves back. Every connection of the caller's, on every instance,
        is told where the marker now is. Returns that."""
        room = await self.member_room(identity, room_id)
        user_id = identity.user_id
        # One move at a time per user on this instance, from the store to the notice: two
        # concurrent moves could otherwise commit in one order and be told in the other,
        # leaving the user's tabs on the older marker.
        lock = self._marking.setdefault(user_id, trio.Lock())
        try:
            async with lock:
                marker = await self.store.mark_read(user_id, room.id, message_id)
                if marker is None:
                    raise NotFound(f"no message with MessageID {message_id} in room {room.id}")
                frame = {"Type": "read", "RoomID": room.id, "MessageID": marker}
                await self.notices.send(user_id, frame)
        finally:
            if not lock.locked() and self._marking.get(user_id) is lock:
                del self._marking[user_id]  # nobody holds or awaits it: forget it
        return marker

    async def unread_counts(self, identity: Identity) -> list[tuple[int, int, int]]:
        """(RoomID, unread, mentions) for each of the caller's rooms, the lobby included:
        messages others sent after the caller's read marker, and those of them that
        mention the caller, each counted up to `chat.store.rooms.UNREAD_CAP`."""
        return await self.store.unread_counts(identity.user_id, self.lobby_id)

    async def direct_room(self, identity: Identity, other_user_id: int) -> Room:
        """The caller's direct conversation with another user (created on first use)."""
        return await self._direct_room(identity, other_user_id, f"no user with UID {other_user_id}")

    async def _direct_room(self, identity: Identity, other_user_id: int, unknown: str) -> Room:
        """`direct_room`, with the protocol's own words for an unknown user. A room that
        exists proves both users did (an erased account's stays: `send_direct` looks it up).

        Opening a conversation puts it in the other user's list as an invitation does, so
        a new one counts against the caller's invitation limit (`RateLimited` past it): a
        user cannot open conversations with everyone. One that exists costs nothing. An
        erased account's conversation is closed (`AccountErased`), whether it exists or
        not (its history stays in the caller's room list)."""
        room = await self.store.direct_room(identity.user_id, other_user_id, create=False)
        if await self.store.user_by_id(other_user_id) is None:
            if room is not None or await self.store.is_erased(other_user_id):
                raise AccountErased(other_user_id)
            raise NotFound(unknown)
        if room is not None:
            return room
        self.rate_limits.hit(self.rate_limits.invites, str(identity.user_id))
        room = await self.store.direct_room(identity.user_id, other_user_id, create=True)
        assert room is not None
        return room
