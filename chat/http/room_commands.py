"""A room's slash commands and outgoing webhooks over HTTP (`chat.app.commands` decides):

- ``POST /room/{roomID}/commands`` {"Command", "URL", "Description"?} -> 201 {"CommandID",
  "Secret"}; ``GET`` lists them; ``DELETE .../commands/{CommandID}`` -> 204
- ``POST /room/{roomID}/outgoing-webhooks`` {"TriggerWords", "URL"} -> 201 {"WebhookID",
  "Secret"}; ``GET`` lists them; ``DELETE .../outgoing-webhooks/{WebhookID}`` -> 204

Only the room's moderators and owners (and operators) manage them; every member may list
the room's commands' names and descriptions (what the composer offers). The secret is
shown once, in the 201.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from quart import Blueprint, request

from chat.app.service import ChatService
from chat.core import room_commands as rc
from chat.core import shapes, validation
from chat.core.records import Identity
from chat.core.room_commands import RoomCommand
from chat.core.room_permissions import Action, permits
from chat.http.bodies import json_object
from chat.http.identity import require_identity
from chat.http.openapi import (
    ERROR,
    ID,
    INVALID,
    PERSON,
    STRING,
    TIMESTAMP,
    Answer,
    Schema,
    Token,
    body_fields,
    describe,
    exact_object,
)

_ROOM = {"room_id": ID}
_MANAGED = {
    "URL": STRING,
    "BotUID": ID,
    "BotName": STRING,
    "CreatedBy": {"anyOf": [PERSON, {"type": "null"}]},
    "CreatedAt": TIMESTAMP,
}
_COMMAND = exact_object({"CommandID": STRING, "Command": STRING, "Description": STRING}, _MANAGED)
_HOOK = exact_object(
    {"WebhookID": STRING, "TriggerWords": {"type": "array", "items": STRING}, **_MANAGED}
)
_MADE_COMMAND = exact_object({"CommandID": STRING, "Secret": STRING})
_MADE_HOOK = exact_object({"WebhookID": STRING, "Secret": STRING})
_REFUSED = Answer(
    "not one of the room's moderators or owners (nor an operator); a direct conversation"
    " or support thread the caller is not in",
    ERROR,
)
_NOT_HERE = Answer(
    "the lobby, a direct conversation or a support thread: none take commands or webhooks",
    ERROR,
)
_SIGNING = (
    " The receiver is sent a JSON POST with X-Chat-Timestamp and X-Chat-Signature:"
    " sha256=<hex HMAC-SHA256 of '<timestamp>.<body>' keyed with the Secret>, which is"
    " shown once, here. The URL's address is checked when it is called (private ones"
    " refused unless listed in CHAT_WEBHOOK_HOSTS). The registration answers as a bot of"
    " its own, one of the caller's bots (CHAT_MAX_BOTS_PER_USER), which joins the room."
    " The audit log records it."
)


def _registering(made: Schema, conflict: str) -> dict[int, Answer | None]:
    return {
        201: Answer("registered: its id and secret (shown once)", made),
        400: INVALID,
        403: _REFUSED,
        404: Answer("no such room", ERROR),
        409: Answer(f"{conflict}; or the caller has the most bots", ERROR),
    }


def _deleting(what: str, id_name: str) -> dict[str, Any]:
    """The description of a DELETE of a registration."""
    return {
        "summary": f"Delete a room's {what} and its bot (moderators and owners)",
        "description": "Its bot's messages stay, under its name. The audit log records it.",
        "path": {**_ROOM, id_name: STRING},
        "token": Token.REQUIRED,
        "answers": {
            204: Answer("deleted"),
            400: INVALID,
            403: _REFUSED,
            404: Answer(f"no such room, or no such {what} in it", ERROR),
            409: _NOT_HERE,
        },
    }


def _created_by(registration: RoomCommand) -> dict[str, Any] | None:
    if registration.created_by is None or registration.creator_name is None:
        return None
    return shapes.person(registration.created_by, registration.creator_name)


def _managed(registration: RoomCommand) -> dict[str, Any]:
    return {
        "URL": registration.url,
        "BotUID": registration.bot_id,
        "BotName": registration.bot_name,
        "CreatedBy": _created_by(registration),
        "CreatedAt": shapes.timestamp(datetime.fromtimestamp(registration.created_at, UTC)),
    }


def command_routes(service: ChatService) -> Blueprint:
    routes = Blueprint("room_commands", __name__)

    @routes.post("/room/<room_id>/commands")
    @describe(
        "Register a slash command in a room (moderators and owners)",
        description=(
            "A message whose text starts with the command (over /ws or POST /messages) is"
            " then not posted: it is sent to the URL, and the answer ({'Text',"
            " 'Ephemeral'?}) posted as the command's bot or shown to the caller alone."
            " Command: '/' and 1-32 of a-z, 0-9, '_', '-'; not a built-in's name; unique in"
            f" the room; at most {rc.MAX_COMMANDS_PER_ROOM} per room." + _SIGNING
        ),
        path=_ROOM,
        body=body_fields({"Command": STRING, "URL": STRING}, {"Description": STRING}),
        example={"Command": "/deploy", "URL": "https://ci.example/chat", "Description": "ship it"},
        token=Token.REQUIRED,
        answers=_registering(
            _MADE_COMMAND, "the room has the command, or the most commands, or takes none"
        ),
    )
    async def register_command(room_id: str) -> Any:
        return await _register(room_id, "command", "CommandID")

    @routes.get("/room/<room_id>/commands")
    @describe(
        "A room's slash commands (members: names and descriptions)",
        description=(
            "Oldest first, never a secret. Its moderators and owners (and operators) also"
            " see each one's URL, bot and creator; its other members what the composer"
            " offers: the name and description."
        ),
        path=_ROOM,
        token=Token.REQUIRED,
        answers={
            200: Answer("the commands", {"type": "array", "items": _COMMAND}),
            400: INVALID,
            403: Answer("not a member of the room", ERROR),
            404: Answer("no such room", ERROR),
        },
    )
    async def list_commands(room_id: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        room = await service.member_room(identity, room_number)
        managing = permits(room, Action.COMMANDS, await service.moderation.rank(identity, room))
        return [
            {
                "CommandID": registered.command_id,
                "Command": registered.command,
                "Description": registered.description,
                **(_managed(registered) if managing else {}),
            }
            for registered in await service.commands.registry.commands_of(room.id)
        ]

    @routes.delete("/room/<room_id>/commands/<command_id>")
    @describe(**_deleting("slash command", "command_id"))
    async def delete_command(room_id: str, command_id: str) -> Any:
        return await _delete(room_id, "command", command_id)

    @routes.post("/room/<room_id>/outgoing-webhooks")
    @describe(
        "Register an outgoing webhook: trigger words (moderators and owners)",
        description=(
            "A message posted in the room holding one of the words (a whole word, any case)"
            " is posted as usual and also sent to the URL, with TriggerWord and MessageID;"
            " an answer's Text is posted as the webhook's bot. Once per message in a"
            f" cluster. TriggerWords: 1-{rc.MAX_TRIGGER_WORDS} words of 1-32 letters,"
            f" digits, '_' or '-'; at most {rc.MAX_TRIGGER_HOOKS_PER_ROOM} per room." + _SIGNING
        ),
        path=_ROOM,
        body=body_fields({"TriggerWords": {"type": "array", "items": STRING}, "URL": STRING}),
        example={"TriggerWords": ["deploy"], "URL": "https://ci.example/chat"},
        token=Token.REQUIRED,
        answers=_registering(_MADE_HOOK, "the room has the most outgoing webhooks, or takes none"),
    )
    async def register_hook(room_id: str) -> Any:
        return await _register(room_id, "trigger", "WebhookID")

    @routes.get("/room/<room_id>/outgoing-webhooks")
    @describe(
        "A room's outgoing webhooks (moderators and owners)",
        description="Oldest first, never a secret.",
        path=_ROOM,
        token=Token.REQUIRED,
        answers={
            200: Answer("the outgoing webhooks", {"type": "array", "items": _HOOK}),
            400: INVALID,
            403: _REFUSED,
            404: Answer("no such room", ERROR),
            409: _NOT_HERE,
        },
    )
    async def list_hooks(room_id: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        return [
            {
                "WebhookID": hook.command_id,
                "TriggerWords": list(hook.trigger_words),
                **_managed(hook),
            }
            for hook in await service.commands.registry.listed(identity, room_number, "trigger")
        ]

    @routes.delete("/room/<room_id>/outgoing-webhooks/<webhook_id>")
    @describe(**_deleting("outgoing webhook", "webhook_id"))
    async def delete_hook(room_id: str, webhook_id: str) -> Any:
        return await _delete(room_id, "trigger", webhook_id)

    async def _register(room_id: str, kind: str, id_field: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        body = await json_object(request)
        made, secret = await service.commands.registry.register(identity, room_number, kind, body)
        return {id_field: made.command_id, "Secret": secret}, 201

    async def _delete(room_id: str, kind: str, registration_id: str) -> Any:
        identity: Identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        await service.commands.registry.delete(identity, room_number, kind, registration_id[:64])
        return "", 204

    return routes
