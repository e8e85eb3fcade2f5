"""The operators' console over HTTP (`chat.app.console` decides):

- ``GET /admin/users?q=&after=&limit=`` -> 200 {"Users": [user, ...], "Next": UID | null}
- ``GET /admin/users/{UID}``             -> 200 the account, whole
- ``PUT /admin/users/{UID}`` {"Active"?, "Operator"?} -> 200 the account as changed
- ``DELETE /admin/users/{UID}/sessions`` -> 204: logged out everywhere
- ``POST /admin/users/{UID}/password-reset`` -> 200 {"URL"}: a one-time link, not mailed
- ``GET /admin/rooms?q=&after=&limit=`` -> 200 {"Rooms": [room, ...], "Next": RoomID | null}
- ``GET /admin/server``                  -> 200 version, instances, database, bus, settings

Every route answers 403 to anyone but an operator, before anything else: a member learns
nothing, not even whether a user exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quart import Blueprint, request

from chat.app.console import MAX_SEARCH_CHARS, MOST_LISTED, ResetLinks, require_operator
from chat.app.metrics import Metrics
from chat.app.service import ChatService
from chat.core import shapes, validation
from chat.core.admin_records import RoomSummary, UserOverview
from chat.core.config import Config
from chat.core.errors import InvalidInput
from chat.core.records import User
from chat.core.settings_in_force import settings_in_force
from chat.http.bodies import json_object
from chat.http.identity import require_identity
from chat.http.openapi import (
    BOOLEAN,
    ERROR,
    ID,
    ID_OR_ZERO,
    INVALID,
    STRING,
    TIMESTAMP,
    Answer,
    Token,
    body_fields,
    describe,
    exact_object,
)

_NULLABLE_STRING = {"type": ["string", "null"]}
_NULLABLE_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}
_USER_FIELDS = {
    "UID": ID,
    "Username": STRING,
    "DisplayName": _NULLABLE_STRING,
    "Email": _NULLABLE_STRING,
    "Kind": {"type": "string", "enum": ["person", "bot"]},
    "Operator": BOOLEAN,
    "Active": BOOLEAN,
    "CreatedAt": TIMESTAMP,
    "DeactivatedAt": _NULLABLE_TIMESTAMP,
}
ADMIN_USER = exact_object(_USER_FIELDS)
ADMIN_USER_OVERVIEW = exact_object(
    {
        **_USER_FIELDS,
        "Rooms": {
            "type": "array",
            "items": exact_object({"RoomID": ID, "Name": _NULLABLE_STRING, "Kind": STRING}),
        },
        "RoomCount": {"type": "integer", "minimum": 0},
        "Sessions": {"type": "integer", "minimum": 0},
        "LastSeen": _NULLABLE_TIMESTAMP,
        "TwoFactor": BOOLEAN,
    }
)
_OPERATORS_ONLY = Answer("the caller is not a server operator", ERROR)
_NO_USER = Answer("no user with this UID", ERROR)


def admin_user_shape(user: User) -> dict[str, Any]:
    return {
        "UID": user.id,
        "Username": user.name,
        "DisplayName": user.display_name,
        "Email": user.email,
        "Kind": user.kind,
        "Operator": user.is_admin,
        "Active": user.active,
        "CreatedAt": shapes.timestamp(user.created_at),
        "DeactivatedAt": (
            None if user.deactivated_at is None else shapes.timestamp(user.deactivated_at)
        ),
    }


def overview_shape(found: UserOverview) -> dict[str, Any]:
    return {
        **admin_user_shape(found.user),
        "Rooms": [
            {"RoomID": room.room_id, "Name": room.name, "Kind": room.kind} for room in found.rooms
        ],
        "RoomCount": found.room_count,
        "Sessions": found.sessions,
        "LastSeen": None if found.last_seen is None else shapes.timestamp(found.last_seen),
        "TwoFactor": found.two_factor,
    }


ADMIN_ROOM = exact_object(
    {
        "RoomID": ID,
        "Name": _NULLABLE_STRING,
        "Kind": {"type": "string", "enum": ["lobby", "group"]},
        "Private": BOOLEAN,
        "Archived": BOOLEAN,
        "CreatedAt": TIMESTAMP,
        "Members": {"type": "integer", "minimum": 0},
        "Owners": {"type": "array", "items": exact_object({"UID": ID, "Username": STRING})},
        "LastMessageAt": _NULLABLE_TIMESTAMP,
    }
)
_SERVER = exact_object(
    {
        "Version": STRING,
        "Database": {"type": "string", "enum": ["sqlite", "postgresql"]},
        "Bus": {"type": "string", "enum": ["none", "postgresql", "redis"]},
        "Instances": {
            "type": "array",
            "items": exact_object(
                {"InstanceID": STRING, "UsersOnline": {"type": "integer"}, "This": BOOLEAN}
            ),
        },
        "Connections": {"type": "object", "additionalProperties": {"type": "integer"}},
        "Settings": {"type": "object"},
    }
)


def room_summary_shape(room: RoomSummary) -> dict[str, Any]:
    return {
        "RoomID": room.room_id,
        "Name": room.name,
        "Kind": room.kind,
        "Private": room.is_private,
        "Archived": room.archived,
        "CreatedAt": shapes.timestamp(room.created_at),
        "Members": room.members,
        "Owners": [shapes.person(uid, name) for uid, name in room.owners],
        "LastMessageAt": (
            None if room.last_message_at is None else shapes.timestamp(room.last_message_at)
        ),
    }


def _engines(config: Config) -> tuple[str, str]:
    """The database's kind, and the bus's (none: SQLite serves one instance)."""
    url = config.database_url or ""
    if not url.startswith(("postgresql:", "postgres:")):
        return "sqlite", "none"
    bus = config.bus_url or ""
    return "postgresql", "redis" if bus.startswith(("redis:", "rediss:")) else "postgresql"


#: A console search's query: its text, and the page.
_PAGE_QUERY = {
    "q": {"type": "string", "maxLength": MAX_SEARCH_CHARS},
    "after": ID_OR_ZERO,
    "limit": {"type": "integer", "minimum": 1, "maximum": MOST_LISTED},
}


def _page_answers(what: str, field: str, item: dict[str, Any]) -> dict[int, Answer | None]:
    """What a console search answers: one page of `what`, in `field`, and `Next`."""
    page = exact_object(
        {field: {"type": "array", "items": item}, "Next": {"type": ["integer", "null"]}}
    )
    return {200: Answer(f"one page of {what}", page), 400: INVALID, 403: _OPERATORS_ONLY}


def _page_query() -> tuple[str, int, int | None]:
    """``q``, ``after`` and ``limit`` of a console search."""
    args = request.args
    after_text, limit_text = args.get("after"), args.get("limit")
    after = 0 if after_text is None else validation.query_number(after_text, "after")
    limit = None if limit_text is None else validation.query_number(limit_text, "limit")
    return args.get("q", ""), after, limit


def _optional_bool(body: Mapping[str, Any], field: str) -> bool | None:
    return validation.require_bool(body, field) if field in body else None


def admin_routes(
    service: ChatService, *, config: Config, version: str, metrics: Metrics, links: ResetLinks
) -> Blueprint:
    routes = Blueprint("admin", __name__)

    @routes.get("/admin/users")
    @describe(
        "Search every account (operators)",
        description=(
            "Accounts whose name, display name or e-mail address contains q"
            " (case-insensitive; none: everyone), bots included, by UID. Next is the"
            " 'after' of the next page (null: this is the last)."
        ),
        query=_PAGE_QUERY,
        token=Token.REQUIRED,
        answers=_page_answers("accounts", "Users", ADMIN_USER),
    )
    async def search_users() -> Any:
        identity = await require_identity(service, request)
        q, after, limit = _page_query()
        page, after_page = await service.console.search(identity, q, after=after, limit=limit)
        return {"Users": [admin_user_shape(user) for user in page], "Next": after_page}

    @routes.get("/admin/users/<uid>")
    @describe(
        "One account, whole (operators)",
        description=(
            "The account with the first of its rooms and how many there are, its browser"
            " sessions that have not ended, and when one was last used."
        ),
        path={"uid": ID},
        token=Token.REQUIRED,
        answers={
            200: Answer("the account", ADMIN_USER_OVERVIEW),
            403: _OPERATORS_ONLY,
            404: _NO_USER,
        },
    )
    async def show_user(uid: str) -> Any:
        identity = await require_identity(service, request)
        user_id = validation.path_id(uid, "UID")
        return overview_shape(await service.console.overview(identity, user_id))

    @routes.put("/admin/users/<uid>")
    @describe(
        "Deactivate, reactivate, promote or demote an account (operators)",
        description=(
            "Active false: the account's tokens and sessions end at once on every instance"
            " (its WebSockets close with 'account deactivated'), logging in answers 403,"
            " its personal access tokens and its bots' are refused; its messages, rooms and"
            " name stay. Operator false: the role goes at once and the account's sessions"
            " end. An operator changes neither for themselves (409)."
        ),
        path={"uid": ID},
        body=body_fields({}, {"Active": BOOLEAN, "Operator": BOOLEAN}),
        example={"Active": False},
        token=Token.REQUIRED,
        answers={
            200: Answer("the account as changed", ADMIN_USER_OVERVIEW),
            400: INVALID,
            403: _OPERATORS_ONLY,
            404: _NO_USER,
            409: Answer("the operator's own account", ERROR),
        },
    )
    async def update_user(uid: str) -> Any:
        identity = await require_identity(service, request)
        user_id = validation.path_id(uid, "UID")
        body = await json_object(request)
        active, operator = _optional_bool(body, "Active"), _optional_bool(body, "Operator")
        if active is None and operator is None:
            raise InvalidInput('give "Active", "Operator" or both')
        changed = await service.console.update(identity, user_id, active=active, operator=operator)
        return overview_shape(changed)

    @routes.delete("/admin/users/<uid>/sessions")
    @describe(
        "Log an account out everywhere (operators)",
        description=(
            "Every browser session ends and every token issued so far is refused; its"
            " WebSockets close on every instance. It may log in again."
        ),
        path={"uid": ID},
        token=Token.REQUIRED,
        answers={204: Answer("logged out everywhere"), 403: _OPERATORS_ONLY, 404: _NO_USER},
    )
    async def end_sessions(uid: str) -> Any:
        identity = await require_identity(service, request)
        await service.console.end_sessions(identity, validation.path_id(uid, "UID"))
        return "", 204

    @routes.post("/admin/users/<uid>/password-reset")
    @describe(
        "Make a password-reset link for an account (operators)",
        description=(
            "A one-time link (an hour; it replaces the account's earlier one) for the"
            " operator to hand over: nothing is mailed, SMTP or not. Following it sets a new"
            " password and ends every session of the account, on every instance."
        ),
        path={"uid": ID},
        token=Token.REQUIRED,
        answers={
            200: Answer("the link", exact_object({"URL": STRING})),
            400: Answer("a bot has no password", ERROR),
            403: _OPERATORS_ONLY,
            404: _NO_USER,
        },
    )
    async def password_reset_link(uid: str) -> Any:
        identity = await require_identity(service, request)
        user_id = validation.path_id(uid, "UID")
        base_url = config.public_url or request.host_url
        url = await service.console.password_reset_link(identity, user_id, links, base_url=base_url)
        return {"URL": url}

    @routes.get("/admin/rooms")
    @describe(
        "List the named rooms (operators)",
        description=(
            "The lobby and group rooms (private ones too; never direct or support"
            " conversations) whose name contains q, by RoomID: members, first owners, and"
            " when the newest message was sent. Next is the 'after' of the next page."
        ),
        query=_PAGE_QUERY,
        token=Token.REQUIRED,
        answers=_page_answers("rooms", "Rooms", ADMIN_ROOM),
    )
    async def list_rooms() -> Any:
        identity = await require_identity(service, request)
        q, after, limit = _page_query()
        page, after_page = await service.console.rooms(identity, q, after=after, limit=limit)
        return {"Rooms": [room_summary_shape(room) for room in page], "Next": after_page}

    @routes.get("/admin/server")
    @describe(
        "The server as it runs (operators)",
        description=(
            "Its version; the database and the bus; the live instances (this one first)"
            " with their users online; this instance's WebSocket connections by protocol;"
            " and every setting in force by its environment variable, secrets shown as"
            " '(set)' and passwords left out of URLs."
        ),
        token=Token.REQUIRED,
        answers={200: Answer("the server", _SERVER), 403: _OPERATORS_ONLY},
    )
    async def show_server() -> Any:
        identity = await require_identity(service, request)
        require_operator(identity)
        database, bus = _engines(config)
        online = service.presence.online_by_instance()
        this = next(iter(online))
        return {
            "Version": version,
            "Database": database,
            "Bus": bus,
            "Instances": [
                {"InstanceID": instance, "UsersOnline": users, "This": instance == this}
                for instance, users in online.items()
            ],
            "Connections": dict(metrics.open_connections()),
            "Settings": settings_in_force(config),
        }

    return routes
