"""A room's messages over HTTP: reading pages of them (spec 004) and posting one, for
bots and scripts (issue 22).

- ``GET /messages/{roomID}``  (``LastID`` body or ``?last_id=``, ``?limit=``)
  -> 200 [message, ...], newest first
- ``POST /messages/{roomID}`` {"Text", "ReplyTo"?, "ClientMsgID"?}
  -> 201 the message as history items show it (200: a resend, the original)
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from .. import shapes, validation
from ..errors import InvalidInput
from ..service import MAX_HISTORY, ChatService
from .bodies import json_object, parse_json_object, raw_body
from .identity import require_identity
from .openapi import (
    ERROR,
    ID,
    ID_OR_ZERO,
    MESSAGE,
    STRING,
    Answer,
    Token,
    body_fields,
    describe,
    room_reading,
)

#: A page of messages: `limit` is 1 to MAX_HISTORY.
_PAGE_SIZE = {"type": "integer", "minimum": 1, "maximum": MAX_HISTORY}
_TOO_MANY_MESSAGES = Answer(
    "the caller sent too many messages lately (CHAT_RATE_MESSAGES)", ERROR, retry_after=True
)


async def _last_id(query_value: str | None) -> int:
    """LastID from the JSON body (as spec 004 sends it, even on a GET) or ``?last_id=``."""
    from_query = None
    if query_value is not None:
        from_query = validation.query_number(query_value, "last_id")
    from_body = None
    raw = await raw_body(request)
    if raw.strip():  # the body is optional here
        body = parse_json_object(raw)
        if "LastID" in body:
            from_body = validation.require_id(body, "LastID", allow_zero=True)
    if from_query is not None and from_body is not None and from_query != from_body:
        raise InvalidInput("LastID in the body and last_id in the query disagree")
    return from_query if from_query is not None else (from_body or 0)


def message_routes(service: ChatService) -> Blueprint:
    routes = Blueprint("messages", __name__)

    @routes.get("/messages/<room_id>")
    @describe(
        "A page of a room's messages, newest first (members only)",
        description=(
            "Messages older than LastID (the body, as spec 004 sends it even on a GET) or"
            " last_id (the query); 0 or absent: from the newest. If both are given they"
            " must agree. An empty list: nothing older."
        ),
        path={"room_id": ID},
        query={"last_id": ID_OR_ZERO, "limit": _PAGE_SIZE},
        body=body_fields({}, {"LastID": ID_OR_ZERO}),
        body_required=False,
        token=Token.REQUIRED,
        answers=room_reading(Answer("the messages", {"type": "array", "items": MESSAGE})),
    )
    async def messages(room_id: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        last_id = await _last_id(request.args.get("last_id"))
        limit_text = request.args.get("limit")
        limit = MAX_HISTORY if limit_text is None else validation.query_number(limit_text, "limit")
        page = await service.page(identity, room_number, last_id=last_id, limit=limit)
        return [shapes.room_message(message) for message in page]

    @routes.post("/messages/<room_id>")
    @describe(
        "Post a message to a room (members only), as a /ws message frame does",
        description=(
            "Stored, then delivered to every connection in the room on every instance;"
            " the answer is the message as history items show it. ReplyTo names a message"
            " of the same room it answers. With a ClientMsgID already used by the caller in"
            " this room nothing is stored: 200 with the original."
        ),
        path={"room_id": ID},
        body=body_fields({"Text": STRING}, {"ReplyTo": ID, "ClientMsgID": STRING}),
        example={"Text": "build 1432 is green", "ClientMsgID": "ci-1432"},
        token=Token.REQUIRED,
        answers={
            **room_reading(Answer("a resend: the original message", MESSAGE)),
            201: Answer("stored and delivered", MESSAGE),
            429: _TOO_MANY_MESSAGES,
        },
    )
    async def post_message(room_id: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        body = await json_object(request)
        text = validation.require_str(body, "Text")
        reply_to = None
        if body.get("ReplyTo") is not None:
            reply_to = validation.require_id(body, "ReplyTo")
        client_msg_id = validation.client_msg_id(body, "ClientMsgID")
        room = await service.member_room(identity, room_number)
        posted = await service.post(
            identity, room, text, client_msg_id=client_msg_id, reply_to=reply_to
        )
        return shapes.room_message(posted.message), 200 if posted.resent else 201

    return routes
