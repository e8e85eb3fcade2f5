"""A room's pinned messages over HTTP.

- ``PUT`` / ``DELETE /messages/{roomID}/{messageID}/pin`` -> 200 {"RoomID", "MessageID",
  "Pinned"} (moderators and owners)
- ``GET /room/{roomID}/pins`` -> 200 [{"Message", "PinnedBy", "PinnedAt"}, ...], newest
  pin first (members)

The rules are `chat.app.messages.pins`'; every pin and unpin reaches every connection in
the room, on every instance, as the room protocol's ``pins`` frame.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from chat.app.messages.pins import MAX_PINS
from chat.app.service import ChatService
from chat.core import shapes, validation
from chat.http.identity import require_identity
from chat.http.openapi import (
    BOOLEAN,
    ERROR,
    ID,
    INVALID,
    MESSAGE,
    PERSON,
    TIMESTAMP,
    Answer,
    Token,
    describe,
    exact_object,
    room_reading,
)

_A_MESSAGE = {"room_id": ID, "message_id": ID}
_PIN_STATE = exact_object({"RoomID": ID, "MessageID": ID, "Pinned": BOOLEAN})
_PINNED = exact_object(
    {
        "Message": MESSAGE,
        "PinnedBy": {"anyOf": [PERSON, {"type": "null"}]},
        "PinnedAt": TIMESTAMP,
    }
)
_PINNING = {
    200: Answer("whether the message is pinned now", _PIN_STATE),
    400: INVALID,
    403: Answer(
        "not a member of the room, or not one of its moderators or owners (nor an operator)",
        ERROR,
    ),
    404: Answer("no such room, or no such message in it (or it was deleted)", ERROR),
    409: Answer(
        f"the room has {MAX_PINS} pinned messages already, or it is a direct conversation"
        " or a support thread (no pins there)",
        ERROR,
    ),
    429: Answer(
        "the caller sent too many messages and changes lately (CHAT_RATE_MESSAGES: a pin"
        " counts as a message)",
        ERROR,
        retry_after=True,
    ),
}
_PIN_DESCRIPTION = (
    f"A group room's moderators and owners (and server operators; in the lobby, operators"
    f" only) pin up to {MAX_PINS} of its messages. Every connection in the room, on every"
    " instance, receives a pins frame. Pinning a pinned message again, or unpinning one"
    " that is not pinned, changes nothing. A deleted message is unpinned."
)


def pin_routes(service: ChatService) -> Blueprint:
    routes = Blueprint("pins", __name__)

    @routes.put("/messages/<room_id>/<message_id>/pin")
    @describe(
        "Pin a message for everyone in its room (moderators and owners)",
        description=_PIN_DESCRIPTION,
        path=_A_MESSAGE,
        token=Token.REQUIRED,
        answers=_PINNING,
    )
    async def pin(room_id: str, message_id: str) -> Any:
        return await _set_pin(room_id, message_id, pinned=True)

    @routes.delete("/messages/<room_id>/<message_id>/pin")
    @describe(
        "Unpin a message (moderators and owners)",
        description=_PIN_DESCRIPTION,
        path=_A_MESSAGE,
        token=Token.REQUIRED,
        answers=_PINNING,
    )
    async def unpin(room_id: str, message_id: str) -> Any:
        return await _set_pin(room_id, message_id, pinned=False)

    async def _set_pin(room_id: str, message_id: str, *, pinned: bool) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        message_number = validation.path_id(message_id, "messageID")
        # Operators act as owners in every group room, members or not.
        room = await service.moderated_room(identity, room_number)
        await service.pins.set_pin(identity, room, message_number, pinned=pinned)
        return {"RoomID": room.id, "MessageID": message_number, "Pinned": pinned}

    @routes.get("/room/<room_id>/pins")
    @describe(
        "A room's pinned messages, newest pin first (members only)",
        description=(
            f"At most {MAX_PINS}: each message as history items show it, who pinned it"
            " (null: an account deleted since) and when. Deleted messages are not listed."
        ),
        path={"room_id": ID},
        token=Token.REQUIRED,
        answers=room_reading(
            Answer(
                "the pinned messages",
                {"type": "array", "items": _PINNED, "maxItems": MAX_PINS},
            )
        ),
    )
    async def room_pins(room_id: str) -> Any:
        identity = await require_identity(service, request)
        room = await service.member_room(identity, validation.path_id(room_id, "roomID"))
        return [shapes.pinned_message(pin) for pin in await service.pins.room_pins(room)]

    return routes
