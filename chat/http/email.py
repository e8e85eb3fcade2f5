"""E-mail routes (`chat.app.email.accounts`):

- ``GET /me/email``                  -> 200 {"Email", "Verified", "Digest", "MailEnabled"}
- ``PUT /me/email``   {"Email"}      -> 202: a verification link is mailed to it
- ``PUT /me/email/digest`` {"Digest"} -> 200 the state, as GET answers
- ``POST /email/verify`` {"Token"}   -> 200 {"Email"}: the link's address is verified
- ``POST /password-reset`` {"Email"} -> 202, whether or not the address is known
- ``POST /password-reset/{token}`` {"Password"} -> 200 {"Username"}: set once

Without ``CHAT_SMTP_URL`` the routes that mail answer 503. Links are built from
``CHAT_PUBLIC_URL``, else from the request's own origin (its Host is one of the
server's names: `chat.core.host_names`).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from chat.app.email.accounts import EmailAccounts
from chat.app.service import ChatService
from chat.core import validation
from chat.core.client_address import ClientAddresses
from chat.core.config import Config
from chat.core.errors import InvalidInput
from chat.http.bodies import json_object
from chat.http.identity import caller_address, require_identity
from chat.http.openapi import (
    BOOLEAN,
    ERROR,
    INVALID,
    STRING,
    Answer,
    Token,
    body_fields,
    describe,
    exact_object,
    string_fields,
)

_STATE = exact_object(
    {
        "Email": {"type": ["string", "null"]},
        "Verified": BOOLEAN,
        "Digest": BOOLEAN,
        "MailEnabled": BOOLEAN,
    }
)
_NO_MAIL = Answer("this server sends no e-mail (CHAT_SMTP_URL is unset)", ERROR, retry_after=True)
_BAD_LINK = Answer("the link is unknown, used, replaced or expired", ERROR)


def email_routes(
    service: ChatService, email: EmailAccounts, addresses: ClientAddresses, config: Config
) -> Blueprint:
    routes = Blueprint("email", __name__)

    def base_url() -> str:
        return config.public_url or request.host_url

    @routes.get("/me/email")
    @describe(
        "The caller's e-mail address, whether it is verified, and the digest switch",
        token=Token.REQUIRED,
        answers={200: Answer("the state", _STATE)},
    )
    async def email_state() -> Any:
        identity = await require_identity(service, request)
        return await email.state(identity)

    @routes.put("/me/email")
    @describe(
        "Mail a verification link to an address; following it makes it the caller's",
        description="The current address stays until the link is followed. A new link "
        "replaces the one mailed before; it works once, for a day.",
        body=string_fields("Email"),
        token=Token.REQUIRED,
        answers={
            202: Answer("the link is on its way", exact_object({"Email": STRING})),
            400: INVALID,
            409: Answer("another account has this address", ERROR),
            503: _NO_MAIL,
        },
    )
    async def set_email() -> Any:
        identity = await require_identity(service, request)
        body = await json_object(request)
        address = validation.require_str(body, "Email")
        await email.request_verification(
            identity, address, base_url=base_url(), address=caller_address(request, addresses)
        )
        return {"Email": validation.email(address)}, 202

    @routes.put("/me/email/digest")
    @describe(
        "Turn the digests of missed mentions and direct messages on or off",
        body=body_fields({"Digest": BOOLEAN}),
        token=Token.REQUIRED,
        answers={200: Answer("the state", _STATE), 400: INVALID},
    )
    async def set_digest() -> Any:
        identity = await require_identity(service, request)
        body = await json_object(request)
        on = body.get("Digest")
        if not isinstance(on, bool):
            raise InvalidInput("Digest must be true or false")
        await email.set_digest(identity, on)
        return await email.state(identity)

    @routes.post("/email/verify")
    @describe(
        "Verify an address with the token its link carried",
        description="The link opens the client (the token in its fragment, which no "
        "server and no mail scanner's fetch sees); pressing Confirm posts the token.",
        body=string_fields("Token"),
        answers={
            200: Answer("verified", exact_object({"Email": STRING})),
            400: INVALID,
            404: _BAD_LINK,
            409: Answer("another account took this address meanwhile", ERROR),
        },
    )
    async def verify_email() -> Any:
        body = await json_object(request)
        return {"Email": await email.verify(validation.require_str(body, "Token"))}

    @routes.post("/password-reset")
    @describe(
        "Mail a password-reset link to a verified address",
        description="Answers 202 whether or not an account has this verified address, "
        "so that nobody learns which addresses are known.",
        body=string_fields("Email"),
        answers={202: Answer("accepted", exact_object({})), 400: INVALID, 503: _NO_MAIL},
    )
    async def request_reset() -> Any:
        body = await json_object(request)
        address = validation.require_str(body, "Email")
        await email.request_reset(
            address, base_url=base_url(), address=caller_address(request, addresses)
        )
        return {}, 202

    @routes.post("/password-reset/<token>")
    @describe(
        "Set a new password with a reset link's token; ends every session of the user's",
        body=string_fields("Password"),
        answers={
            200: Answer("changed: log in with it", exact_object({"Username": STRING})),
            400: INVALID,
            404: _BAD_LINK,
        },
    )
    async def reset_password(token: str) -> Any:
        body = await json_object(request)
        password = validation.require_str(body, "Password")
        name = await email.reset_password(
            token, password, address=caller_address(request, addresses)
        )
        return {"Username": name}

    return routes
