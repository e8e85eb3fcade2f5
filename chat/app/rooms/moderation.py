"""Running a room: roles, leaving, removals, bans, mutes, settings, moderators'
deletions and the audit log, checked against `chat.core.room_permissions`' table.

Every change is committed (with its audit entry, in the same transaction: the store's)
before anyone is told. A member taken out (removed, banned, or leaving) is a departure
at a position of the message stream, committed with the change, and published in its
place on every instance (`MessageWriter.committed`): each instance's broadcaster hands it
to `departed` between what comes before and after it, so the user's connections leave
the room (`chat.ws.rooms`) and get ``removed`` before any message committed after it
could reach them. The other changes reach the people they concern on every instance
through `chat.app.people.user_notices`: a muted user's connections ``muted``/``unmuted``,
every member's connections a role or settings change (``role``, ``room``). What the notices cannot
guarantee, the database does: each message stored is checked against the room's rules
in its own transaction (`chat.store.room_rules`), so a removed or muted user's
send fails even on an instance that has not heard yet.

Every change is also logged as a structured line (``"event": "audit"``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from chat.core import shapes
from chat.core.errors import (
    Conflict,
    Forbidden,
    LastOwner,
    NotFound,
    RoomArchived,
    RoomNameTaken,
)
from chat.core.moderation_records import AuditEntry, Restriction
from chat.core.records import Departure, Message, Room
from chat.core.room_permissions import (
    KIND_WORDS,
    Action,
    allowed_in,
    outranks,
    permits,
    rank_of,
    require,
)
from chat.store import Moderation, Rooms
from chat.store.room_rules import muted

if TYPE_CHECKING:
    from chat.app.people.user_notices import UserNotices
    from chat.core.records import Identity, User

log = logging.getLogger(__name__)

#: The most bans or mutes `restrictions` lists.
MAX_RESTRICTIONS = 1000


class ModerationStore(Moderation, Rooms, Protocol):
    """What running a room needs of the store: roles, restrictions, settings, the audit log."""


class Stream(Protocol):
    """Where a member's departure joins the message stream (`MessageWriter.committed`)."""

    def committed(self, item: Departure, room: Room) -> None: ...


class ModerationService(Protocol):
    """What running a room needs of `chat.app.service.ChatService`."""

    @property
    def store(self) -> ModerationStore: ...
    @property
    def notices(self) -> UserNotices: ...
    @property
    def writer(self) -> Stream: ...
    async def room(self, room_id: int) -> Room: ...
    async def user(self, user_id: int) -> User: ...
    async def member_room(self, identity: Identity, room_id: int) -> Room: ...
    async def members_changed(self, room: Room) -> None: ...


class RoomModeration:
    """The rules of running a room, for HTTP routes and `/ws` alike."""

    def __init__(self, service: ModerationService) -> None:
        self._service = service
        self._store = service.store
        self._notices = service.notices

    # --- who the caller is in a room ---

    async def rank(self, identity: Identity, room: Room) -> int:
        """The caller's rank in `room` (`chat.core.room_permissions.rank_of`)."""
        if identity.is_admin:
            return rank_of(None, is_admin=True)
        if room.kind != "group":
            return 0
        return rank_of(await self._store.member_role(room.id, identity.user_id), is_admin=False)

    async def authorized(self, identity: Identity, room_id: int, action: Action) -> Room:
        """The room, if the caller may do `action` there; else the exact refusal (for
        what other parts of the application run: `chat.app.commands.registry`)."""
        room, _rank = await self._authorized(identity, room_id, action)
        return room

    async def _authorized(
        self, identity: Identity, room_id: int, action: Action
    ) -> tuple[Room, int]:
        """The room and the caller's rank there, if they may do `action` there; else the
        exact refusal."""
        room = await self._room(identity, room_id)
        rank = await self.rank(identity, room)
        require(room, action, rank)
        return room, rank

    async def _room(self, identity: Identity, room_id: int) -> Room:
        """The room; a direct conversation or support thread only to those who may read
        it (only they hear what kind of room it is)."""
        room = await self._service.room(room_id)
        if room.kind in ("direct", "support"):
            room = await self._service.member_room(identity, room_id)
        return room

    async def _target(
        self, rank: int, room: Room, user_id: int, action: Action, *, verb: str | None = None
    ) -> tuple[str, str | None, int]:
        """(name, role in the room, rank there) of the person `action` is on, if the
        caller (of `rank`) outranks them; else the exact refusal ("you cannot `verb`...",
        the action's own verb unless given)."""
        target = await self._service.user(user_id)
        if room.kind == "lobby":
            role: str | None = "member"  # everyone is
        else:
            role = await self._store.member_role(room.id, user_id)
        target_rank = rank_of(role, is_admin=target.is_admin)
        if not outranks(rank, target_rank, action=action):
            raise _outranked(verb or action.value.split()[0], user_id, room)
        return target.name, role, target_rank

    # --- roles ---

    async def set_role(self, identity: Identity, room_id: int, user_id: int, role: str) -> None:
        """Give a member of a group room a role (owners and operators only)."""
        room, rank = await self._authorized(identity, room_id, Action.SET_ROLE)
        name, _, _ = await self._target(rank, room, user_id, Action.SET_ROLE)
        entry = self._entry(identity, room, "role", user_id, name, details={"Role": role})
        try:
            before = await self._store.set_member_role(room.id, user_id, role, entry)
        except LastOwner:
            raise self._last_owner(identity, room, user_id) from None
        if before is None:
            raise NotFound(f"UID {user_id} is not a member of room {room.id}")
        if before != role:
            log_audit(entry)
            frame = {"Type": "role", "RoomID": room.id, "UID": user_id, "Role": role}
            await self._notices.send_to_members(room.id, frame)

    @staticmethod
    def _last_owner(identity: Identity, room: Room, user_id: int) -> LastOwner:
        who = "you are" if user_id == identity.user_id else f"UID {user_id} is"
        return LastOwner(
            f"{who} the last owner of room {room.id}: make someone else an owner first"
        )

    # --- leaving and removing ---

    async def leave(self, identity: Identity, room_id: int) -> None:
        """Leave a group room (the last owner may not while others remain) or a group
        direct conversation (whose other members are told: `members_changed`)."""
        room = await self._room(identity, room_id)
        if room.kind != "group" and not room.is_group_direct:
            raise Conflict(f"room {room.id} is {KIND_WORDS[room.kind]}: it cannot be left")
        try:
            departure = await self._store.remove_member(
                room.id, identity.user_id, audit=None, keep_an_owner=True, by_id=identity.user_id
            )
        except LastOwner:
            raise self._last_owner(identity, room, identity.user_id) from None
        if departure is None:
            raise Forbidden(f"you are not a member of room {room.id}")
        log.info(
            "left a room", extra={"event": "left", "room_id": room.id, "uid": identity.user_id}
        )
        self._service.writer.committed(departure, room)
        if room.is_group_direct:
            await self._service.members_changed(room)

    async def remove(self, identity: Identity, room_id: int, user_id: int, reason: str) -> None:
        """Take a member out of a group room (moderators and owners, on lower ranks)."""
        if user_id == identity.user_id:
            await self.leave(identity, room_id)
            return
        room, rank = await self._authorized(identity, room_id, Action.REMOVE)
        name, role, _ = await self._target(rank, room, user_id, Action.REMOVE)
        if role is None:
            raise NotFound(f"UID {user_id} is not a member of room {room.id}")
        entry = self._entry(identity, room, "remove", user_id, name, reason=reason)
        departure = await self._store.remove_member(
            room.id,
            user_id,
            audit=entry,
            keep_an_owner=False,
            by_id=identity.user_id,
            reason=reason,
        )
        if departure is None:
            raise NotFound(f"UID {user_id} is not a member of room {room.id}")
        log_audit(entry)
        self._service.writer.committed(departure, room)

    def departed(self, departure: Departure) -> None:
        """A member's departure, in its place in the stream (`Broadcaster.on_departure`,
        on every instance): their connections here leave the room before anything
        positioned after it is delivered, and are told why (``removed``:
        `chat.app.people.user_notices`; a ban says so, and until when). Never waits."""
        frame: dict[str, Any] = {
            "Type": "removed",
            "RoomID": departure.room_id,
            "By": shapes.person(departure.by_id, departure.by_name),
            "Reason": departure.reason,
        }
        if departure.banned:
            frame["Banned"] = True
            frame["Until"] = None if departure.until is None else shapes.timestamp(departure.until)
        self._notices.deliver(departure.user_id, frame)

    # --- bans and mutes ---

    async def ban(
        self,
        identity: Identity,
        room_id: int,
        user_id: int,
        *,
        reason: str,
        until: datetime | None,
    ) -> None:
        """Ban a user (member or not) from a group room, removing them if they are in it."""
        room, rank = await self._authorized(identity, room_id, Action.BAN)
        name, _, target_rank = await self._target(rank, room, user_id, Action.BAN)
        details = {"Until": None if until is None else shapes.timestamp(until)}
        entry = self._entry(identity, room, "ban", user_id, name, reason=reason, details=details)
        departure = await self._store.restrict(
            "ban",
            room.id,
            user_id,
            reason=reason,
            until=until,
            by_id=identity.user_id,
            audit=entry,
            target_rank=target_rank,
        )
        log_audit(entry)
        if departure is not None:
            self._service.writer.committed(departure, room)

    async def mute(
        self,
        identity: Identity,
        room_id: int,
        user_id: int,
        *,
        reason: str,
        until: datetime,
    ) -> None:
        """Mute a member of a group room (or anyone in the lobby) until `until`."""
        room, rank = await self._authorized(identity, room_id, Action.MUTE)
        name, role, target_rank = await self._target(rank, room, user_id, Action.MUTE)
        if role is None:
            raise NotFound(f"UID {user_id} is not a member of room {room.id}")
        details = {"Until": shapes.timestamp(until)}
        entry = self._entry(identity, room, "mute", user_id, name, reason=reason, details=details)
        await self._store.restrict(
            "mute",
            room.id,
            user_id,
            reason=reason,
            until=until,
            by_id=identity.user_id,
            audit=entry,
            target_rank=target_rank,
        )
        log_audit(entry)
        frame = {
            "Type": "muted",
            "RoomID": room.id,
            "Until": details["Until"],
            "By": shapes.person(identity.user_id, identity.name),
            "Reason": reason,
        }
        await self._notices.send(user_id, frame)

    async def lift(self, identity: Identity, room_id: int, user_id: int, kind: str) -> None:
        """Lift a ban ("ban") or a mute ("mute") before its time. Lifting needs what
        placing needed: a rank above the person's, as they are now (a member muted) and
        as they were when it was placed (a ban took them out of the room, and their role
        with it: the store kept their rank)."""
        action = Action.BAN if kind == "ban" else Action.MUTE
        room, rank = await self._authorized(identity, room_id, action)
        verb = f"un{kind}"
        name, _, _ = await self._target(rank, room, user_id, action, verb=verb)

        def check(rank_when_placed: int) -> None:
            if not outranks(rank, rank_when_placed, action=action):
                raise _outranked(verb, user_id, room)

        entry = self._entry(identity, room, verb, user_id, name)
        if not await self._store.lift(kind, room.id, user_id, entry, check=check):
            words = "banned from" if kind == "ban" else "muted in"
            raise NotFound(f"UID {user_id} is not {words} room {room.id}")
        log_audit(entry)
        if kind == "mute":
            await self._notices.send(user_id, {"Type": "unmuted", "RoomID": room.id})

    async def restrictions(self, identity: Identity, room_id: int, kind: str) -> list[Restriction]:
        """The bans or mutes in force in a room (moderators and owners)."""
        room, _ = await self._authorized(identity, room_id, Action.LIST_RESTRICTIONS)
        return await self._store.restrictions(kind, room.id, limit=MAX_RESTRICTIONS)

    async def ban_in_force(self, room_id: int, user_id: int) -> Restriction | None:
        found = await self._store.restrictions("ban", room_id, user_id=user_id, limit=1)
        return found[0] if found else None

    async def require_not_muted(self, identity: Identity, room: Room) -> None:
        """Refuse a change (edit, reaction) by a user muted in `room` (sends are refused
        by the store, `chat.store.room_rules`)."""
        if room.kind not in ("group", "lobby"):
            return
        found = await self._store.restrictions("mute", room.id, user_id=identity.user_id, limit=1)
        if found and found[0].until is not None:
            raise muted(room.id, found[0].until)

    async def require_writable(self, room: Room) -> None:
        """Refuse a change (edit, deletion, reaction, pin) in an archived room, read anew:
        the room a connection entered may have been archived since (sends are refused by
        the store, `chat.store.room_rules`). Only group rooms are ever archived."""
        if room.kind != "group":
            return
        now = await self._store.room_by_id(room.id)
        if now is None:
            raise NotFound(f"no room with RoomID {room.id}")
        if now.archived:
            raise RoomArchived(room.id)

    # --- settings ---

    async def update_settings(
        self, identity: Identity, room_id: int, changes: dict[str, Any]
    ) -> Room:
        """Change some of a room's settings (`chat.store.moderation.ROOM_SETTINGS`):
        topic and slow mode need a moderator, name, privacy and retention an owner (in
        the lobby, an operator: `chat.app.messages.retention` says what retention does). Every
        member's connections hear of the room as it is after (``room``)."""
        room = await self._room(identity, room_id)
        rank = await self.rank(identity, room)
        if {"topic", "slow_mode_seconds", "link_previews"} & changes.keys():
            require(room, Action.TOPIC_AND_SLOW_MODE, rank)
        if {"name", "is_private"} & changes.keys():
            require(room, Action.NAME_AND_PRIVACY, rank)
        if "retention_days" in changes:
            require(room, Action.RETENTION, rank)
        now = {
            "name": room.name,
            "topic": room.topic,
            "is_private": room.is_private,
            "slow_mode_seconds": room.slow_mode_seconds,
            "retention_days": room.retention_days,
            "link_previews": room.link_previews,
        }
        changed = {key: value for key, value in changes.items() if now[key] != value}
        if not changed:
            return room
        details = {_FIELDS[key]: value for key, value in changed.items()}
        entry = self._entry(identity, room, "settings", details=details)
        try:
            room = await self._store.update_room(room.id, changed, entry)
        except RoomNameTaken:
            # Made public, or renamed: either way the name a public room has already.
            raise RoomNameTaken(str(changed.get("name", room.name))) from None
        log_audit(entry)
        await self._notices.send_to_members(room.id, {"Type": "room", **shapes.room(room)})
        return room

    # --- moderators' deletions ---

    async def may_delete_any(self, identity: Identity, room: Room) -> bool:
        """Whether the caller may delete other people's messages in `room`."""
        if not allowed_in(room, Action.DELETE_ANY):
            return False  # no query for a direct conversation or support thread
        return permits(room, Action.DELETE_ANY, await self.rank(identity, room))

    async def deleted_by_moderator(self, identity: Identity, room: Room, message: Message) -> None:
        """Record a deletion of someone else's message (the frame says nothing of who)."""
        entry = self._entry(
            identity, room, "delete", message.sender_id, message.sender_name, message=message.id
        )
        await self._store.add_audit(entry)
        log_audit(entry)

    # --- the audit log ---

    async def audit(
        self,
        identity: Identity,
        room_id: int | None,
        *,
        before: int | None,
        limit: int,
        action: str | None = None,
        user_id: int | None = None,
    ) -> list[AuditEntry]:
        """A page of the log, newest first: a room's (its owners and moderators), or
        every room's (operators); only `action`'s entries, and only those `user_id` took
        or was the target of, when given."""
        if room_id is None:
            if not identity.is_admin:
                raise Forbidden("only server operators may read the whole audit log")
        else:
            room, _ = await self._authorized(identity, room_id, Action.AUDIT)
            room_id = room.id
        return await self._store.audit_entries(
            room_id, before=before, limit=limit, action=action, user_id=user_id
        )

    @staticmethod
    def _entry(
        identity: Identity,
        room: Room,
        action: str,
        target_id: int | None = None,
        target_name: str | None = None,
        *,
        reason: str = "",
        details: dict[str, Any] | None = None,
        message: int | None = None,
    ) -> AuditEntry:
        return AuditEntry(
            room_id=room.id,
            action=action,
            actor_id=identity.user_id,
            actor_name=identity.name,
            target_id=target_id,
            target_name=target_name,
            message_id=message,
            reason=reason,
            details=details or {},
        )


def _outranked(verb: str, user_id: int, room: Room) -> Forbidden:
    return Forbidden(
        f"you cannot {verb} UID {user_id}: their role in room {room.id} is as high as yours"
    )


#: The protocol's name of each setting, in audit details.
_FIELDS = {
    "name": "Name",
    "topic": "Topic",
    "is_private": "IsPrivate",
    "slow_mode_seconds": "SlowModeSeconds",
    "retention_days": "RetentionDays",
    "link_previews": "LinkPreviews",
}


def log_audit(entry: AuditEntry) -> None:
    """The structured log line of an audit entry."""
    log.info(
        "audit: %s",
        entry.action,
        extra={
            "event": "audit",
            "action": entry.action,
            "room_id": entry.room_id,
            "uid": entry.actor_id,
            "target_uid": entry.target_id,
            "message_id": entry.message_id,
            "reason": entry.reason,
            "details": entry.details,
        },
    )
