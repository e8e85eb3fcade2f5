"""Invite links over HTTP (`chat.app.accounts.invites` decides):

- ``POST /invites`` {"Uses", "ExpiresAt"?, "RoomIDs"?} -> 201 {"InviteID", "Code", "URL", ...}:
  the code, shown this once; 403 for a member when members may not make invites
- ``GET /invites``               -> 200 [invite, ...] without codes, the newest first
- ``GET /registration``          -> 200 {"Registration", "EmailDomains", "MemberInvites",
  "MayInvite"}: the policy, for the login page to say so before anyone types, and whether
  the caller may make invites (for the account screen)
- ``DELETE /invites/{inviteID}`` -> 204; 404 for no invite of the caller's
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from quart import Blueprint, request

from chat.app.service import ChatService
from chat.core import shapes
from chat.core.config import Config
from chat.core.invites import (
    MAX_LIFETIME,
    MAX_ROOMS,
    MAX_STANDING_PER_USER,
    MAX_USES,
    REGISTRATION_MODES,
    Invite,
)
from chat.http.api_tokens import expires_at_of
from chat.http.bodies import json_object
from chat.http.identity import optional_identity, require_identity
from chat.http.openapi import (
    ERROR,
    FORBIDDEN,
    ID,
    INVALID,
    STRING,
    TIMESTAMP,
    Answer,
    Token,
    body_fields,
    describe,
    exact_object,
)

_ROOM_IDS = {"type": "array", "items": ID, "maxItems": MAX_ROOMS}
_USES = {"type": "integer", "minimum": 1, "maximum": MAX_USES}
_FIELDS = {
    "InviteID": STRING,
    "UID": ID,
    "Username": STRING,
    "Uses": _USES,
    "Used": {"type": "integer", "minimum": 0},
    "RoomIDs": _ROOM_IDS,
    "CreatedAt": TIMESTAMP,
    "ExpiresAt": TIMESTAMP,
}
LISTED_INVITE = exact_object(_FIELDS)
MADE_INVITE = exact_object({**_FIELDS, "Code": STRING, "URL": STRING})
POLICY = exact_object(
    {
        "Registration": {**STRING, "enum": list(REGISTRATION_MODES)},
        "EmailDomains": {"type": "array", "items": STRING},
        "MemberInvites": {"type": "boolean"},
        "MayInvite": {"type": "boolean"},
    }
)


def invite_shape(invite: Invite) -> dict[str, Any]:
    def moment(seconds: int) -> str:
        return shapes.timestamp(datetime.fromtimestamp(seconds, UTC))

    return {
        "InviteID": invite.invite_id,
        "UID": invite.created_by,
        "Username": invite.created_by_name,
        "Uses": invite.uses,
        "Used": invite.used,
        "RoomIDs": list(invite.room_ids),
        "CreatedAt": moment(invite.created_at),
        "ExpiresAt": moment(invite.expires_at),
    }


def invite_routes(service: ChatService, config: Config) -> Blueprint:
    routes = Blueprint("invites", __name__)

    @routes.post("/invites")
    @describe(
        "Make an invite link",
        description=(
            "A link that lets Uses people register (under CHAT_REGISTRATION=invite, the"
            " only way to; under open, also past CHAT_REGISTRATION_EMAIL_DOMAINS) until"
            f" ExpiresAt (at most {MAX_LIFETIME // 86400} days away; none: 7 days), each"
            " joined to RoomIDs (group rooms the caller may invite people to). Code is"
            " what a registration carries (Invite, or invite in the lower-case"
            " dialects); URL opens the login page with it filled in (and then the first of"
            " RoomIDs). Both are shown in"
            " this answer only (the server keeps the code's SHA-256). Operators make"
            " invites, members too when CHAT_MEMBER_INVITES is on (403 otherwise); 409"
            f" when registration is closed, or past {MAX_STANDING_PER_USER} standing"
            " invites of the caller's."
        ),
        body=body_fields(
            {"Uses": _USES},
            {"ExpiresAt": {"type": ["string", "null"]}, "RoomIDs": _ROOM_IDS},
        ),
        example={"Uses": 5, "RoomIDs": [2]},
        token=Token.REQUIRED,
        answers={
            201: Answer("the invite, with its code and link: shown this once", MADE_INVITE),
            400: INVALID,
            403: FORBIDDEN,
            404: Answer("no room with one of RoomIDs", ERROR),
            409: Answer("registration is closed, or the caller holds too many", ERROR),
        },
    )
    async def make_invite() -> Any:
        identity = await require_identity(service, request)
        body = await json_object(request)
        invite, code = await service.invites.create(
            identity, body.get("Uses"), expires_at_of(body), body.get("RoomIDs")
        )
        root = (config.public_url or request.host_url).rstrip("/")
        # The browser client opens the room in the address's fragment once it is a member.
        room = f"#/room/{invite.room_ids[0]}" if invite.room_ids else ""
        url = f"{root}/?invite={code}{room}"
        return {**invite_shape(invite), "Code": code, "URL": url}, 201

    @routes.get("/invites")
    @describe(
        "Invite links",
        description=(
            "The caller's (an operator's: everyone's, UID and Username say whose), the"
            " newest first, spent and expired ones too until their maker makes another;"
            " never their codes."
        ),
        token=Token.REQUIRED,
        answers={200: Answer("the invites", {"type": "array", "items": LISTED_INVITE})},
    )
    async def list_invites() -> Any:
        identity = await require_identity(service, request)
        return [invite_shape(each) for each in await service.invites.invites(identity)]

    @routes.delete("/invites/<invite_id>")
    @describe(
        "Revoke an invite link",
        description=(
            "At once, on every instance: registrations with its code are refused (403)."
            " Accounts it admitted stay. Operators may revoke anyone's."
        ),
        path={"invite_id": {**STRING, "maxLength": 64}},
        token=Token.REQUIRED,
        answers={
            204: Answer("revoked"),
            403: FORBIDDEN,
            404: Answer("no invite of the caller's with this id", ERROR),
        },
    )
    async def revoke_invite(invite_id: str) -> Any:
        identity = await require_identity(service, request)
        await service.invites.delete(identity, invite_id[:64])
        return "", 204

    @routes.get("/registration")
    @describe(
        "Who may register here",
        description=(
            "The registration policy (CHAT_REGISTRATION): open, invite (a registration"
            " needs an invite code) or closed; the e-mail domains a registration without"
            " an invite needs an address at (empty: any); whether members make invites,"
            " and whether the caller may (false without a token)."
        ),
        token=Token.OPTIONAL,
        answers={200: Answer("the policy", POLICY)},
    )
    async def registration_policy() -> Any:
        identity = await optional_identity(service, request)
        policy = service.invites.policy
        return {
            "Registration": policy.mode,
            "EmailDomains": list(policy.email_domains),
            "MemberInvites": policy.member_invites,
            "MayInvite": identity is not None and service.invites.may_invite(identity),
        }

    return routes
