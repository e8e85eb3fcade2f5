"""Two-factor authentication over HTTP (`chat.app.accounts.two_factor` decides):

- ``GET /me/2fa``          -> 200 {"Enabled", "Pending", "RecoveryCodesLeft", "Required"}
- ``POST /me/2fa``         -> 200 {"Secret", "URI", "QR"}: an enrolment begins (not yet in
  force): the secret, its ``otpauth://`` URI and that URI as a QR code (an SVG ``data:``
  URI); 409 if it is on already
- ``POST /me/2fa/confirm`` {"Code"} -> 200 {"RecoveryCodes": [ten]}: on, from now on; the
  recovery codes are shown this once; 401 with ``"NeedsCode": true`` for a wrong code
- ``DELETE /me/2fa``       {"Password", "Code"} -> 204: off; the password and a code (or
  a recovery code) are checked as a login's, under its limits

They take a login's token (a personal access token gets 403), and they serve a person
without a second factor on a server that requires one (``CHAT_REQUIRE_2FA``), who may do
nothing else until they enrol.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from chat.app.accounts.auth import bearer_token
from chat.app.accounts.two_factor import CODE_MISSING, CODE_WRONG
from chat.app.service import ChatService
from chat.core import validation
from chat.core.api_tokens import require_write
from chat.core.client_address import ClientAddresses
from chat.core.errors import CodeNeeded, InvalidCredentials, NotAuthenticated
from chat.core.records import Identity
from chat.core.two_factor import RECOVERY_CODES, checked_code
from chat.http.bodies import json_object
from chat.http.identity import caller_address
from chat.http.openapi import (
    BOOLEAN,
    CREDENTIALS_ERROR,
    ERROR,
    INVALID,
    SECOND_FACTOR,
    STRING,
    Answer,
    Token,
    body_fields,
    describe,
    exact_object,
)

_STATE = exact_object(
    {
        "Enabled": BOOLEAN,
        "Pending": BOOLEAN,
        "RecoveryCodesLeft": {"type": "integer", "minimum": 0, "maximum": RECOVERY_CODES},
        "Required": BOOLEAN,
    }
)
_ENROLMENT = exact_object({"Secret": STRING, "URI": STRING, "QR": STRING})
_CODES = exact_object(
    {
        "RecoveryCodes": {
            "type": "array",
            "items": STRING,
            "minItems": RECOVERY_CODES,
            "maxItems": RECOVERY_CODES,
        }
    }
)
_NO_TOKEN = Answer("no token, or a bad one", ERROR)
_BY_TOKEN = Answer("asked with a personal access token (a login changes this)", ERROR)


def two_factor_routes(service: ChatService, addresses: ClientAddresses) -> Blueprint:
    routes = Blueprint("two_factor", __name__)

    async def caller() -> Identity:
        """The caller, by a token, even without the second factor a server may require:
        these routes are how they get one."""
        token = bearer_token(request.headers.get("Authorization"))
        if token is None:
            raise NotAuthenticated(
                "missing token: send it in the Authorization header (raw or as 'Bearer <token>')"
            )
        identity = await service.identify(token, enrolling=True)
        if request.method != "GET":
            require_write(identity)
        return identity

    @routes.get("/me/2fa")
    @describe(
        "Whether the caller has two-factor authentication on",
        token=Token.REQUIRED,
        answers={
            200: Answer(
                "on or off, an enrolment begun and not confirmed (Pending), the unused"
                " recovery codes, and whether the server requires it",
                _STATE,
            ),
            401: _NO_TOKEN,
        },
    )
    async def state() -> Any:
        identity = await caller()
        found = await service.two_factor.state(identity.user_id)
        return {
            "Enabled": found is not None and found.enabled,
            "Pending": found is not None and not found.enabled,
            "RecoveryCodesLeft": found.recovery_codes_left if found else 0,
            "Required": service.two_factor.required,
        }

    @routes.post("/me/2fa")
    @describe(
        "Begin turning two-factor authentication (TOTP) on",
        description=(
            "A new secret (RFC 6238: SHA-1, 6 digits, 30 s), not yet in force: scan the QR"
            " code (or type the secret) into an authenticator app, then confirm with a"
            " code it shows (POST /me/2fa/confirm). Asking again replaces an enrolment not"
            " yet confirmed."
        ),
        token=Token.REQUIRED,
        answers={
            200: Answer("the secret, its otpauth:// URI, and that URI as a QR code", _ENROLMENT),
            401: _NO_TOKEN,
            403: _BY_TOKEN,
            409: Answer("two-factor authentication is on already", ERROR),
        },
    )
    async def start() -> Any:
        identity = await caller()
        user = await service.user(identity.user_id)
        secret, uri, qr = await service.two_factor.start(identity, user)
        return {"Secret": secret, "URI": uri, "QR": qr}

    @routes.post("/me/2fa/confirm")
    @describe(
        "Turn two-factor authentication on with a first code",
        description=(
            "From now on every password login of the account needs a code too. The ten"
            " recovery codes are shown this once; each works once in a code's place."
        ),
        body=body_fields({"Code": SECOND_FACTOR}),
        token=Token.REQUIRED,
        answers={
            200: Answer("on: the recovery codes, shown this once", _CODES),
            400: INVALID,
            401: Answer("no token, or a wrong code (NeedsCode)", CREDENTIALS_ERROR),
            403: _BY_TOKEN,
            404: Answer("no enrolment was begun (POST /me/2fa first)", ERROR),
            409: Answer("on already, or the enrolment was replaced meanwhile", ERROR),
        },
    )
    async def confirm() -> Any:
        identity = await caller()
        body = await json_object(request)
        try:
            codes = await service.two_factor.confirm(identity, body.get("Code"))
        except InvalidCredentials:
            raise CodeNeeded(CODE_WRONG) from None
        return {"RecoveryCodes": codes}

    @routes.delete("/me/2fa")
    @describe(
        "Turn two-factor authentication off; needs the password and a code",
        body=body_fields({"Password": STRING, "Code": SECOND_FACTOR}),
        token=Token.REQUIRED,
        answers={
            204: Answer("off: logins need the password alone"),
            400: INVALID,
            401: Answer(
                "no token, a wrong password, or a wrong code (NeedsCode)", CREDENTIALS_ERROR
            ),
            403: _BY_TOKEN,
            404: Answer("two-factor authentication is not on", ERROR),
            429: Answer("too many attempts (the login limits)", ERROR, retry_after=True),
        },
    )
    async def disable() -> Any:
        identity = await caller()
        body = await json_object(request)
        password = validation.require_str(body, "Password")
        if body.get("Code") in (None, ""):
            raise CodeNeeded(CODE_MISSING)
        code = checked_code(body.get("Code"))
        await service.confirm_password(
            identity, password, address=caller_address(request, addresses), code=code
        )
        await service.two_factor.disable(identity)
        return "", 204

    return routes
