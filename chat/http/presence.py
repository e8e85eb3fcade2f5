"""Presence over HTTP: ``GET /room/{roomID}/online`` -> 200 [{"UID", "Username"}, ...], the
users present in a room right now, anywhere in the cluster (`chat.app.presence.tracker`)."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from chat.app.service import ChatService
from chat.core import shapes, validation
from chat.http.identity import require_identity
from chat.http.openapi import ID, PUBLIC_PROFILE, Answer, Token, describe, room_reading


def presence_routes(service: ChatService) -> Blueprint:
    routes = Blueprint("presence", __name__)

    @routes.get("/room/<room_id>/online")
    @describe(
        "The users present in a room now, by name (members only)",
        description=(
            "Present: with a /ws connection that has entered the room, on any instance."
            " The WebSocket's presence frames keep such a list up to date."
        ),
        path={"room_id": ID},
        token=Token.REQUIRED,
        answers=room_reading(
            Answer("the users present", {"type": "array", "items": PUBLIC_PROFILE})
        ),
    )
    async def online(room_id: str) -> Any:
        identity = await require_identity(service, request)
        room = await service.member_room(identity, validation.path_id(room_id, "roomID"))
        return [shapes.person(uid, name) for uid, name in service.presence.present(room.id)]

    return routes
