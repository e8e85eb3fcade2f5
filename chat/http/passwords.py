"""Changing the password.

- ``PUT /password``          {"OldPassword", "NewPassword", "Code"?} -> 200 {"token"}

With two-factor authentication on, it needs a code too (401 with ``"NeedsCode": true``
without one): a stolen session alone must not take the account over.

It needs the caller's token (Authorization header) and revokes every token the account
was issued before, the one in use included, as ``POST /logout-everywhere`` does
(chat/http/sessions.py): from then on those are refused (401 "token has been revoked"),
the WebSocket sessions they opened, on every instance, are closed with 1008 within
seconds (`chat.app.accounts.revocations`), and every browser session ends
(`chat.app.accounts.sessions`). A password
change answers with a new token, so the caller stays logged in. Field names follow spec
004's style (``PUT /change-name``).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from chat.app.service import ChatService
from chat.core import validation
from chat.core.client_address import ClientAddresses
from chat.core.two_factor import optional_code
from chat.http.bodies import json_object
from chat.http.identity import caller_address, require_identity
from chat.http.openapi import (
    CREDENTIALS_ERROR,
    INVALID,
    SECOND_FACTOR,
    STRING,
    TOKEN,
    Answer,
    Token,
    body_fields,
    describe,
)


def password_routes(service: ChatService, addresses: ClientAddresses) -> Blueprint:
    routes = Blueprint("passwords", __name__)

    @routes.put("/password")
    @describe(
        "Change the password; revokes every token issued before",
        body=body_fields({"OldPassword": STRING, "NewPassword": STRING}, {"Code": SECOND_FACTOR}),
        token=Token.REQUIRED,
        answers={
            200: Answer("changed: a new token, so the caller stays logged in", TOKEN),
            400: INVALID,
            401: Answer(
                "the token is bad, or the old password or the second factor is wrong (nothing"
                " changes); NeedsCode: the account's code is missing, wrong or used already",
                CREDENTIALS_ERROR,
            ),
        },
    )
    async def change_password() -> Any:
        identity = await require_identity(service, request)
        body = await json_object(request)
        old_password = validation.require_str(body, "OldPassword")
        new_password = validation.require_str(body, "NewPassword")
        user = await service.change_password(
            identity,
            old_password,
            new_password,
            address=caller_address(request, addresses),
            code=optional_code(body, "Code"),
        )
        return {"token": service.issue_token(user)}

    return routes
