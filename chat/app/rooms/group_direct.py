"""Group direct conversations, for every adapter: a private conversation of 3 to 10
people, with the rules of a direct one (no name, no owner, not in the directory, no
moderation), whose members may add people and leave.

The conversation of exactly a set of people is one room (`chat.store.direct_groups`):
asking for it again answers that room, and it follows its members, so a set changed
by an addition or a leave is found as it is now. A new member reads the whole history,
as a room's does. Two people keep their direct conversation (`RoomOperations.direct_room`).

Who hears of what, on every instance: every member of a new conversation, and the
person added to one, gets ``invited`` (the creator ``joined``), which puts the room in
their lists and in the activity index (`chat.app.people.activity`); a change of members
gives every member's connections ``{"Type": "members", "RoomID", "UIDs"}``. A leave is a
departure in the message stream, as from a group room (`RoomModeration.leave`).

`GroupDirectOperations` is a part of `ChatService` (a mixin, as `RoomOperations` is).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from chat.core import shapes
from chat.core.errors import AccountErased, Conflict, InvalidInput, NotFound
from chat.core.records import Addition, Identity, Room
from chat.store import AccountData, Accounts, DirectGroups

if TYPE_CHECKING:
    from chat.app.limits.rate_limits import RateLimits
    from chat.app.people.user_notices import UserNotices

#: The fewest people in a group direct conversation, the caller included (two have a
#: direct conversation of their own).
MIN_PEOPLE = 3
#: The most people in one.
MAX_PEOPLE = 10
#: The most UIDs one request may list, duplicates and the caller included: a longer list
#: is refused before anything is read.
MAX_LISTED = 100


class GroupDirectStore(Accounts, AccountData, DirectGroups, Protocol):
    """What group direct conversations need of the store: users, whether an account was
    erased, and the conversations."""


class GroupDirectOperations:
    """Group direct conversations (part of `ChatService`)."""

    store: GroupDirectStore
    rate_limits: RateLimits
    notices: UserNotices

    if TYPE_CHECKING:
        # The service's own (`RoomOperations`): a room the caller is a member of.
        async def member_room(self, identity: Identity, room_id: int) -> Room: ...

    async def group_direct_room(
        self, identity: Identity, user_ids: Sequence[int]
    ) -> tuple[Room, bool]:
        """The conversation of the caller and `user_ids` (duplicates, and the caller
        listed, aside), and whether it was made now: made on first use, when it counts
        against the caller's invitation limit (`RateLimited` past it), as opening a direct
        conversation does. 3 to 10 people in all (`InvalidInput` otherwise); each an
        account (`NotFound`) that was not erased (`AccountErased`)."""
        if len(user_ids) > MAX_LISTED:
            raise InvalidInput(f'field "UIDs" must list at most {MAX_LISTED} UIDs')
        people = sorted({identity.user_id, *user_ids})
        if not MIN_PEOPLE <= len(people) <= MAX_PEOPLE:
            raise InvalidInput(
                f"a group direct conversation has {MIN_PEOPLE} to {MAX_PEOPLE} people, you"
                f" included: these are {len(people)} (two people: GET /dm/{{UID}})"
            )
        for user_id in people:
            if user_id != identity.user_id:
                await self._person(user_id)
        room, _ = await self.store.group_direct_room(
            people, creator_id=identity.user_id, create=False
        )
        if room is not None:
            return room, False
        self.rate_limits.hit(self.rate_limits.invites, str(identity.user_id))
        room, created = await self.store.group_direct_room(
            people, creator_id=identity.user_id, create=True
        )
        assert room is not None
        if created:
            # Told after the commit, so a client that enters the room at once may.
            joined = {"Type": "joined", "RoomID": room.id, "Name": None}
            await self.notices.send(identity.user_id, joined)
            for user_id in people:
                if user_id != identity.user_id:
                    await self.notices.send(user_id, self._invited(identity, room))
        return room, created

    async def add_to_group_direct(self, identity: Identity, room_id: int, user_id: int) -> Room:
        """Add someone to a group direct conversation the caller is in: any member may,
        up to `MAX_PEOPLE` (`Conflict` past it; adding a member again changes nothing).
        They read its whole history. Counts against the caller's invitation limit."""
        room = await self.member_room(identity, room_id)
        if not room.is_group_direct:
            raise Conflict(
                f"room {room.id} is not a group direct conversation: people are added to"
                " group rooms by invitation (PUT /invite)"
            )
        await self._person(user_id)
        self.rate_limits.hit(self.rate_limits.invites, str(identity.user_id))
        added = await self.store.add_to_group_direct(room.id, user_id, most=MAX_PEOPLE)
        if added is Addition.FULL:
            raise Conflict(
                f"room {room.id} has {MAX_PEOPLE} people already, as many as a group direct"
                " conversation may"
            )
        if added is Addition.NOT_A_GROUP:  # never, as the room's kind does not change
            raise Conflict(f"room {room.id} is not a group direct conversation")
        if added is Addition.ADDED:
            await self.notices.send(user_id, self._invited(identity, room))
            await self.members_changed(room)
        return room

    async def members_changed(self, room: Room) -> None:
        """Tell every member's connections, on every instance, who the members of a group
        direct conversation are now (its name, as clients show it, changed)."""
        people = await self.group_direct_people(room)
        frame = {"Type": "members", "RoomID": room.id, "UIDs": [uid for uid, _ in people]}
        await self.notices.send_to_members(room.id, frame)

    async def group_direct_people(self, room: Room) -> list[tuple[int, str]]:
        """(UID, name) of a group direct conversation's members, by UID (the caller may
        read it: checked already)."""
        return (await self.store.group_direct_members([room.id]))[room.id]

    async def _person(self, user_id: int) -> None:
        """`NotFound` unless there is such an account; `AccountErased` if it was erased."""
        if await self.store.user_by_id(user_id) is None:
            if await self.store.is_erased(user_id):
                raise AccountErased(user_id)
            raise NotFound(f"no user with UID {user_id}")

    @staticmethod
    def _invited(identity: Identity, room: Room) -> dict[str, Any]:
        return {
            "Type": "invited",
            "RoomID": room.id,
            "Name": None,
            "By": shapes.person(identity.user_id, identity.name),
        }
