"""Rooms and their messages (spec 004), and finding a direct conversation (spec 003).

- ``POST /create-room`` {"Name", "IsPrivate"} -> 201 {"RoomID"}
- ``PUT /join``         {"RoomID"}            -> 200 {"RoomID"}
- ``PUT /invite``       {"RoomID", "UID"}     -> 200 {"RoomID", "UID"}
- ``GET /rooms``                              -> 200 [RoomID, ...]
- ``GET /room/{roomID}``                      -> 200 {"RoomID", "Name", "IsPrivate", ...}
- ``GET /messages/{roomID}``                  -> 200 [message, ...], newest first
- ``GET /dm/{UID}``                           -> 200 {"RoomID"} of the caller's direct
  conversation with that user
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from .. import shapes, validation
from ..errors import InvalidInput
from ..service import MAX_HISTORY, ChatService
from .bodies import json_object, parse_json_object
from .identity import optional_identity, require_identity


async def _last_id(query_value: str | None) -> int:
    """LastID from the JSON body (as spec 004 sends it, even on a GET) or ``?last_id=``."""
    from_query = None
    if query_value is not None:
        from_query = validation.query_number(query_value, "last_id")
    from_body = None
    raw = await request.get_data(cache=False, as_text=False)
    if raw.strip():  # the body is optional here
        body = parse_json_object(raw)
        if "LastID" in body:
            from_body = validation.require_id(body, "LastID", allow_zero=True)
    if from_query is not None and from_body is not None and from_query != from_body:
        raise InvalidInput("LastID in the body and last_id in the query disagree")
    return from_query if from_query is not None else (from_body or 0)


def room_routes(service: ChatService) -> Blueprint:
    routes = Blueprint("rooms", __name__)

    @routes.post("/create-room")
    async def create_room() -> Any:
        identity = await require_identity(service, request)
        body = await json_object(request)
        name = validation.require_str(body, "Name")
        is_private = validation.require_bool(body, "IsPrivate")
        room = await service.create_room(identity, name, is_private=is_private)
        return {"RoomID": room.id}, 201

    @routes.put("/join")
    async def join() -> Any:
        identity = await require_identity(service, request)
        body = await json_object(request)
        room = await service.join(identity, validation.require_id(body, "RoomID"))
        return {"RoomID": room.id}

    @routes.put("/invite")
    async def invite() -> Any:
        identity = await require_identity(service, request)
        body = await json_object(request)
        room_id = validation.require_id(body, "RoomID")
        user_id = validation.require_id(body, "UID")
        room = await service.invite(identity, room_id, user_id)
        return {"RoomID": room.id, "UID": user_id}

    @routes.get("/rooms")
    async def rooms() -> Any:
        identity = await require_identity(service, request)
        return await service.rooms_of(identity)

    @routes.get("/room/<room_id>")
    async def room(room_id: str) -> Any:
        identity = await optional_identity(service, request)
        found = await service.visible_room(identity, validation.path_id(room_id, "roomID"))
        return shapes.room(found)

    @routes.get("/messages/<room_id>")
    async def messages(room_id: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        last_id = await _last_id(request.args.get("last_id"))
        limit_text = request.args.get("limit")
        limit = MAX_HISTORY if limit_text is None else validation.query_number(limit_text, "limit")
        page = await service.page(identity, room_number, last_id=last_id, limit=limit)
        return [shapes.room_message(message) for message in page]

    @routes.get("/dm/<uid>")
    async def direct_room(uid: str) -> Any:
        identity = await require_identity(service, request)
        room = await service.direct_room(identity, validation.path_id(uid, "UID"))
        return {"RoomID": room.id}

    return routes
