"""A room's messages over HTTP: reading pages of them (spec 004) and posting one, for
bots and scripts.

- ``GET /messages/{roomID}``  (``LastID`` body or ``?last_id=``, or ``?after=``, or
  ``?around=``; ``?limit=``) -> 200 [message, ...], newest first
- ``POST /messages/{roomID}`` {"Text", "ReplyTo"?, "ClientMsgID"?}
  -> 201 the message as history items show it (200: a resend, the original)
- ``PATCH /messages/{roomID}/{messageID}`` {"Text"} -> 200 the message, edited
- ``DELETE /messages/{roomID}/{messageID}`` -> 204 (a tombstone is left)
- ``GET /messages/{roomID}/{messageID}/edits`` -> 200 [{"Text", "At"}, ...], oldest first
- ``PUT`` / ``DELETE /messages/{roomID}/{messageID}/reactions/{emoji}``
  -> 200 {"RoomID", "MessageID", "Reactions"}

Changes are made by `chat.app.messages.changes` and reach every connection in the room, on
every instance, as the room protocol's ``edited``, ``deleted`` and ``reactions`` frames.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from chat.app.history.pages import DEFAULT_AROUND, MAX_PAGE, InThread
from chat.app.messages.changes import MAX_EMOJI
from chat.app.service import ChatService
from chat.core import outgoing, shapes, validation
from chat.core.errors import InvalidInput
from chat.core.message_json import page_response
from chat.core.records import Change, Message
from chat.http.bodies import json_object, parse_json_object, raw_body
from chat.http.identity import require_identity
from chat.http.openapi import (
    ACCOUNT_ERASED,
    ERROR,
    FORBIDDEN,
    ID,
    ID_OR_ZERO,
    INVALID,
    MESSAGE,
    REACTION_STATE,
    SENT_MESSAGE,
    STRING,
    VERSION,
    Answer,
    Token,
    body_fields,
    describe,
    exact_object,
    room_reading,
)

#: A page of messages: `limit` is 1 to MAX_HISTORY.
_PAGE_SIZE = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}
_TOO_MANY_MESSAGES = Answer(
    "the caller sent too many messages lately (CHAT_RATE_MESSAGES)", ERROR, retry_after=True
)
_TOO_MANY_CHANGES = Answer(
    "the caller sent too many messages and changes lately (CHAT_RATE_MESSAGES: a change"
    " counts as a message)",
    ERROR,
    retry_after=True,
)
_A_MESSAGE = {"room_id": ID, "message_id": ID}
#: A text taken as a command instead of posted (`chat.app.commands.dispatch`).
_TAKEN = exact_object({"RoomID": ID, "Command": STRING}, {"Text": STRING, "ClientMsgID": STRING})
_NO_ROOM_OR_IN_THREAD = Answer(
    "no such room, or (around) no such message in it; a thread reply not on the room's"
    " timeline names its thread's root, ThreadID",
    exact_object({"error": STRING}, {"ThreadID": ID}),
)
_NO_MESSAGE = Answer("no such room, or no such message in it (or it was deleted)", ERROR)
_NOT_YOURS = Answer(
    "not a member of the room, or not the message's author (deleting: nor the room's"
    " creator), or past the edit window (CHAT_EDIT_WINDOW)",
    ERROR,
)


def _changing(ok: Answer, status: int = 200) -> dict[int, Answer | None]:
    """The answers of a route that changes a message."""
    return {
        200: None,
        status: ok,
        400: INVALID,
        403: _NOT_YOURS,
        404: _NO_MESSAGE,
        429: _TOO_MANY_CHANGES,
    }


def _reaction_state(change: Change | None, present: Message | None) -> dict[str, Any]:
    """A reaction route's answer: the state the change left, or the present one."""
    if change is not None:
        return {
            "RoomID": change.room_id,
            "MessageID": change.message_id,
            "Reactions": shapes.reactions(change.reactions),
        }
    assert present is not None
    return {
        "RoomID": present.room_id,
        "MessageID": present.id,
        "Reactions": shapes.reactions(present.reactions),
    }


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
            " must agree. An empty list: nothing older. Or, instead: after=ID, the limit"
            " messages next after that one (towards the present); around=ID, that message"
            f" with about half of limit (default {DEFAULT_AROUND}) older messages and the"
            " rest newer ones (404 if the room has no such message; 404 with ThreadID if"
            " it is a reply in that thread, not on the room's timeline: read it in the"
            " thread). Newest first always."
        ),
        path={"room_id": ID},
        query={"last_id": ID_OR_ZERO, "limit": _PAGE_SIZE, "after": ID_OR_ZERO, "around": ID},
        body=body_fields({}, {"LastID": ID_OR_ZERO}),
        body_required=False,
        token=Token.REQUIRED,
        answers={
            **room_reading(Answer("the messages", {"type": "array", "items": MESSAGE})),
            404: _NO_ROOM_OR_IN_THREAD,
        },
    )
    async def messages(room_id: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        args = request.args
        last_id = await _last_id(args.get("last_id"))
        around, after = args.get("around"), args.get("after")
        if sum(x is not None for x in (around, after)) + (last_id != 0) > 1:
            raise InvalidInput("give one of last_id (LastID), after and around, not several")
        limit_text = args.get("limit")
        limit = None if limit_text is None else validation.query_number(limit_text, "limit")
        pages = service.pages
        if around is not None:
            try:
                page = await pages.around(
                    identity,
                    room_number,
                    message_id=validation.path_id(around, "around"),
                    limit=DEFAULT_AROUND if limit is None else limit,
                )
            except InThread as error:
                # The one error with a field besides its words: where the message is.
                return {"error": str(error), "ThreadID": error.thread_id}, 404
        elif after is not None:
            page = await pages.after(
                identity,
                room_number,
                after_id=validation.query_number(after, "after"),
                limit=MAX_PAGE if limit is None else limit,
            )
        else:
            page = await pages.before(
                identity, room_number, last_id=last_id, limit=MAX_PAGE if limit is None else limit
            )
        return page_response(page)

    @routes.post("/messages/<room_id>")
    @describe(
        "Post a message to a room (members only), as a /ws message frame does",
        description=(
            "Stored, then delivered to every connection in the room on every instance;"
            " the answer is the message as history items show it. ReplyTo names a message"
            " of the same room it answers. With a ClientMsgID already used by the caller in"
            " this room nothing is stored: 200 with the original. A direct conversation"
            " whose other account was erased takes no message (410). A text starting with a"
            " /command is not posted: 202 says it was taken (a built-in's answer or refusal"
            " in Text); a registered command's answer comes later, as its bot's message or"
            " an ephemeral frame to the caller's /ws connections. Text starting with // or"
            " '/ ' is posted as it is."
        ),
        path={"room_id": ID},
        body=SENT_MESSAGE,
        example={"Text": "build 1432 is green", "ClientMsgID": "ci-1432"},
        token=Token.REQUIRED,
        answers={
            **room_reading(Answer("a resend: the original message", MESSAGE)),
            201: Answer("stored and delivered", MESSAGE),
            202: Answer("taken as a command, not posted", _TAKEN),
            410: ACCOUNT_ERASED,
            429: _TOO_MANY_MESSAGES,
        },
    )
    async def post_message(room_id: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        message = outgoing.from_fields(await json_object(request))
        room = await service.member_room(identity, room_number)
        taken = await service.commands.take(identity, room, message)
        if taken is not None:
            answer: dict[str, Any] = {"RoomID": room.id, "Command": taken.command}
            if taken.text is not None:
                answer["Text"] = taken.text
            if message.client_msg_id is not None:
                answer["ClientMsgID"] = message.client_msg_id
            await service.commands.tell(identity, room, taken)
            return answer, 202
        posted = await service.post(identity, room, message)
        return shapes.room_message(posted.message), 200 if posted.resent else 201

    @routes.patch("/messages/<room_id>/<message_id>")
    @describe(
        "Edit one of your messages",
        description=(
            "The new text replaces the old one, which is kept as an earlier version"
            " (GET .../edits). Every connection in the room, on every instance, receives an"
            " edited frame. Only the author may edit, within CHAT_EDIT_WINDOW seconds of"
            " sending (unset: any time); the same text again changes nothing."
        ),
        path=_A_MESSAGE,
        body=body_fields({"Text": STRING}),
        example={"Text": "fixed the typo"},
        token=Token.REQUIRED,
        answers=_changing(Answer("the message as history items show it now", MESSAGE)),
    )
    async def edit_message(room_id: str, message_id: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        message_number = validation.path_id(message_id, "messageID")
        text = validation.require_str(await json_object(request), "Text")
        room = await service.member_room(identity, room_number)
        await service.changes.edit(identity, room, message_number, text)
        return shapes.room_message(await service.changes.message(room, message_number))

    @routes.delete("/messages/<room_id>/<message_id>")
    @describe(
        "Delete a message",
        description=(
            "Its text, earlier versions and reactions are erased from the database; a"
            " tombstone stays (id, room, sender, time), so that replies to it still make"
            " sense. Its author may delete it, and so may the moderators and owners of the"
            " group room (and server operators); the frame does not say who deleted it."
            " Every connection in the room receives a deleted frame. Deleting it again is"
            " not an error."
        ),
        path=_A_MESSAGE,
        token=Token.REQUIRED,
        answers=_changing(Answer("deleted"), 204),
    )
    async def delete_message(room_id: str, message_id: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        message_number = validation.path_id(message_id, "messageID")
        room = await service.moderated_room(identity, room_number)
        await service.changes.delete(identity, room, message_number)
        return "", 204

    @routes.delete("/messages/<room_id>/<message_id>/previews")
    @describe(
        "Remove a message's link previews for good",
        description=(
            "Its author may, and so may the room's moderators and owners (and server"
            " operators). Every connection in the room, on every instance, receives a"
            " previews frame with no Previews; the message is never previewed again."
            " Removing them again is not an error."
        ),
        path=_A_MESSAGE,
        token=Token.REQUIRED,
        answers=_changing(Answer("removed"), 204),
    )
    async def remove_previews(room_id: str, message_id: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        message_number = validation.path_id(message_id, "messageID")
        room = await service.moderated_room(identity, room_number)
        await service.changes.remove_previews(identity, room, message_number)
        return "", 204

    @routes.get("/messages/<room_id>/<message_id>/edits")
    @describe(
        "Every version of a message's text, oldest (the original) first (members only)",
        path=_A_MESSAGE,
        token=Token.REQUIRED,
        answers={
            200: Answer("the versions", {"type": "array", "items": VERSION, "minItems": 1}),
            400: INVALID,
            403: FORBIDDEN,
            404: _NO_MESSAGE,
        },
    )
    async def message_edits(room_id: str, message_id: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        message_number = validation.path_id(message_id, "messageID")
        room = await service.member_room(identity, room_number)
        return [shapes.version(v) for v in await service.changes.versions(room, message_number)]

    _reaction = (
        "One emoji (a single Unicode emoji sequence) or a :shortcode: of 1-32 characters"
        f" from [a-z0-9_+-], percent-encoded in the path; at most {MAX_EMOJI} different"
        " emoji per message. Every connection in the room receives the message's whole"
        " reaction state in a reactions frame."
    )
    _a_reaction = {**_A_MESSAGE, "emoji": {**STRING, "maxLength": validation.MAX_REACTION_CHARS}}

    @routes.put("/messages/<room_id>/<message_id>/reactions/<emoji>")
    @describe(
        "React to a message (members only; again with the same emoji changes nothing)",
        description=_reaction,
        path=_a_reaction,
        token=Token.REQUIRED,
        answers=_changing(Answer("the message's reactions now", REACTION_STATE)),
    )
    async def react(room_id: str, message_id: str, emoji: str) -> Any:
        return await _react(room_id, message_id, emoji, add=True)

    @routes.delete("/messages/<room_id>/<message_id>/reactions/<emoji>")
    @describe(
        "Take back your reaction to a message (none there: nothing changes)",
        description=_reaction,
        path=_a_reaction,
        token=Token.REQUIRED,
        answers=_changing(Answer("the message's reactions now", REACTION_STATE)),
    )
    async def unreact(room_id: str, message_id: str, emoji: str) -> Any:
        return await _react(room_id, message_id, emoji, add=False)

    async def _react(room_id: str, message_id: str, emoji: str, *, add: bool) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        message_number = validation.path_id(message_id, "messageID")
        room = await service.member_room(identity, room_number)
        change = await service.changes.react(identity, room, message_number, emoji, add=add)
        present = None if change else await service.changes.message(room, message_number)
        return _reaction_state(change, present)

    return routes
