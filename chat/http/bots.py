"""Bot accounts over HTTP (`chat.app.accounts.bots` decides):

- ``POST /bots`` {"Name", "DisplayName"?} -> 201 bot; 409 past the most a user may have
- ``GET /bots``                  -> 200 [bot, ...]: the caller's (an operator: everyone's)
- ``DELETE /bots/{UID}``         -> 204; 404 for no bot of the caller's

A bot's tokens are made with ``POST /tokens`` and its ``UID`` (chat/http/api_tokens.py).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from chat.app.service import ChatService
from chat.core import shapes, validation
from chat.core.records import Identity, User
from chat.http.bodies import json_object
from chat.http.identity import require_identity
from chat.http.openapi import (
    ERROR,
    ID,
    INVALID,
    STRING,
    TIMESTAMP,
    Answer,
    Token,
    body_fields,
    describe,
    exact_object,
)

BOT = exact_object(
    {
        "UID": ID,
        "Name": STRING,
        "DisplayName": {"type": ["string", "null"]},
        "OwnerUID": ID,
        "CreatedAt": TIMESTAMP,
    }
)


def bot_shape(bot: User) -> dict[str, Any]:
    return {
        "UID": bot.id,
        "Name": bot.name,
        "DisplayName": bot.display_name,
        "OwnerUID": bot.owner_id,
        "CreatedAt": shapes.timestamp(bot.created_at),
    }


def bot_routes(service: ChatService) -> Blueprint:
    routes = Blueprint("bots", __name__)

    @routes.post("/bots")
    @describe(
        "Make a bot account",
        description=(
            "A user of kind bot, the caller's: its name follows a person's rules (unique,"
            " no look-alike of anyone's); clients show it with a BOT badge ('Bot': true"
            " on its messages). It never logs in with a password: make it tokens with"
            " POST /tokens and its UID, and add it to rooms as anyone. At most"
            " CHAT_MAX_BOTS_PER_USER per user (409)."
        ),
        body=body_fields({"Name": STRING}, {"DisplayName": STRING}),
        example={"Name": "deploybot", "DisplayName": "Deploys"},
        token=Token.REQUIRED,
        answers={
            201: Answer("the bot", BOT),
            400: INVALID,
            403: Answer("a bot makes no bots", ERROR),
            409: Answer("the name is taken, or the caller has the most bots", ERROR),
        },
    )
    async def make_bot() -> Any:
        identity = await require_identity(service, request)
        body = await json_object(request)
        bot = await service.bots.create(identity, body.get("Name"))
        display_name = body.get("DisplayName")
        if display_name is not None:
            as_bot = Identity(bot.id, bot.name, False, bot.token_version)
            bot = await service.set_display_name(as_bot, display_name)
        return bot_shape(bot), 201

    @routes.get("/bots")
    @describe(
        "The caller's bots (an operator: everyone's)",
        token=Token.REQUIRED,
        answers={200: Answer("the bots, oldest first", {"type": "array", "items": BOT})},
    )
    async def list_bots() -> Any:
        identity = await require_identity(service, request)
        return [bot_shape(bot) for bot in await service.bots.bots(identity)]

    @routes.delete("/bots/<uid>")
    @describe(
        "Delete a bot",
        description=(
            "Its messages stay, under its name, which stays taken; its tokens and room"
            " memberships go, and its connections close on every instance. An operator"
            " may delete anyone's."
        ),
        path={"uid": ID},
        token=Token.REQUIRED,
        answers={
            204: Answer("deleted"),
            404: Answer("no bot of the caller's with this UID", ERROR),
        },
    )
    async def delete_bot(uid: str) -> Any:
        identity = await require_identity(service, request)
        await service.bots.delete(identity, validation.path_id(uid, "UID"))
        return "", 204

    return routes
