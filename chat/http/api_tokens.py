"""Personal access tokens over HTTP (`chat.app.accounts.api_tokens` decides):

- ``POST /tokens`` {"Name", "Scopes", "ExpiresAt"?} -> 201 {"TokenID", "Token", ...}: the
  token, shown this once; 403 when asked with a token (a login makes tokens)
- ``GET /tokens``                -> 200 [token, ...] without secrets, the newest first
- ``DELETE /tokens/{tokenID}``   -> 204; 404 for no token of the caller's
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from quart import Blueprint, request

from chat.app.service import ChatService
from chat.core import shapes, validation
from chat.core.api_tokens import MAX_NAME_CHARS, MAX_TOKENS_PER_USER, SCOPES, ApiToken
from chat.core.errors import InvalidInput
from chat.http.bodies import json_object
from chat.http.identity import require_identity
from chat.http.openapi import (
    ERROR,
    FORBIDDEN,
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

_SCOPES = {"type": "array", "items": {**STRING, "enum": list(SCOPES)}, "minItems": 1}
_NULLABLE_TIME = {"type": ["string", "null"]}
_FIELDS = {
    "TokenID": STRING,
    "UID": ID,
    "Name": STRING,
    "Scopes": _SCOPES,
    "CreatedAt": TIMESTAMP,
    "ExpiresAt": _NULLABLE_TIME,
}
LISTED_TOKEN = exact_object(_FIELDS)
MADE_TOKEN = exact_object({**_FIELDS, "Token": STRING})
_SCOPES_SAID = (
    "read: read only (anything that sends or changes is refused, 403, and so is such a"
    " /ws frame); write: send and change too; admin: an operator's powers, worth nothing"
    " to a user who is not one."
)


def token_shape(token: ApiToken) -> dict[str, Any]:
    def moment(seconds: int | None) -> str | None:
        return None if seconds is None else shapes.timestamp(datetime.fromtimestamp(seconds, UTC))

    return {
        "TokenID": token.token_id,
        "UID": token.user_id,
        "Name": token.name,
        "Scopes": sorted(token.scopes, key=SCOPES.index),
        "CreatedAt": moment(token.created_at),
        "ExpiresAt": moment(token.expires_at),
    }


def expires_at_of(body: Any) -> datetime | None:
    text = body.get("ExpiresAt")
    if text is None:
        return None
    said = (
        'field "ExpiresAt" must be an ISO 8601 time with its zone, such as "2027-01-31T00:00:00Z"'
    )
    if not isinstance(text, str) or len(text) > 40:
        raise InvalidInput(said)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(said) from None
    if moment.tzinfo is None:
        raise InvalidInput(said)
    return moment


def api_token_routes(service: ChatService) -> Blueprint:
    routes = Blueprint("api_tokens", __name__)

    @routes.post("/tokens")
    @describe(
        "Make a personal access token",
        description=(
            "A token for scripts and bots: send it as `Authorization: Bearer <Token>` on"
            " HTTP and on /ws. It is shown in this answer only (the server keeps its"
            " SHA-256), acts as the caller with its Scopes until ExpiresAt (none: until"
            " revoked), and outlives password changes: revoke it with DELETE"
            f" /tokens/{{tokenID}}. {_SCOPES_SAID} Made with a login, not with another"
            f" token (403). At most {MAX_TOKENS_PER_USER} per user (409). With UID, the"
            " token is for a bot of the caller's (POST /bots) and acts as the bot."
        ),
        body=body_fields(
            {"Name": {**STRING, "maxLength": MAX_NAME_CHARS}, "Scopes": _SCOPES},
            {"ExpiresAt": _NULLABLE_TIME, "UID": ID},
        ),
        example={"Name": "CI notices", "Scopes": ["read", "write"]},
        token=Token.REQUIRED,
        answers={
            201: Answer("the token, with its secret: shown this once", MADE_TOKEN),
            400: INVALID,
            403: FORBIDDEN,
            409: Answer(f"the caller holds {MAX_TOKENS_PER_USER} tokens already", ERROR),
        },
    )
    async def make_token() -> Any:
        identity = await require_identity(service, request)
        body = await json_object(request)
        uid = body.get("UID")
        if uid is not None:
            uid = validation.require_id(body, "UID")
        record, token = await service.api_tokens.create(
            identity,
            body.get("Name"),
            body.get("Scopes"),
            expires_at=expires_at_of(body),
            for_user=uid,
        )
        return {**token_shape(record), "Token": token}, 201

    @routes.get("/tokens")
    @describe(
        "The caller's personal access tokens",
        description=(
            "The caller's and their bots' (UID says whose), the newest first, expired"
            " ones too; never their secrets."
        ),
        token=Token.REQUIRED,
        answers={200: Answer("the tokens", {"type": "array", "items": LISTED_TOKEN})},
    )
    async def list_tokens() -> Any:
        identity = await require_identity(service, request)
        return [token_shape(token) for token in await service.api_tokens.tokens(identity)]

    @routes.delete("/tokens/<token_id>")
    @describe(
        "Revoke a personal access token",
        description=(
            "At once, on every instance: requests with it are refused (401), and the"
            ' WebSockets it opened are closed (1008, "token has been revoked").'
        ),
        path={"token_id": {**STRING, "maxLength": 64}},
        token=Token.REQUIRED,
        answers={
            204: Answer("revoked"),
            404: Answer("no token of the caller's with this id", ERROR),
        },
    )
    async def revoke_token(token_id: str) -> Any:
        identity = await require_identity(service, request)
        await service.api_tokens.revoke(identity, token_id[:64])
        return "", 204

    return routes
