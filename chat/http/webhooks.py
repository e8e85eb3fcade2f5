"""A room's incoming webhooks over HTTP (`chat.app.rooms.webhooks` decides):

- ``POST /room/{roomID}/webhooks`` {"Name"} -> 201 {"WebhookID", "URL"}, the URL shown once
- ``GET /room/{roomID}/webhooks`` -> 200 [webhook, ...], oldest first, never a secret
- ``DELETE /room/{roomID}/webhooks/{WebhookID}`` -> 204 (its bot deleted too)
- ``POST /room/{roomID}/webhooks/{WebhookID}/rotate`` -> 200 {"WebhookID", "URL"}: a new
  secret; the old URL answers 404 at once
- ``POST /hooks/{WebhookID}/{secret}`` (no other credentials): Slack's body (JSON, or a
  form with a ``payload`` field) or {"Text"} (Markdown) -> 200 ``ok`` (text/plain), one
  message posted as the webhook's bot; 404 for a wrong secret or an unknown webhook alike

The secret is in the path only: the access log redacts every ``/hooks/`` path
(`chat.core.incoming_webhooks.redacted_path`), and no error names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from quart import Blueprint, Response, request

from chat.app.service import ChatService
from chat.core import incoming_webhooks as hooks
from chat.core import shapes, slack_markup, validation
from chat.core.config import Config
from chat.core.errors import InvalidInput
from chat.core.incoming_webhooks import IncomingWebhook
from chat.http.bodies import json_object, parse_json_object, raw_body
from chat.http.identity import require_identity
from chat.http.openapi import (
    ERROR,
    ID,
    INVALID,
    PERSON,
    STRING,
    TIMESTAMP,
    Answer,
    Token,
    body_fields,
    describe,
    exact_object,
)

_WEBHOOK_ID: dict[str, Any] = {"type": "string", "pattern": "^[0-9a-f]{16}$"}
_MADE = exact_object({"WebhookID": STRING, "URL": STRING})
_WEBHOOK = exact_object(
    {
        "WebhookID": STRING,
        "Name": STRING,
        "BotUID": ID,
        "BotName": STRING,
        "CreatedBy": {"anyOf": [PERSON, {"type": "null"}]},
        "CreatedAt": TIMESTAMP,
    }
)
_NOT_MODERATOR = Answer(
    "not one of the room's moderators or owners (nor an operator), or (a direct"
    " conversation, a support thread) not a member",
    ERROR,
)
_NO_ROOM = Answer("no such room", ERROR)
_NO_WEBHOOK = Answer("no such room, or no such webhook of it", ERROR)
_NOT_A_GROUP = Answer("the room is the lobby, a direct conversation or a support thread", ERROR)
_FORM = "application/x-www-form-urlencoded"
_SLACK_BODY = body_fields(
    {},
    {
        "text": STRING,
        "username": STRING,
        "icon_url": STRING,
        "attachments": {"type": "array", "items": {"type": "object"}},
        "blocks": {"type": "array", "items": {"type": "object"}},
        "Text": STRING,
    },
)


def webhook_shape(webhook: IncomingWebhook) -> dict[str, Any]:
    creator = webhook.created_by
    return {
        "WebhookID": webhook.webhook_id,
        "Name": webhook.name,
        "BotUID": webhook.bot_id,
        "BotName": webhook.bot_name,
        "CreatedBy": (
            None
            if creator is None or webhook.creator_name is None
            else shapes.person(creator, webhook.creator_name)
        ),
        "CreatedAt": shapes.timestamp(datetime.fromtimestamp(webhook.created_at, UTC)),
    }


def webhook_routes(service: ChatService, config: Config) -> Blueprint:
    routes = Blueprint("webhooks", __name__)

    def url(webhook_id: str, secret: str) -> str:
        """The webhook's absolute address: under CHAT_PUBLIC_URL, else the request's."""
        root = (config.public_url or request.host_url).rstrip("/")
        return root + hooks.path(webhook_id, secret)

    @routes.post("/room/<room_id>/webhooks")
    @describe(
        "Make an incoming webhook for a room (its moderators and owners, and operators)",
        description=(
            "The URL is the webhook's secret address (/hooks/{WebhookID}/{secret}), shown"
            " this once: only its secret's SHA-256 is kept. A POST to it posts a message in"
            " the room as the webhook's bot, a bot account owned by the caller (it counts"
            " against CHAT_MAX_BOTS_PER_USER), named after the webhook (Name + '-hook',"
            " made unique), shown by Name, and a member of the room. At most"
            f" {hooks.MAX_PER_ROOM} per room (409). Group rooms only (409). Audited"
            " (webhook-create)."
        ),
        path={"room_id": ID},
        body=body_fields({"Name": {**STRING, "maxLength": hooks.MAX_NAME_CHARS}}),
        example={"Name": "CI builds"},
        token=Token.REQUIRED,
        answers={
            201: Answer("the webhook's id and secret address", _MADE),
            400: INVALID,
            403: _NOT_MODERATOR,
            404: _NO_ROOM,
            409: Answer(
                f"the room has {hooks.MAX_PER_ROOM} webhooks, or the caller has the most"
                " bots, or the room is not a group room",
                ERROR,
            ),
        },
    )
    async def make_webhook(room_id: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        body = await json_object(request)
        webhook, secret = await service.webhooks.create(identity, room_number, body.get("Name"))
        return {"WebhookID": webhook.webhook_id, "URL": url(webhook.webhook_id, secret)}, 201

    @routes.get("/room/<room_id>/webhooks")
    @describe(
        "A room's incoming webhooks, oldest first, without their secrets",
        path={"room_id": ID},
        token=Token.REQUIRED,
        answers={
            200: Answer("the webhooks", {"type": "array", "items": _WEBHOOK}),
            400: INVALID,
            403: _NOT_MODERATOR,
            404: _NO_ROOM,
            409: _NOT_A_GROUP,
        },
    )
    async def list_webhooks(room_id: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        return [webhook_shape(w) for w in await service.webhooks.webhooks(identity, room_number)]

    @routes.delete("/room/<room_id>/webhooks/<webhook_id>")
    @describe(
        "Delete an incoming webhook",
        description=(
            "Its address answers 404 from now on, on every instance; its bot is deleted"
            " (its messages stay, under its name). Audited (webhook-delete)."
        ),
        path={"room_id": ID, "webhook_id": _WEBHOOK_ID},
        token=Token.REQUIRED,
        answers={
            204: Answer("deleted"),
            400: INVALID,
            403: _NOT_MODERATOR,
            404: _NO_WEBHOOK,
            409: _NOT_A_GROUP,
        },
    )
    async def delete_webhook(room_id: str, webhook_id: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        await service.webhooks.delete(identity, room_number, webhook_id)
        return "", 204

    @routes.post("/room/<room_id>/webhooks/<webhook_id>/rotate")
    @describe(
        "Give an incoming webhook a new secret address",
        description=(
            "The new URL is shown this once; the old one answers 404 at once, on every"
            " instance. Audited (webhook-rotate)."
        ),
        path={"room_id": ID, "webhook_id": _WEBHOOK_ID},
        body_required=False,
        token=Token.REQUIRED,
        answers={
            200: Answer("the webhook's id and new secret address", _MADE),
            400: INVALID,
            403: _NOT_MODERATOR,
            404: _NO_WEBHOOK,
            409: _NOT_A_GROUP,
        },
    )
    async def rotate_webhook(room_id: str, webhook_id: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        secret = await service.webhooks.rotate(identity, room_number, webhook_id)
        return {"WebhookID": webhook_id, "URL": url(webhook_id, secret)}

    @routes.post("/hooks/<webhook_id>/<secret>")
    @describe(
        "Post a message through an incoming webhook (its address is its credential)",
        description=(
            "Slack's incoming-webhook body, as JSON or as a form whose payload field holds"
            " it: text (Slack's mrkdwn), attachments (pretext, title, title_link, text,"
            " fields of title and value; fallback when nothing else), blocks (section,"
            " context, header, divider); with blocks, text is their fallback only. Slack's"
            " markup becomes Markdown: <url|label> a link, *bold* **bold**, _italic_,"
            " ~strike~ ~~strike~~, &amp; &lt; &gt; their characters; a Slack mention"
            " (<@U1>, <!channel>) is shown as code, never a mention here. username,"
            " icon_url, icon_emoji and color are ignored: the bot's name shows. Or"
            ' {"Text"}: this server\'s Markdown, as is. One message is posted in the'
            " webhook's room as its bot, under every rule of a message: longer than"
            " CHAT_MAX_TEXT is refused (400), never cut. 404 alike for an unknown"
            " webhook and a wrong secret. At most CHAT_RATE_INCOMING_WEBHOOKS per webhook (429)."
            f" Bodies of at most {hooks.MAX_BODY_BYTES} bytes (413)."
        ),
        path={"webhook_id": STRING, "secret": STRING},
        body=_SLACK_BODY,
        example={"text": "Build *1432* passed: <https://ci.example.com/1432|details>"},
        answers={
            200: Answer("posted: the body is ok (text/plain)", media=("text/plain",)),
            400: INVALID,
            403: Answer("the webhook's bot is not in the room (removed) or is muted", ERROR),
            404: Answer("no such webhook, or not its secret", ERROR),
            429: Answer(
                "too many posts to this webhook (CHAT_RATE_INCOMING_WEBHOOKS), or messages by its"
                " bot (CHAT_RATE_MESSAGES)",
                ERROR,
                retry_after=True,
            ),
        },
    )
    async def post_to_webhook(webhook_id: str, secret: str) -> Any:
        raw = await raw_body(request)
        webhook = await service.webhooks.authenticated(webhook_id, secret)
        text = _message_text(_payload(raw, request.mimetype))
        await service.webhooks.post(webhook, text)
        return Response("ok", status=200, content_type="text/plain; charset=utf-8")

    return routes


def _payload(raw: bytes, mimetype: str) -> Mapping[str, Any]:
    """The body's JSON object: the body itself, or a form's ``payload`` field (Slack
    takes both)."""
    if mimetype != _FORM:
        return parse_json_object(raw)
    try:
        fields = parse_qs(raw.decode("utf-8"), strict_parsing=False, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput("the form is not valid (UTF-8, at most 20 fields)") from None
    payload = fields.get("payload")
    if not payload:
        raise InvalidInput("a form body needs a payload field holding the JSON body")
    return parse_json_object(payload[0].encode("utf-8"))


def _message_text(body: Mapping[str, Any]) -> str:
    """The message's Markdown: {"Text"} as it is, else Slack's body translated."""
    if "Text" in body:
        return validation.require_str(body, "Text")
    return slack_markup.message_text(body)
