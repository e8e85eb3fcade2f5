"""Web Push over HTTP: the key browsers subscribe with, and registering them.

- ``GET /push/key``                                          -> 200 {"publicKey"}
- ``POST /push/subscriptions`` {"endpoint", "keys": {"p256dh", "auth"}} -> 201
- ``DELETE /push/subscriptions`` {"endpoint"}                -> 204 (404 if not the caller's)
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from chat.app.service import ChatService
from chat.core.errors import NotFound
from chat.http.bodies import json_object
from chat.http.identity import require_identity
from chat.http.openapi import (
    ERROR,
    INVALID,
    STRING,
    Answer,
    Token,
    body_fields,
    describe,
    exact_object,
)

_KEYS = body_fields({"p256dh": STRING, "auth": STRING})
_SUBSCRIPTION = exact_object({"endpoint": STRING})
_EXAMPLE_ENDPOINT = "https://fcm.googleapis.com/fcm/send/abc123"


def push_routes(service: ChatService) -> Blueprint:
    routes = Blueprint("push", __name__)

    @routes.get("/push/key")
    @describe(
        "The server's VAPID public key, for PushManager.subscribe's applicationServerKey",
        description=(
            "base64url of the P-256 public key (65 bytes, uncompressed) that every push"
            " from this server (any instance) is signed with (RFC 8292)."
        ),
        answers={200: Answer("the key", exact_object({"publicKey": STRING}))},
    )
    async def push_key() -> Any:
        return {"publicKey": service.push.public_key}

    @routes.post("/push/subscriptions")
    @describe(
        "Register the caller's browser for Web Push",
        description=(
            "The body is the browser's PushSubscription.toJSON(). While the caller has no"
            " WebSocket open on any instance, each message their level asks for is pushed"
            " to it, encrypted (RFC 8291): sender, room, the first 100 characters. The"
            " endpoint must be https:// on a push service CHAT_PUSH_HOSTS names; p256dh a"
            " P-256 public key (65 bytes), auth 16 bytes, both base64url. A user keeps at"
            " most 10 browsers: one more replaces their oldest. Registering an endpoint"
            " again replaces it (and moves it to the caller)."
        ),
        body=body_fields({"endpoint": STRING, "keys": _KEYS}),
        example={
            "endpoint": _EXAMPLE_ENDPOINT,
            "keys": {
                "p256dh": (
                    "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1Xbjha"
                    "zAkj7I99e8QcYP7DkM"
                ),
                "auth": "tBHItJI5svbpez7KI4CCXg",
            },
        },
        token=Token.REQUIRED,
        answers={201: Answer("registered", _SUBSCRIPTION), 400: INVALID},
    )
    async def subscribe() -> Any:
        identity = await require_identity(service, request)
        body = await json_object(request)
        new = await service.push.subscribe(identity, body)
        return {"endpoint": new.endpoint}, 201

    @routes.delete("/push/subscriptions")
    @describe(
        "Stop pushing to one of the caller's browsers",
        body=body_fields({"endpoint": STRING}),
        example={"endpoint": _EXAMPLE_ENDPOINT},
        token=Token.REQUIRED,
        answers={
            204: Answer("removed"),
            400: INVALID,
            404: Answer("the caller has no subscription with this endpoint", ERROR),
        },
    )
    async def unsubscribe() -> Any:
        identity = await require_identity(service, request)
        body = await json_object(request)
        if not await service.push.unsubscribe(identity, body):
            raise NotFound("you have no push subscription with this endpoint")
        return "", 204

    return routes
