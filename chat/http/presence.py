"""Presence over HTTP: ``GET /room/{roomID}/online`` -> 200 [{"UID", "Username",
"Status"?}, ...], the users present in a room right now, anywhere in the cluster
(`chat.app.presence.tracker`), each with their status while one is in force, as presence
frames list them."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from chat.app.people.statuses import Statuses
from chat.app.service import ChatService
from chat.core import shapes, validation
from chat.http.identity import require_identity
from chat.http.openapi import (
    ID,
    PERSON,
    STATUS,
    Answer,
    Token,
    describe,
    exact_object,
    room_reading,
)

#: Someone present: who, and their status while one is in force.
_PRESENT = exact_object(PERSON["properties"], {"Status": STATUS})


def presence_routes(service: ChatService, statuses: Statuses) -> Blueprint:
    routes = Blueprint("presence", __name__)

    @routes.get("/room/<room_id>/online")
    @describe(
        "The users present in a room now, by name (members only)",
        description=(
            "Present: with a /ws connection that has entered the room, on any instance."
            " The WebSocket's presence frames keep such a list up to date. Status: the"
            " user's status while one is in force (absent: none)."
        ),
        path={"room_id": ID},
        token=Token.REQUIRED,
        answers=room_reading(Answer("the users present", {"type": "array", "items": _PRESENT})),
    )
    async def online(room_id: str) -> Any:
        identity = await require_identity(service, request)
        room = await service.member_room(identity, validation.path_id(room_id, "roomID"))
        present = []
        for uid, name in service.presence.present(room.id):
            person = shapes.person(uid, name)
            status = statuses.shown(uid)
            if status is not None:
                person["Status"] = status
            present.append(person)
        return present

    return routes
