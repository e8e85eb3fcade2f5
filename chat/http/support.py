"""``POST /v1/auth/``: the support service's token endpoint (spec 001, section 5).

Its answers are the spec's, not the rest of the API's: 200 with a JSON-RPC-style body
when the credentials match, 403 with an empty body when a well-formed request names
credentials that do not match, 404 with an empty body for anything else (not JSON, not
an object, a field missing or not a string). An account with two-factor authentication on
also sends ``"code"`` (a TOTP or a recovery code); without it, or with a wrong one, the
answer is 401 ``{"error", "NeedsCode": true}``, which the spec has no answer for.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from chat.app.service import ChatService
from chat.core import validation
from chat.core.client_address import ClientAddresses
from chat.core.errors import CodeNeeded, InvalidCredentials, InvalidInput
from chat.core.two_factor import optional_code
from chat.http.bodies import parse_json_object, raw_body
from chat.http.identity import caller_address
from chat.http.openapi import (
    ID,
    SECOND_FACTOR,
    STRING,
    Answer,
    body_fields,
    describe,
    exact_object,
)


def _empty(status: int) -> Response:
    return Response(b"", status=status)


def support_routes(service: ChatService, addresses: ClientAddresses) -> Blueprint:
    routes = Blueprint("support", __name__)

    @routes.post("/v1/auth/")
    @routes.post("/v1/auth", endpoint="auth_without_slash")
    @describe(
        "The support service's token endpoint (spec 001), with that spec's answers",
        body=body_fields({"user_name": STRING, "password": STRING}, {"code": SECOND_FACTOR}),
        example={"user_name": "alice", "password": "wonderland"},
        answers={
            200: Answer(
                "logged in (5.1.1.2); id is the user's id",
                exact_object(
                    {
                        "error": {"type": "null"},
                        "result": exact_object({"token": STRING}),
                        "id": ID,
                    }
                ),
            ),
            401: Answer(
                "the password is right, but the account's second factor (code) is missing,"
                " wrong or used already",
                exact_object({"error": STRING, "NeedsCode": {"const": True}}),
            ),
            403: Answer("well-formed, but the credentials do not match (5.1.1.1): empty body"),
            404: Answer(
                "anything else (5.1.1.3): not JSON, not an object, a field missing or not a"
                " string, a body too large; empty body"
            ),
            413: None,  # a body too large is a 404 here, like any other bad body
        },
    )
    async def auth() -> Any:
        try:
            body = parse_json_object(await raw_body(request))
            name = validation.require_str(body, "user_name")
            password = validation.require_str(body, "password")
            code = optional_code(body, "code")
        except (InvalidInput, RequestEntityTooLarge):
            return _empty(404)  # 5.1.1.3: anything but the expected object
        try:
            address = caller_address(request, addresses)
            user = await service.login(name, password, address=address, code=code)
        except CodeNeeded as error:
            return jsonify({"error": str(error), "NeedsCode": True}), 401
        except (InvalidCredentials, InvalidInput):
            # 5.1.1.1: well-formed, but no such user/password. (A name or password that
            # could never be valid, too long say, cannot match either.)
            return _empty(403)
        # 5.1.1.2
        return {"error": None, "result": {"token": service.issue_token(user)}, "id": user.id}

    return routes
