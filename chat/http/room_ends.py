"""Archiving and deleting a group room, by its owners and operators; the rules are
`chat.app.rooms.lifecycle`'s.

- ``PUT /room/{roomID}/archive``  {"Archived": true|false}   -> 200 the room
- ``DELETE /room/{roomID}``       {"Confirm": "<its name>"}  -> 200 {"RoomID"}
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from chat.app.service import ChatService
from chat.core import shapes, validation
from chat.http.bodies import json_object
from chat.http.identity import require_identity
from chat.http.openapi import (
    BOOLEAN,
    ERROR,
    ID,
    INVALID,
    NOT_FOUND,
    ROOM,
    Answer,
    Token,
    body_fields,
    describe,
    exact_object,
)

_REFUSED = Answer("only the room's owners (and operators) may archive or delete it", ERROR)
_NO_OWNERS = Answer(
    "the lobby, a direct conversation or a support thread: it has no owners to archive or"
    " delete it",
    ERROR,
)


def room_end_routes(service: ChatService) -> Blueprint:
    routes = Blueprint("room_ends", __name__)

    @routes.put("/room/<room_id>/archive")
    @describe(
        "Archive a group room (read-only), or unarchive it (owners and operators)",
        description=(
            "An archived room keeps everything and goes on being read (history, search,"
            " threads, read markers), but takes no change: a message sent to it, through"
            " any instance and in any dialect, an edit, a deletion, a reaction, a pin, a"
            ' join or an invitation answers 409 ("room N is archived: ...", an error frame'
            " on a WebSocket). It leaves GET /rooms/public. Every member's connections, on"
            ' every instance, get {"Type": "room", ..., "Archived": true|false}. The same'
            " value again changes nothing."
        ),
        path={"room_id": ID},
        body=body_fields({"Archived": BOOLEAN}),
        example={"Archived": True},
        token=Token.REQUIRED,
        answers={
            200: Answer("the room now", ROOM),
            400: INVALID,
            403: _REFUSED,
            404: NOT_FOUND,
            409: _NO_OWNERS,
        },
    )
    async def archive(room_id: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        archived = validation.require_bool(await json_object(request), "Archived")
        room = await service.room_ends.set_archived(identity, room_number, archived)
        return shapes.room(room)

    @routes.delete("/room/<room_id>")
    @describe(
        "Delete a group room with its messages and files (owners and operators)",
        description=(
            "Confirm must be the room's name, exactly (400 otherwise). Its messages go,"
            " with their reactions, pins, threads and reports, and the files they carried"
            " (unless another message carries them too), then the room: it leaves every"
            " member's list. Every member's connections, on every instance, get"
            ' {"Type": "room-deleted", "RoomID"} and leave it. The audit log keeps an'
            ' entry ("delete-room"), for operators (GET /audit).'
        ),
        path={"room_id": ID},
        body=body_fields({"Confirm": {"type": "string", "maxLength": 255}}),
        example={"Confirm": "release-planning"},
        token=Token.REQUIRED,
        answers={
            200: Answer("deleted", exact_object({"RoomID": ID})),
            400: INVALID,
            403: _REFUSED,
            404: NOT_FOUND,
            409: _NO_OWNERS,
        },
    )
    async def delete(room_id: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        confirm = validation.require_str(await json_object(request), "Confirm")
        await service.room_ends.delete(identity, room_number, confirm)
        return {"RoomID": room_number}

    return routes
