"""Who may register, and invite links (``POST/GET/DELETE /invites``): the registration
policy every registration route obeys (`InviteService.admission`, asked by
`AccountOperations.register`), making, listing and deleting invites, and the rooms an
invite's users join.

Operators make invites, and members too when ``CHAT_MEMBER_INVITES`` is on, each into
rooms its maker may invite people to (checked again when someone registers with it: a
maker demoted since invites nobody there). A code is shown once, at its making; the
server keeps its secret's hash. Making and deleting one is in the audit log.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from chat.core import shapes
from chat.core.api_tokens import require_write
from chat.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from chat.core.invites import (
    DEFAULT_LIFETIME,
    MAX_LIFETIME,
    MAX_LISTED,
    MAX_ROOMS,
    MAX_STANDING_PER_USER,
    MAX_USES,
    Invite,
    RegistrationPolicy,
    new_code,
    parse,
    secret_hash,
    secret_matches,
)
from chat.core.moderation_records import AuditEntry
from chat.core.records import Identity, Room, User
from chat.core.room_permissions import Action, permits
from chat.store import Accounts, Invites, Rooms

if TYPE_CHECKING:
    from chat.app.people.user_notices import UserNotices
    from chat.app.rooms.moderation import RoomModeration

log = logging.getLogger(__name__)

#: Why a code is refused (403): the same answer for one unknown, deleted or forged.
UNKNOWN_INVITE = "this invite code is not valid (unknown, revoked or mistyped)"
SPENT = "this invite has been used up or has expired: ask for a new one"


class InviteStore(Invites, Accounts, Rooms, Protocol):
    """The invites, the users who make them, and the rooms they join people to."""


class InviteHost(Protocol):
    """What invites need of the service: rooms, ranks in them, and users' notices."""

    moderation: RoomModeration
    notices: UserNotices

    async def room(self, room_id: int) -> Room: ...


class InviteService:
    """The registration policy, and invites: making, listing, deleting, admitting."""

    def __init__(self, store: InviteStore, host: InviteHost, policy: RegistrationPolicy) -> None:
        self._store = store
        self._host = host
        self.policy = policy

    async def admission(self, code: str | None) -> Invite | None:
        """Whether a registration with invite `code` (None: none) may go ahead under the
        policy: the invite it will take a use of (None: it needs none; then
        `require_email_domain` too), else `Forbidden` saying why. The use itself is
        taken with the user's insert (`InviteStore.register_with_invite`)."""
        policy = self.policy
        if policy.mode == "closed":
            raise Forbidden("registration is closed on this server: an operator adds accounts")
        if code is not None:
            return await self._standing(code)
        if policy.mode == "invite":
            raise Forbidden(
                'registration here is by invitation only: register with an invite code ("Invite")'
            )
        return None

    def require_email_domain(self, email: str | None) -> None:
        """`Forbidden` unless `email` (checked already, or None) is at a domain the
        policy allows (any, with no allow-list), for a registration without an invite."""
        if not self.policy.email_allowed(email):
            domains = ", ".join(self.policy.email_domains)
            raise Forbidden(
                f"registration here needs an e-mail address at {domains}, or an invite code"
            )

    async def _standing(self, code: str) -> Invite:
        parsed = parse(code)
        if parsed is None:
            raise Forbidden(UNKNOWN_INVITE)
        invite_id, secret = parsed
        invite = await self._store.invite(invite_id)
        if invite is None or not secret_matches(secret, invite.secret_hash):
            raise Forbidden(UNKNOWN_INVITE)
        if not invite.standing(time.time()):
            raise Forbidden(SPENT)
        return invite

    async def create(
        self, identity: Identity, uses: object, expires_at: datetime | None, room_ids: object
    ) -> tuple[Invite, str]:
        """A new invite of the caller's, and its code (shown this once): `uses`
        registrations (1 to `MAX_USES`) until `expires_at` (in the future, at most
        `MAX_LIFETIME` away; None: `DEFAULT_LIFETIME`), joining them to `room_ids` (at
        most `MAX_ROOMS` group rooms the caller may invite people to)."""
        require_write(identity)
        await self._require_maker(identity)
        if self.policy.mode == "closed":
            raise Conflict(
                "registration is closed on this server (CHAT_REGISTRATION=closed):"
                " an invite would admit nobody"
            )
        count = _uses(uses)
        now = int(time.time())
        expires = _expiry(expires_at, now)
        rooms = _room_ids(room_ids)
        for room_id in rooms:
            await self._require_inviter(identity, room_id)
        invite_id, secret, code = new_code()
        invite = Invite(invite_id, identity.user_id, count, 0, rooms, now, expires)
        stored = replace(invite, secret_hash=secret_hash(secret))
        audit = _entry(identity, "invite-create", invite)
        if not await self._store.add_invite(stored, audit, most=MAX_STANDING_PER_USER, now=now):
            raise Conflict(
                f"you hold {MAX_STANDING_PER_USER} invites that still admit someone:"
                " delete one first"
            )
        return replace(invite, created_by_name=identity.name), code

    async def invites(self, identity: Identity) -> list[Invite]:
        """The caller's invites (an operator's: everyone's), the newest first, at most
        `MAX_LISTED`; spent and expired ones too, until their maker makes another."""
        whose = None if identity.is_admin else identity.user_id
        listed = await self._store.invites(whose, limit=MAX_LISTED)
        return [replace(each, secret_hash="") for each in listed]

    async def delete(self, identity: Identity, invite_id: str) -> None:
        """Delete an invite of the caller's (an operator: anyone's); `NotFound` if none
        such. Registrations with its code are refused from then on, on every instance
        (each reads the row)."""
        require_write(identity)
        whose = None if identity.is_admin else identity.user_id
        audit = _entry(identity, "invite-delete", Invite(invite_id, 0, 0, 0, (), 0, 0))
        deleted = await self._store.delete_invite(invite_id, whose, audit)
        if deleted is None:
            raise NotFound(f"no invite {invite_id!r} of yours")

    async def join_rooms(self, user: User, invite: Invite) -> None:
        """Join `user`, just registered with `invite`, to its rooms, each as an invitation
        from its maker: a room gone, no longer a group room, one its maker may no longer
        invite people to, or one `user` is banned from is left out (logged), never the
        registration undone."""
        if not invite.room_ids:
            return
        maker = await self._store.user_by_id(invite.created_by)
        if maker is None:
            return
        by = Identity(maker.id, maker.name, maker.is_admin, maker.token_version)
        for room_id in invite.room_ids:
            try:
                room = await self._host.room(room_id)
            except NotFound:
                continue
            rank = await self._host.moderation.rank(by, room)
            if room.kind != "group" or not permits(room, Action.INVITE, rank):
                log.info(
                    "invite %s: UID %d not joined to room %d", invite.invite_id, user.id, room_id
                )
                continue
            if not await self._store.add_member(room.id, user.id):
                continue  # banned from it meanwhile: the store refused the insert
            invited = {
                "Type": "invited",
                "RoomID": room.id,
                "Name": room.name,
                "By": shapes.person(maker.id, maker.name),
            }
            await self._host.notices.send(user.id, invited)

    def may_invite(self, identity: Identity) -> bool:
        """Whether the caller may make invites (a bot is refused at its making)."""
        open_to_them = identity.is_admin or self.policy.member_invites
        return open_to_them and self.policy.mode != "closed" and identity.may_write

    async def _require_maker(self, identity: Identity) -> None:
        if not identity.is_admin and not self.policy.member_invites:
            raise Forbidden("only operators may make invites on this server")
        user = await self._store.user_by_id(identity.user_id)
        if user is None or user.kind == "bot":
            raise Forbidden("a bot may not make invites")

    async def _require_inviter(self, identity: Identity, room_id: int) -> None:
        room = await self._host.room(room_id)
        if room.kind != "group":
            raise Forbidden(f"only group rooms take invitations, and room {room_id} is not one")
        if not permits(room, Action.INVITE, await self._host.moderation.rank(identity, room)):
            raise Forbidden(f"only an owner or moderator of room {room_id} may invite users to it")


def _entry(identity: Identity, action: str, invite: Invite) -> AuditEntry:
    # Never the code: the log is read by others than its maker.
    details: dict[str, Any] = {"InviteID": invite.invite_id}
    if action == "invite-create":
        details["Uses"] = invite.uses
        details["ExpiresAt"] = shapes.timestamp(datetime.fromtimestamp(invite.expires_at, UTC))
        details["RoomIDs"] = list(invite.room_ids)
    return AuditEntry(
        room_id=None,
        action=action,
        actor_id=identity.user_id,
        actor_name=identity.name,
        details=details,
    )


def _uses(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_USES:
        raise InvalidInput(f'"Uses" must be a whole number from 1 to {MAX_USES}')
    return value


def _expiry(expires_at: datetime | None, now: int) -> int:
    if expires_at is None:
        return now + DEFAULT_LIFETIME
    expires = int(expires_at.timestamp())
    if expires <= now:
        raise InvalidInput('"ExpiresAt" must be in the future')
    if expires > now + MAX_LIFETIME:
        raise InvalidInput(f'"ExpiresAt" must be at most {MAX_LIFETIME // 86400} days away')
    return expires


def _room_ids(value: object) -> tuple[int, ...]:
    if value is None:
        return ()
    said = f'"RoomIDs" must be a list of at most {MAX_ROOMS} room ids'
    if not isinstance(value, list) or len(value) > MAX_ROOMS:
        raise InvalidInput(said)
    if not all(type(each) is int and 0 < each < 2**63 for each in value):
        raise InvalidInput(said)
    return tuple(dict.fromkeys(value))
