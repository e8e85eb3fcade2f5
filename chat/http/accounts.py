"""Accounts: registration and login, in the shapes of specs 000, 002, 003 and 004.

- ``POST /auth``      {"name", "password", "code"?}      -> 200 {"token"}             (000)
- ``POST /api/reg``   {"username", "password"}           -> 201 {"token"}             (002)
- ``POST /api/login`` {"username", "password", "code"?}  -> 200 {"token"}             (002)
- ``POST /signup``    {"email", "name", "password"}      -> 201 {"id", "name", "email"} (003)
- ``POST /login``     {"email", "password", "code"?}     -> 200 {"id", "token"}       (003)
- ``POST /register``  {"Username", "Email", "Password"}  -> 201 {"UID"}               (004)
- ``PUT /login``      {"Email", "Password", "Code"?}     -> 200 {"token"}             (004)

All of them are one account model: a user registered through any route logs in
through every other (the e-mail routes need an account with an e-mail address). Every
registration route takes an invite code, ``"invite"`` (``"Invite"`` in spec 004's), and
obeys the registration policy (`chat.app.accounts.invites`): 403 when it refuses. A
login of an account with two-factor authentication on also needs its code (``code``
or ``Code``, in the route's case): without it, or with a wrong one, the answer is 401
with ``"NeedsCode": true`` and no token (`chat.app.accounts.two_factor`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quart import Blueprint, request

from chat.app.service import ChatService
from chat.core import validation
from chat.core.client_address import ClientAddresses
from chat.core.errors import InvalidInput
from chat.core.invites import MAX_CODE_CHARS
from chat.core.two_factor import optional_code
from chat.http.bodies import json_object
from chat.http.identity import caller_address
from chat.http.openapi import (
    ERROR,
    ID,
    INVALID,
    SECOND_FACTOR,
    STRING,
    TOKEN,
    WRONG_CREDENTIALS,
    Answer,
    Schema,
    body_fields,
    describe,
    exact_object,
    string_fields,
)

_TAKEN = Answer("the name or the e-mail address is taken (a look-alike name too)", ERROR)
_LOGGED_IN = Answer("logged in: a token for the Authorization header", TOKEN)
_REGISTERED = Answer("registered; the token is ready to use", TOKEN)
_REFUSED = Answer(
    "the registration policy refuses it: registration is closed, needs an invite code,"
    " the code is not valid or has no use left, or the e-mail domain is not allowed",
    ERROR,
)


def _with_invite(schema: dict[str, Any], field: str) -> dict[str, Any]:
    """`schema` (an object's) with the optional invite code `field`."""
    code = {**STRING, "maxLength": MAX_CODE_CHARS}
    return {**schema, "properties": {**schema["properties"], field: code}}


def _code(body: Mapping[str, Any], field: str) -> str | None:
    """The invite code in `field` (None: absent, null or "")."""
    code = body.get(field)
    if code is None or code == "":
        return None
    if not isinstance(code, str) or len(code) > MAX_CODE_CHARS:
        raise InvalidInput(f'field "{field}" must be an invite code (a string)')
    return code


def _login_body(*names: str, code: str) -> Schema:
    """A login's body: these text fields, and the optional second factor `code`."""
    return body_fields(dict.fromkeys(names, STRING), {code: SECOND_FACTOR})


def accounts_routes(service: ChatService, addresses: ClientAddresses) -> Blueprint:
    routes = Blueprint("accounts", __name__)

    def caller() -> str:
        return caller_address(request, addresses)

    async def fields(*names: str) -> list[str]:
        body = await json_object(request)
        return [validation.require_str(body, name) for name in names]

    async def login_fields(*names: str, code: str) -> tuple[list[str], str | None]:
        """The login's fields, and its second factor (`code`: the field's name)."""
        body = await json_object(request)
        return [validation.require_str(body, name) for name in names], optional_code(body, code)

    async def registration(invite: str, *names: str) -> tuple[list[str], str | None]:
        """The required string fields `names`, and the optional invite code `invite`."""
        body = await json_object(request)
        return [validation.require_str(body, name) for name in names], _code(body, invite)

    @routes.post("/auth")
    @describe(
        "Log in by name (spec 000)",
        body=_login_body("name", "password", code="code"),
        example={"name": "alice", "password": "wonderland"},
        answers={200: _LOGGED_IN, 400: INVALID, 401: WRONG_CREDENTIALS},
    )
    async def auth() -> Any:
        (name, password), code = await login_fields("name", "password", code="code")
        user = await service.login(name, password, address=caller(), code=code)
        return {"token": service.issue_token(user)}

    @routes.post("/api/reg")
    @describe(
        "Register (spec 002)",
        body=_with_invite(string_fields("username", "password"), "invite"),
        example={"username": "hello", "password": "wide world"},
        answers={201: _REGISTERED, 400: INVALID, 403: _REFUSED, 409: _TAKEN},
    )
    async def api_register() -> Any:
        (name, password), invite = await registration("invite", "username", "password")
        user = await service.register(name, password, address=caller(), invite=invite)
        return {"token": service.issue_token(user)}, 201

    @routes.post("/api/login")
    @describe(
        "Log in by name (spec 002)",
        body=_login_body("username", "password", code="code"),
        example={"username": "alice", "password": "wonderland"},
        answers={200: _LOGGED_IN, 400: INVALID, 401: WRONG_CREDENTIALS},
    )
    async def api_login() -> Any:
        (name, password), code = await login_fields("username", "password", code="code")
        user = await service.login(name, password, address=caller(), code=code)
        return {"token": service.issue_token(user)}

    @routes.post("/signup")
    @describe(
        "Sign up with an e-mail address (spec 003)",
        body=_with_invite(string_fields("email", "name", "password"), "invite"),
        example={"email": "bob@example.com", "name": "bob", "password": "wonderland"},
        answers={
            201: Answer(
                "signed up (log in for a token)",
                exact_object({"id": ID, "name": STRING, "email": STRING}),
            ),
            400: INVALID,
            403: _REFUSED,
            409: _TAKEN,
        },
    )
    async def signup() -> Any:
        (email, name, password), invite = await registration("invite", "email", "name", "password")
        user = await service.register(name, password, email=email, address=caller(), invite=invite)
        return {"id": user.id, "name": user.name, "email": user.email}, 201

    @routes.post("/login")
    @describe(
        "Log in with an e-mail address (spec 003)",
        body=_login_body("email", "password", code="code"),
        example={"email": "alice@example.com", "password": "wonderland"},
        answers={
            200: Answer(
                "logged in: the user's id and a token", exact_object({"id": ID, "token": STRING})
            ),
            400: INVALID,
            401: WRONG_CREDENTIALS,
        },
    )
    async def login_by_email() -> Any:
        (email, password), code = await login_fields("email", "password", code="code")
        user = await service.login_by_email(email, password, address=caller(), code=code)
        return {"id": user.id, "token": service.issue_token(user)}

    @routes.post("/register")
    @describe(
        "Register with a name and an e-mail address (spec 004)",
        body=_with_invite(string_fields("Username", "Email", "Password"), "Invite"),
        example={"Username": "carol", "Email": "carol@example.com", "Password": "wonderland"},
        answers={
            201: Answer("registered (log in for a token)", exact_object({"UID": ID})),
            400: INVALID,
            403: _REFUSED,
            409: _TAKEN,
        },
    )
    async def register() -> Any:
        (name, email, password), invite = await registration(
            "Invite", "Username", "Email", "Password"
        )
        user = await service.register(name, password, email=email, address=caller(), invite=invite)
        return {"UID": user.id}, 201

    @routes.put("/login")
    @describe(
        "Log in with an e-mail address (spec 004)",
        body=_login_body("Email", "Password", code="Code"),
        example={"Email": "alice@example.com", "Password": "wonderland"},
        answers={200: _LOGGED_IN, 400: INVALID, 401: WRONG_CREDENTIALS},
    )
    async def put_login() -> Any:
        (email, password), code = await login_fields("Email", "Password", code="Code")
        user = await service.login_by_email(email, password, address=caller(), code=code)
        return {"token": service.issue_token(user)}

    return routes
