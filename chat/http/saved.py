"""Saved messages over HTTP (`chat.app.messages.saved` decides):

- ``PUT /me/saved/{messageID}``         -> 204 (saved, or saved before); 404 for a message
  the caller may not read (or none); 409 past the most one may keep
- ``DELETE /me/saved/{messageID}``      -> 204 (unsaved, or never saved); 404 as above
- ``GET /me/saved?before=&limit=``      -> 200 [saved message, ...], newest saved first
- ``GET /me/saved/ids``                 -> 200 {"MessageIDs": [...]}, newest saved first
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from chat.app.messages.saved import DEFAULT_PAGE, MAX_PAGE, MOST_SAVED
from chat.app.service import ChatService
from chat.core import shapes, validation
from chat.core.records import SavedMessage
from chat.http.identity import require_identity
from chat.http.openapi import (
    ERROR,
    ID,
    INVALID,
    MESSAGE,
    STRING,
    TIMESTAMP,
    Answer,
    Token,
    describe,
    exact_object,
)

SAVED_MESSAGE = exact_object(
    {
        "SavedID": ID,
        "SavedAt": TIMESTAMP,
        "Room": exact_object(
            {
                "RoomID": ID,
                "Name": {"type": ["string", "null"]},
                "Kind": {**STRING, "enum": ["lobby", "group", "direct", "support"]},
            }
        ),
        "Message": MESSAGE,
    }
)
_MESSAGE_PATH = {"message_id": ID}
_UNREADABLE = Answer(
    "no message with this id that the caller may read (none, or one in a room that is not"
    " theirs: the same answer, so nothing is told of other rooms)",
    ERROR,
)
_SHOWN = (
    "A saved message shows while it is not deleted and its room is one the caller may"
    " read: one deleted, or in a room they left, were removed or banned from, drops out"
    " (and shows again if they can read it again)."
)


def saved_shape(saved: SavedMessage) -> dict[str, Any]:
    message = saved.message
    return {
        "SavedID": saved.saved_id,
        "SavedAt": shapes.timestamp(saved.saved_at),
        "Room": {"RoomID": message.room_id, "Name": saved.room_name, "Kind": saved.room_kind},
        "Message": shapes.room_message(message),
    }


def saved_routes(service: ChatService) -> Blueprint:
    routes = Blueprint("saved", __name__)

    @routes.put("/me/saved/<message_id>")
    @describe(
        "Save a message for yourself",
        description=(
            "Any message the caller may read. Saving one saved already changes nothing."
            f" Each user keeps at most {MOST_SAVED} (409 past it: unsave some first). The"
            ' caller\'s connections get {"Type": "saved", "MessageID", "Saved": true}.'
        ),
        path=_MESSAGE_PATH,
        token=Token.REQUIRED,
        answers={
            204: Answer("saved"),
            400: INVALID,
            404: _UNREADABLE,
            409: Answer(f"the caller keeps {MOST_SAVED} saved messages already", ERROR),
        },
    )
    async def save(message_id: str) -> Any:
        identity = await require_identity(service, request)
        await service.saved.save(identity, validation.path_id(message_id, "messageID"))
        return "", 204

    @routes.delete("/me/saved/<message_id>")
    @describe(
        "Unsave a message",
        description=(
            "Unsaving one that was not saved changes nothing. The caller's saving is"
            " forgotten even when the message is no longer theirs to read (404 then,"
            ' as for any message they may not read). The caller\'s connections get {"Type":'
            ' "saved", "MessageID", "Saved": false}.'
        ),
        path=_MESSAGE_PATH,
        token=Token.REQUIRED,
        answers={204: Answer("not saved (any more)"), 400: INVALID, 404: _UNREADABLE},
    )
    async def unsave(message_id: str) -> Any:
        identity = await require_identity(service, request)
        await service.saved.unsave(identity, validation.path_id(message_id, "messageID"))
        return "", 204

    @routes.get("/me/saved")
    @describe(
        "The caller's saved messages, newest saved first",
        description=(
            "Each with its room (Name null for a direct conversation or a support thread)"
            " and when it was saved; the message as history shows it. The next page:"
            f" before = the last item's SavedID. limit: {DEFAULT_PAGE} by default. {_SHOWN}"
        ),
        query={"before": ID, "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}},
        token=Token.REQUIRED,
        answers={
            200: Answer("a page of saved messages", {"type": "array", "items": SAVED_MESSAGE}),
            400: INVALID,
        },
    )
    async def saved_list() -> Any:
        identity = await require_identity(service, request)
        before = request.args.get("before")
        limit = request.args.get("limit")
        page = await service.saved.page(
            identity,
            before=None if before is None else validation.path_id(before, "before"),
            limit=DEFAULT_PAGE if limit is None else validation.query_number(limit, "limit"),
        )
        return [saved_shape(saved) for saved in page]

    @routes.get("/me/saved/ids")
    @describe(
        "The ids of every saved message of the caller's, newest saved first",
        description=f"What a client marks as saved (at most {MOST_SAVED}). {_SHOWN}",
        token=Token.REQUIRED,
        answers={
            200: Answer(
                "the ids",
                exact_object({"MessageIDs": {"type": "array", "items": ID}}),
            )
        },
    )
    async def saved_ids() -> Any:
        identity = await require_identity(service, request)
        return {"MessageIDs": await service.saved.ids(identity)}

    return routes
