"""Running a room: roles, leaving, removals, bans, mutes, settings and the
audit log; the rules are `chat.app.rooms.moderation`'s.

- ``PUT /room/{roomID}/members/{UID}``  {"Role"}             -> 200 {"RoomID", "UID", "Role"}
- ``DELETE /room/{roomID}/members/me``                       -> 200 {"RoomID"} (leave)
- ``DELETE /room/{roomID}/members/{UID}`` {"Reason"?}        -> 200 {"RoomID", "UID"}
- ``GET|PUT|DELETE /room/{roomID}/bans[/{UID}]``, the same for ``mutes``
- ``PUT /room/{roomID}/settings`` {"Name"?, "Topic"?, "IsPrivate"?, "SlowModeSeconds"?,
  "RetentionDays"?}
- ``GET /room/{roomID}/audit``, ``GET /audit``               -> 200 [entry, ...]
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from chat.app.service import ChatService
from chat.core import moderation_input, shapes, validation
from chat.core.errors import InvalidInput
from chat.core.moderation_input import MAX_BAN_SECONDS, MAX_MUTE_SECONDS
from chat.core.moderation_records import Restriction
from chat.core.room_permissions import ROLES
from chat.http.bodies import json_object, optional_json_object
from chat.http.identity import require_identity
from chat.http.openapi import (
    BOOLEAN,
    ERROR,
    FORBIDDEN,
    ID,
    ID_OR_ZERO,
    INVALID,
    NOT_FOUND,
    PERSON,
    ROOM,
    STRING,
    TIMESTAMP,
    Answer,
    Token,
    body_fields,
    describe,
    exact_object,
)

_ROOM_AND_USER = {"room_id": ID, "uid": ID}
_NULLABLE_PERSON = {"anyOf": [PERSON, {"type": "null"}]}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_REASON = {"type": "string", "maxLength": moderation_input.MAX_REASON_CHARS}
_CONFLICT = Answer(
    "the room's kind has no such thing (the lobby, a direct conversation, a support"
    " thread), or the last owner would step down",
    ERROR,
)
_REFUSED = Answer("the caller's role is too low for this, or not above the person's", ERROR)
_ACTING = {400: INVALID, 403: _REFUSED, 404: NOT_FOUND, 409: _CONFLICT}
_DONE = Answer("done", exact_object({"RoomID": ID, "UID": ID}))
_RESTRICTED = Answer(
    "in force",
    exact_object({"RoomID": ID, "UID": ID, "Reason": STRING, "Until": _NULLABLE_TIME}),
)
_RESTRICTION = exact_object(
    {
        "UID": ID,
        "Username": STRING,
        "Reason": STRING,
        "Until": _NULLABLE_TIME,
        "By": _NULLABLE_PERSON,
        "CreatedAt": TIMESTAMP,
    }
)
#: Who acted: a user, or (UID 0) an operator's command ("operator:<login>") or the server.
_ACTOR = exact_object({"UID": ID_OR_ZERO, "Username": STRING})
AUDIT_ENTRY = exact_object(
    {
        "AuditID": ID,
        "RoomID": {
            "type": ["integer", "null"],
            "description": "null: a server-wide entry (an operator's command)",
        },
        "Action": STRING,
        "By": _ACTOR,
        "Target": _NULLABLE_PERSON,
        "MessageID": {"type": ["integer", "null"]},
        "Reason": STRING,
        "Details": {"type": "object"},
        "CreatedAt": TIMESTAMP,
    }
)
_PAGE = {
    "before": {**ID, "description": "only entries with a smaller id (the next page)"},
    "limit": {"type": "integer", "minimum": 1, "maximum": moderation_input.MAX_PAGE},
}
_AUDIT_FILTERS = {
    "action": {"type": "string", "pattern": "^[a-z-]{1,40}$"},
    "uid": ID,
    "room": ID,
}
_UNTIL = {
    "Reason": _REASON,
    "Until": {**TIMESTAMP, "description": "when it ends (ISO 8601, with a zone)"},
    "Seconds": {"type": "integer", "minimum": 1, "description": "or how long from now"},
}


def restriction_shape(found: Restriction) -> dict[str, Any]:
    by = None if found.by_id is None else shapes.person(found.by_id, found.by_name or "")
    return {
        **shapes.person(found.user_id, found.user_name),
        "Reason": found.reason,
        "Until": None if found.until is None else shapes.timestamp(found.until),
        "By": by,
        "CreatedAt": shapes.timestamp(found.created_at),
    }


def page_query() -> tuple[int | None, int]:
    """``before`` and ``limit`` of a page of reports or of the audit log."""
    before_text = request.args.get("before")
    before = None if before_text is None else validation.query_number(before_text, "before")
    return before, moderation_input.page_limit(request.args.get("limit"))


def moderation_routes(service: ChatService) -> Blueprint:
    routes = Blueprint("moderation", __name__)

    @routes.put("/room/<room_id>/members/<uid>")
    @describe(
        "Give a member of a group room a role (owners only)",
        description=(
            'Roles: "owner", "moderator", "member". Owners may change anyone\'s role,'
            " another owner's included; the last owner cannot step down (409). Every"
            ' member\'s connections get {"Type": "role", "RoomID", "UID", "Role"}.'
        ),
        path=_ROOM_AND_USER,
        body=body_fields({"Role": {"type": "string", "enum": list(ROLES)}}),
        example={"Role": "moderator"},
        token=Token.REQUIRED,
        answers={
            200: Answer("set", exact_object({"RoomID": ID, "UID": ID, "Role": STRING})),
            **_ACTING,
        },
    )
    async def set_role(room_id: str, uid: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        user_number = validation.path_id(uid, "UID")
        role = moderation_input.role(await json_object(request))
        await service.moderation.set_role(identity, room_number, user_number, role)
        return {"RoomID": room_number, "UID": user_number, "Role": role}

    @routes.delete("/room/<room_id>/members/<uid>")
    @describe(
        "Leave a group room (UID me), or remove a member (moderators and owners)",
        description=(
            "Group direct conversations can be left too (their members get"
            ' {"Type": "members"}); the lobby, direct conversations of two and support'
            " threads cannot (409);"
            " nor can the last owner leave while others remain (409). A removal needs a"
            " role above the member's. The person's connections, on every instance, get"
            ' {"Type": "removed", "RoomID", "By", "Reason"} and leave the room; they'
            ' read nothing of it any more. The body ({"Reason"}) is optional.'
        ),
        path={"room_id": ID, "uid": {"anyOf": [ID, {"const": "me"}]}},
        body=body_fields({}, {"Reason": _REASON}),
        body_required=False,
        token=Token.REQUIRED,
        answers={
            200: Answer(
                "left, or removed",
                exact_object({"RoomID": ID}, {"UID": ID}),
            ),
            **_ACTING,
        },
    )
    async def remove(room_id: str, uid: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        if uid == "me":
            await service.moderation.leave(identity, room_number)
            return {"RoomID": room_number}
        user_number = validation.path_id(uid, "UID")
        reason = moderation_input.reason(await optional_json_object(request))
        await service.moderation.remove(identity, room_number, user_number, reason)
        return {"RoomID": room_number, "UID": user_number}

    for kind, plural, longest, required in (
        ("ban", "bans", MAX_BAN_SECONDS, False),
        ("mute", "mutes", MAX_MUTE_SECONDS, True),
    ):
        _restriction_routes(routes, service, kind, plural, longest_s=longest, required=required)

    @routes.put("/room/<room_id>/settings")
    @describe(
        "Change a room's name, topic, privacy, slow mode, retention or link previews",
        description=(
            "Any of the six fields. Topic, SlowModeSeconds (0 to 3600; 0 is off) and"
            " LinkPreviews (whether links in its messages are previewed): moderators and"
            " owners; Name, IsPrivate and RetentionDays (days the room"
            " keeps its messages, 1 to 36500, or null for the server's; it only ever"
            " shortens the server's CHAT_RETENTION_DAYS): owners. Every member's"
            ' connections get {"Type": "room", ...} with the room as it is after.'
        ),
        path={"room_id": ID},
        body=body_fields(
            {},
            {
                "Name": STRING,
                "Topic": {"type": "string", "maxLength": moderation_input.MAX_TOPIC_CHARS},
                "IsPrivate": BOOLEAN,
                "SlowModeSeconds": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": moderation_input.MAX_SLOW_MODE_SECONDS,
                },
                "RetentionDays": {
                    "type": ["integer", "null"],
                    "minimum": 1,
                    "maximum": moderation_input.MAX_RETENTION_DAYS,
                },
                "LinkPreviews": BOOLEAN,
            },
        ),
        example={"Topic": "on call this week: dana", "SlowModeSeconds": 30},
        token=Token.REQUIRED,
        answers={
            200: Answer("the room now", ROOM),
            **_ACTING,
            409: Answer("another public room has that name, or the room has no settings", ERROR),
        },
    )
    async def settings(room_id: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        body = await json_object(request)
        changes: dict[str, Any] = {}
        if "Name" in body:
            changes["name"] = validation.room_name(validation.require_str(body, "Name"))
        if "Topic" in body:
            changes["topic"] = moderation_input.topic(body)
        if "IsPrivate" in body:
            changes["is_private"] = validation.require_bool(body, "IsPrivate")
        if "SlowModeSeconds" in body:
            changes["slow_mode_seconds"] = moderation_input.slow_mode_seconds(body)
        if "RetentionDays" in body:
            changes["retention_days"] = moderation_input.retention_days(body)
        if "LinkPreviews" in body:
            changes["link_previews"] = validation.require_bool(body, "LinkPreviews")
        if not changes:
            raise InvalidInput(
                'give at least one of "Name", "Topic", "IsPrivate", "SlowModeSeconds",'
                ' "RetentionDays" and "LinkPreviews"'
            )
        room = await service.moderation.update_settings(identity, room_number, changes)
        return shapes.room(room)

    @routes.get("/room/<room_id>/audit")
    @describe(
        "A room's audit log, newest first (owners and moderators)",
        path={"room_id": ID},
        query=_PAGE,
        token=Token.REQUIRED,
        answers={
            200: Answer("entries", {"type": "array", "items": AUDIT_ENTRY}),
            400: INVALID,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: _CONFLICT,
        },
    )
    async def room_audit(room_id: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        before, limit = page_query()
        entries = await service.moderation.audit(identity, room_number, before=before, limit=limit)
        return [shapes.audit_entry(entry) for entry in entries]

    @routes.get("/audit")
    @describe(
        "Every room's audit log, newest first (server operators)",
        description=(
            "Filters, each optional: action (an entry's Action), uid (entries that user"
            " took or was the target of), room (one room's: a RoomID)."
        ),
        query={**_PAGE, **_AUDIT_FILTERS},
        token=Token.REQUIRED,
        answers={
            200: Answer("entries", {"type": "array", "items": AUDIT_ENTRY}),
            400: INVALID,
            403: FORBIDDEN,
        },
    )
    async def audit() -> Any:
        identity = await require_identity(service, request)
        before, limit = page_query()
        args = request.args
        room = args.get("room")
        uid = args.get("uid")
        entries = await service.moderation.audit(
            identity,
            None if room is None else validation.path_id(room, "room"),
            before=before,
            limit=limit,
            action=moderation_input.audit_action(args.get("action")),
            user_id=None if uid is None else validation.path_id(uid, "uid"),
        )
        return [shapes.audit_entry(entry) for entry in entries]

    return routes


def _restriction_routes(
    routes: Blueprint,
    service: ChatService,
    kind: str,
    plural: str,
    *,
    longest_s: int,
    required: bool,
) -> None:
    """GET, PUT and DELETE of a room's bans (or mutes)."""
    what = "banned" if kind == "ban" else "muted"

    @routes.get(f"/room/<room_id>/{plural}", endpoint=f"list_{plural}")
    @describe(
        f"The {plural} in force in a room, newest first (moderators and owners)",
        path={"room_id": ID},
        token=Token.REQUIRED,
        answers={
            200: Answer(plural, {"type": "array", "items": _RESTRICTION}),
            400: INVALID,
            403: _REFUSED,
            404: NOT_FOUND,
            409: _CONFLICT,
        },
    )
    async def listing(room_id: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        found = await service.moderation.restrictions(identity, room_number, kind)
        return [restriction_shape(item) for item in found]

    description = (
        "Bans a user, member or not, until Until (or for Seconds; neither: until lifted),"
        " removing them from the room if they are in it (they get a removed frame). A"
        " banned user cannot join or be invited. A second ban replaces the first."
        if kind == "ban"
        else "Mutes a member until Until (or for Seconds): they read, but neither send,"
        ' edit nor react there. They get {"Type": "muted", "RoomID", "Until", "By",'
        ' "Reason"}. A second mute replaces the first.'
    )

    @routes.put(f"/room/<room_id>/{plural}/<uid>", endpoint=f"put_{kind}")
    @describe(
        f"{kind.capitalize()} a user in a room (moderators and owners, on lower ranks)",
        description=description,
        path=_ROOM_AND_USER,
        body=body_fields({}, _UNTIL),
        body_required=False,
        example={"Reason": "spam", "Seconds": 3600},
        token=Token.REQUIRED,
        answers={200: _RESTRICTED, **_ACTING},
    )
    async def put(room_id: str, uid: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        user_number = validation.path_id(uid, "UID")
        body = await optional_json_object(request)
        reason = moderation_input.reason(body)
        until = moderation_input.until(body, longest_s=longest_s, required=required)
        if kind == "ban":
            await service.moderation.ban(
                identity, room_number, user_number, reason=reason, until=until
            )
        else:
            assert until is not None  # required
            await service.moderation.mute(
                identity, room_number, user_number, reason=reason, until=until
            )
        return {
            "RoomID": room_number,
            "UID": user_number,
            "Reason": reason,
            "Until": None if until is None else shapes.timestamp(until),
        }

    @routes.delete(f"/room/<room_id>/{plural}/<uid>", endpoint=f"delete_{kind}")
    @describe(
        f"Lift a {kind} before its time (moderators and owners)",
        path=_ROOM_AND_USER,
        token=Token.REQUIRED,
        answers={
            200: _DONE,
            400: INVALID,
            403: _REFUSED,
            404: Answer(f"no such room or user, or the user is not {what}", ERROR),
            409: _CONFLICT,
        },
    )
    async def lift(room_id: str, uid: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        user_number = validation.path_id(uid, "UID")
        await service.moderation.lift(identity, room_number, user_number, kind)
        return {"RoomID": room_number, "UID": user_number}
