"""Notification levels over HTTP: how much the caller wants to hear of one of
their rooms. `GET /rooms/details` shows every room's level too ("Notifications").

- ``GET /room/{roomID}/notifications``            -> 200 {"RoomID", "Level"}
- ``PUT /room/{roomID}/notifications`` {"Level"}  -> 200 {"RoomID", "Level"}
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from chat.app.people.notification_levels import LEVELS
from chat.app.service import ChatService
from chat.core import validation
from chat.http.bodies import json_object
from chat.http.identity import require_identity
from chat.http.openapi import ID, Answer, Token, body_fields, describe, exact_object, room_reading

#: A level, as the routes take and answer it.
LEVEL = {"type": "string", "enum": list(LEVELS)}
_ROOM_LEVEL = exact_object({"RoomID": ID, "Level": LEVEL})
_LEVELS_EXPLAINED = (
    '"all": every message; "mentions": only messages that mention the caller; "none":'
    " nothing. A level decides what is pushed to the caller while they are away and what"
    " the browser notifies; it never hides a message. Until set, a room has its kind's"
    ' default: "all" for direct conversations and support threads, "mentions" for group'
    " rooms and the lobby."
)


def notification_routes(service: ChatService) -> Blueprint:
    routes = Blueprint("notifications", __name__)

    @routes.get("/room/<room_id>/notifications")
    @describe(
        "The caller's notification level in one of their rooms",
        description=_LEVELS_EXPLAINED,
        path={"room_id": ID},
        token=Token.REQUIRED,
        answers=room_reading(Answer("the level", _ROOM_LEVEL)),
    )
    async def notification_level(room_id: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        room, level = await service.notifications.get(identity, room_number)
        return {"RoomID": room.id, "Level": level}

    @routes.put("/room/<room_id>/notifications")
    @describe(
        "Set the caller's notification level in one of their rooms",
        description=_LEVELS_EXPLAINED,
        path={"room_id": ID},
        body=body_fields({"Level": LEVEL}),
        example={"Level": "all"},
        token=Token.REQUIRED,
        answers=room_reading(Answer("the level, as set", _ROOM_LEVEL)),
    )
    async def set_notification_level(room_id: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        body = await json_object(request)
        room, level = await service.notifications.set(identity, room_number, body.get("Level"))
        return {"RoomID": room.id, "Level": level}

    return routes
