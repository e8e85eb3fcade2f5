"""Rooms (spec 004), and finding a direct conversation (spec 003); their messages are
chat/http/messages.py's.

- ``POST /create-room`` {"Name", "IsPrivate"} -> 201 {"RoomID"}
- ``PUT /join``         {"RoomID"}            -> 200 {"RoomID"}
- ``PUT /invite``       {"RoomID", "UID"}     -> 200 {"RoomID", "UID"}
- ``GET /rooms``                              -> 200 [RoomID, ...]
- ``GET /rooms/details``                      -> 200 [{"RoomID", "Name", ...}, ...], as
  ``GET /room/{roomID}`` describes each, in one request
- ``GET /rooms/unread``                       -> 200 [{"RoomID", "Unread"}, ...]
- ``GET /rooms/public``                       -> 200 [{"RoomID", "Name", "Members"}, ...]
- ``GET /room/{roomID}``                      -> 200 {"RoomID", "Name", "IsPrivate", ...}
- ``GET /room/{roomID}/members?after=UID``    -> 200 [{"UID", "Username", "Online"}, ...], a page
- ``GET /dm/{UID}``                           -> 200 {"RoomID"} of the caller's direct
  conversation with that user
- ``POST /dm``          {"UIDs"}              -> 201 (made) or 200 {"RoomID"} of the group
  direct conversation of the caller and those users
- ``PUT /dm/{roomID}/members/{UID}``          -> 200 {"RoomID", "UID"}: someone added to one
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from quart import Blueprint, request

from chat.app.people.notification_levels import LEVELS, effective_level
from chat.app.people.statuses import Statuses
from chat.app.rooms.group_direct import MAX_LISTED, MAX_PEOPLE, MIN_PEOPLE
from chat.app.rooms.operations import MAX_MEMBERS_PAGE, MAX_PUBLIC_ROOMS
from chat.app.service import ChatService
from chat.core import shapes, validation
from chat.core.errors import InvalidInput
from chat.core.records import RoomDetails
from chat.core.room_permissions import ROLES
from chat.http.bodies import json_object
from chat.http.identity import optional_identity, require_identity
from chat.http.openapi import (
    ACCOUNT_ERASED,
    BOOLEAN,
    ERROR,
    FORBIDDEN,
    FOUND_USER,
    ID,
    ID_OR_ZERO,
    INVALID,
    NOT_FOUND,
    PERSON,
    ROOM,
    STATUS,
    STRING,
    Answer,
    Token,
    body_fields,
    describe,
    exact_object,
    room_reading,
)
from chat.store.rooms import UNREAD_CAP

_ROOM_ID = Answer("the room", exact_object({"RoomID": ID}))
_TOO_MANY_ROOMS = Answer(
    "the caller created too many rooms lately (CHAT_RATE_ROOMS), or another limit",
    ERROR,
    retry_after=True,
)
_TOO_MANY_INVITATIONS = Answer(
    "the caller made too many invitations and new direct conversations lately"
    " (CHAT_RATE_INVITES), or another limit",
    ERROR,
    retry_after=True,
)
_COUNT = {"type": "integer", "minimum": 0}
_UNREAD = exact_object(
    {
        "RoomID": ID,
        "Unread": {**_COUNT, "maximum": UNREAD_CAP},
        "Mentions": {**_COUNT, "maximum": UNREAD_CAP},
    }
)
#: A member as `GET /room/{roomID}/members` lists them: who, online or not, and role;
#: their status while one is in force.
_MEMBER = exact_object(
    {**FOUND_USER["properties"], "Role": {"type": "string", "enum": list(ROLES)}},
    {"Status": STATUS},
)
#: How many members one page of `GET /room/{roomID}/members` may ask for.
_MEMBERS_LIMIT = {"type": "integer", "minimum": 1, "maximum": MAX_MEMBERS_PAGE}
_PUBLIC_ROOM = exact_object({"RoomID": ID, "Name": STRING, "Members": _COUNT})
#: A room as `GET /room/{roomID}` describes it, and for a direct one its two users.
_ROOM_DETAILS = {
    **ROOM,
    "properties": {
        **ROOM["properties"],
        "Users": {"type": "array", "items": PERSON, "minItems": 2, "maxItems": 2},
        "Notifications": {"type": "string", "enum": list(LEVELS)},
        "Role": {"type": "string", "enum": list(ROLES)},
        "Closed": {"type": "boolean", "const": True},
    },
    "required": [*ROOM["required"], "Notifications", "Role"],
}


def _room_details(details: RoomDetails) -> dict[str, Any]:
    """`shapes.room`, the caller's notification level in it ("Notifications"), for a
    direct conversation its users ("Users", as "UIDs"), and for a group direct
    conversation its members ("Members")."""
    shape = shapes.room(details.room)
    shape["Notifications"] = effective_level(details.room, details.notification_level)
    shape["Role"] = details.role
    if details.room.pair is not None and details.pair_names is not None:
        shape["Users"] = [
            shapes.person(uid, name)
            for uid, name in zip(details.room.pair, details.pair_names, strict=True)
        ]
    if details.members is not None:
        shape["Members"] = _members(details.members)
    if details.closed:
        shape["Closed"] = True
    return shape


def _members(people: Sequence[tuple[int, str]]) -> list[dict[str, Any]]:
    """A group direct conversation's members, as "Members" lists them."""
    return [shapes.person(uid, name) for uid, name in people]


def room_routes(service: ChatService, statuses: Statuses) -> Blueprint:
    routes = Blueprint("rooms", __name__)

    @routes.post("/create-room")
    @describe(
        "Create a group room; the creator is its first member",
        body=body_fields({"Name": STRING, "IsPrivate": BOOLEAN}),
        example={"Name": "GeneralChat", "IsPrivate": False},
        token=Token.REQUIRED,
        answers={
            201: Answer("created", exact_object({"RoomID": ID})),
            400: INVALID,
            409: Answer("the room name is taken", ERROR),
            429: _TOO_MANY_ROOMS,
        },
    )
    async def create_room() -> Any:
        identity = await require_identity(service, request)
        body = await json_object(request)
        name = validation.require_str(body, "Name")
        is_private = validation.require_bool(body, "IsPrivate")
        room = await service.create_room(identity, name, is_private=is_private)
        return {"RoomID": room.id}, 201

    @routes.put("/join")
    @describe(
        "Join a public room (joining twice is fine)",
        description="A member of a private room (its creator, anyone invited) may join it"
        " again; anyone else gets 403.",
        body=body_fields({"RoomID": ID}),
        example={"RoomID": 1},
        token=Token.REQUIRED,
        answers={200: _ROOM_ID, 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND},
    )
    async def join() -> Any:
        identity = await require_identity(service, request)
        body = await json_object(request)
        room = await service.join(identity, validation.require_id(body, "RoomID"))
        return {"RoomID": room.id}

    @routes.put("/invite")
    @describe(
        "Invite a user into a group room the caller created",
        body=body_fields({"RoomID": ID, "UID": ID}),
        example={"RoomID": 2, "UID": 1},
        token=Token.REQUIRED,
        answers={
            200: Answer("invited", exact_object({"RoomID": ID, "UID": ID})),
            400: INVALID,
            403: FORBIDDEN,
            404: NOT_FOUND,
            429: _TOO_MANY_INVITATIONS,
        },
    )
    async def invite() -> Any:
        identity = await require_identity(service, request)
        body = await json_object(request)
        room_id = validation.require_id(body, "RoomID")
        user_id = validation.require_id(body, "UID")
        room = await service.invite(identity, room_id, user_id)
        return {"RoomID": room.id, "UID": user_id}

    @routes.get("/rooms")
    @describe(
        "The ids of the caller's rooms, the lobby first",
        token=Token.REQUIRED,
        answers={200: Answer("room ids", {"type": "array", "items": ID})},
    )
    async def rooms() -> Any:
        identity = await require_identity(service, request)
        return await service.rooms_of(identity)

    @routes.get("/rooms/details")
    @describe(
        "The caller's rooms, each described, the lobby first",
        description=(
            "The rooms of GET /rooms, in the same order, each as GET /room/{roomID}"
            " describes it, in one request (a room list needs no request per room). A"
            " direct conversation also names its two users, in the order of its UIDs:"
            ' "Users": [{"UID", "Username"}, {"UID", "Username"}], and "Closed": true once'
            " the other account was erased (nobody can write in it: 410)."
            ' "Notifications" is the caller\'s notification level in each room ("all",'
            ' "mentions" or "none": see PUT /room/{roomID}/notifications).'
        ),
        token=Token.REQUIRED,
        answers={200: Answer("the caller's rooms", {"type": "array", "items": _ROOM_DETAILS})},
    )
    async def room_details() -> Any:
        identity = await require_identity(service, request)
        return [_room_details(details) for details in await service.room_details(identity)]

    @routes.get("/rooms/unread")
    @describe(
        "How many messages the caller has not read in each of their rooms",
        description=(
            "Every room the caller is in, the lobby included, by RoomID: the messages"
            " others sent after the caller's read marker (the read frame on /ws); the"
            f" caller's own never count. Counting stops at {UNREAD_CAP}: that number"
            f" means {UNREAD_CAP} or more (show it as {UNREAD_CAP - 1}+). Mentions counts"
            " those unread messages that mention the caller (by name, or @room)."
        ),
        token=Token.REQUIRED,
        answers={200: Answer("unread counts", {"type": "array", "items": _UNREAD})},
    )
    async def unread() -> Any:
        identity = await require_identity(service, request)
        counts = await service.unread_counts(identity)
        return [
            {"RoomID": room_id, "Unread": unread, "Mentions": min(mentions, unread)}
            for room_id, unread, mentions in counts
        ]

    @routes.get("/rooms/public")
    @describe(
        "The group rooms anyone may join, with their member counts, the busiest first",
        description=(
            "The most members first; among rooms with as many, the one with the most"
            " recent message first (rooms never written in last); then by name, case"
            " aside. Private rooms, direct conversations, the lobby (everyone is in it)"
            " and the rooms the caller is banned from (until the ban ends) are not listed;"
            f" at most {MAX_PUBLIC_ROOMS} rooms."
        ),
        token=Token.REQUIRED,
        answers={200: Answer("public rooms", {"type": "array", "items": _PUBLIC_ROOM})},
    )
    async def public_rooms() -> Any:
        identity = await require_identity(service, request)
        rooms = await service.public_rooms(identity)
        return [{"RoomID": r.id, "Name": r.name, "Members": r.members} for r in rooms]

    @routes.get("/room/<room_id>")
    @describe(
        "A room; a private one to its members only",
        description="A direct conversation also names its two users (UIDs); a group"
        ' direct conversation its members ("Members": [{"UID", "Username"}, ...], by UID).',
        path={"room_id": ID},
        token=Token.OPTIONAL,
        answers={200: Answer("the room", ROOM), 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND},
    )
    async def room(room_id: str) -> Any:
        identity = await optional_identity(service, request)
        found = await service.visible_room(identity, validation.path_id(room_id, "roomID"))
        shape = shapes.room(found)
        if found.is_group_direct:
            shape["Members"] = _members(await service.group_direct_people(found))
        return shape

    @routes.get("/room/<room_id>/members")
    @describe(
        "A room's members, by UID, a page at a time (members only)",
        description=(
            f"Up to limit (1 to {MAX_MEMBERS_PAGE}, {MAX_MEMBERS_PAGE} when absent) members"
            " whose UIDs are above after (0 or absent: from the first); ask again with the"
            " last UID for the next page, until one comes back shorter. A direct"
            " conversation lists its two users, a support thread the user it is for, the"
            " lobby every user (each a member there)."
            " Online: with a WebSocket connection open on any instance. Role: owner,"
            " moderator or member (a direct conversation's and support thread's: member);"
            " server operators may list any group room's members. Status: the member's"
            " status, while one is in force (absent otherwise)."
        ),
        path={"room_id": ID},
        query={"after": ID_OR_ZERO, "limit": _MEMBERS_LIMIT},
        token=Token.REQUIRED,
        answers=room_reading(Answer("the members", {"type": "array", "items": _MEMBER})),
    )
    async def members(room_id: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        after_text = request.args.get("after")
        after = 0 if after_text is None else validation.query_number(after_text, "after")
        limit_text = request.args.get("limit")
        limit = (
            MAX_MEMBERS_PAGE
            if limit_text is None
            else validation.decimal(limit_text, "limit", highest=MAX_MEMBERS_PAGE)
        )
        found = await service.room_members(identity, room_number, after=after, limit=limit)
        online = service.presence.is_online
        listed = []
        for uid, name, role in found:
            member = {**shapes.person(uid, name), "Online": online(uid), "Role": role}
            status = statuses.shown(uid)
            if status is not None:
                member["Status"] = status
            listed.append(member)
        return listed

    @routes.get("/dm/<uid>")
    @describe(
        "The caller's direct conversation with a user (created on first use)",
        description=(
            "Creating one counts as an invitation (CHAT_RATE_INVITES). With an erased"
            " account: 410, whether a conversation exists or not (its history stays in"
            " GET /rooms/details, Closed)."
        ),
        path={"uid": ID},
        token=Token.REQUIRED,
        answers={
            200: _ROOM_ID,
            400: INVALID,
            404: NOT_FOUND,
            410: ACCOUNT_ERASED,
            429: _TOO_MANY_INVITATIONS,
        },
    )
    async def direct_room(uid: str) -> Any:
        identity = await require_identity(service, request)
        room = await service.direct_room(identity, validation.path_id(uid, "UID"))
        return {"RoomID": room.id}

    @routes.post("/dm")
    @describe(
        "The group direct conversation of the caller and some users (created on first use)",
        description=(
            f"{MIN_PEOPLE} to {MAX_PEOPLE} people in all, the caller included whether listed"
            " or not; a UID listed twice counts once (two people: GET /dm/{UID}). The"
            " conversation of exactly that set of people, as its members are now, if there"
            " is one (200); else a new one (201), which counts as an invitation"
            " (CHAT_RATE_INVITES) and puts it in every member's room list (an"
            ' {"Type": "invited"} frame). It has no name, no owner, is in no directory:'
            ' GET /rooms/details names its "Members". Any member may add people'
            " (PUT /dm/{roomID}/members/{UID}) or leave (DELETE /room/{roomID}/members/me)."
        ),
        body=body_fields({"UIDs": {"type": "array", "items": ID, "maxItems": MAX_LISTED}}),
        example={"UIDs": [2, 3]},
        token=Token.REQUIRED,
        answers={
            200: _ROOM_ID,
            201: Answer("created", exact_object({"RoomID": ID})),
            400: INVALID,
            404: NOT_FOUND,
            410: Answer("one of the accounts listed was erased", ERROR),
            429: _TOO_MANY_INVITATIONS,
        },
    )
    async def group_direct_room() -> Any:
        identity = await require_identity(service, request)
        body = await json_object(request)
        if not isinstance(body.get("UIDs"), list):
            raise InvalidInput('field "UIDs" is required: an array of UIDs')
        listed = body["UIDs"]
        if len(listed) > MAX_LISTED:
            raise InvalidInput(f'field "UIDs" must list at most {MAX_LISTED} UIDs')
        user_ids = [validation.json_id(uid, "UIDs") for uid in listed]
        room, created = await service.group_direct_room(identity, user_ids)
        return {"RoomID": room.id}, 201 if created else 200

    @routes.put("/dm/<room_id>/members/<uid>")
    @describe(
        "Add someone to a group direct conversation the caller is in",
        description=(
            f"Any member may, up to {MAX_PEOPLE} people (409 past it); adding a member"
            " again changes nothing. They read the whole history, and get"
            ' {"Type": "invited"}; every member\'s connections get'
            ' {"Type": "members", "RoomID", "UIDs"}. Counts as an invitation'
            " (CHAT_RATE_INVITES). Not a group direct conversation: 409 (group rooms"
            " take PUT /invite)."
        ),
        path={"room_id": ID, "uid": ID},
        token=Token.REQUIRED,
        answers={
            200: Answer("added, or a member already", exact_object({"RoomID": ID, "UID": ID})),
            400: INVALID,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: Answer("full, or not a group direct conversation", ERROR),
            410: Answer("the account was erased", ERROR),
            429: _TOO_MANY_INVITATIONS,
        },
    )
    async def add_to_group_direct(room_id: str, uid: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        user_number = validation.path_id(uid, "UID")
        room = await service.add_to_group_direct(identity, room_number, user_number)
        return {"RoomID": room.id, "UID": user_number}

    return routes
