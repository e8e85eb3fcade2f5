"""Finding people: ``GET /users?prefix=al`` -> 200 [{"UID", "Username",
"Online"}, ...], online meaning connected to any instance of the cluster
(`chat.app.presence.tracker`)."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from chat.app.rooms.operations import MAX_FOUND_USERS
from chat.app.service import ChatService
from chat.core import shapes
from chat.core.validation import MAX_NAME_CHARS
from chat.http.identity import require_identity
from chat.http.openapi import FOUND_USER, INVALID, Answer, Token, describe

_PREFIX = {"type": "string", "minLength": 1, "maxLength": MAX_NAME_CHARS}


def people_routes(service: ChatService) -> Blueprint:
    routes = Blueprint("people", __name__)

    @routes.get("/users")
    @describe(
        "Other users whose names start with a prefix, for pickers",
        description=(
            f"At most {MAX_FOUND_USERS}, by name. Case and look-alike letters aside, as"
            " logging in compares names; % and _ are plain characters. The caller is"
            " never listed. Online: with a WebSocket connection open on any instance."
        ),
        query={"prefix": _PREFIX},
        token=Token.REQUIRED,
        answers={
            200: Answer("the users found", {"type": "array", "items": FOUND_USER, "maxItems": 20}),
            400: INVALID,
        },
    )
    async def users() -> Any:
        identity = await require_identity(service, request)
        found = await service.find_users(identity, request.args.get("prefix", ""))
        online = service.presence.is_online
        return [{**shapes.person(uid, name), "Online": online(uid)} for uid, name in found]

    return routes
