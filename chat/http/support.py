"""``POST /v1/auth/``: the support service's token endpoint (spec 001, section 5).

Its answers are the spec's, not the rest of the API's: 200 with a JSON-RPC-style body
when the credentials match, 403 with an empty body when a well-formed request names
credentials that do not match, 404 with an empty body for anything else (not JSON, not
an object, a field missing or not a string).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from chat.app.service import ChatService
from chat.core import validation
from chat.core.client_address import ClientAddresses
from chat.core.errors import InvalidCredentials, InvalidInput
from chat.http.bodies import parse_json_object, raw_body
from chat.http.identity import caller_address
from chat.http.openapi import ID, STRING, Answer, describe, exact_object, string_fields


def _empty(status: int) -> Response:
    return Response(b"", status=status)


def support_routes(service: ChatService, addresses: ClientAddresses) -> Blueprint:
    routes = Blueprint("support", __name__)

    @routes.post("/v1/auth/")
    @routes.post("/v1/auth", endpoint="auth_without_slash")
    @describe(
        "The support service's token endpoint (spec 001), with that spec's answers",
        body=string_fields("user_name", "password"),
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
        except (InvalidInput, RequestEntityTooLarge):
            return _empty(404)  # 5.1.1.3: anything but the expected object
        try:
            user = await service.login(name, password, address=caller_address(request, addresses))
        except (InvalidCredentials, InvalidInput):
            # 5.1.1.1: well-formed, but no such user/password. (A name or password that
            # could never be valid, too long say, cannot match either.)
            return _empty(403)
        # 5.1.1.2
        return {"error": None, "result": {"token": service.issue_token(user)}, "id": user.id}

    return routes
