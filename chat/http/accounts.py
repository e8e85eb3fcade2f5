"""Accounts: registration and login, in the shapes of specs 000, 002, 003 and 004.

- ``POST /auth``      {"name", "password"}               -> 200 {"token"}             (000)
- ``POST /api/reg``   {"username", "password"}           -> 201 {"token"}             (002)
- ``POST /api/login`` {"username", "password"}           -> 200 {"token"}             (002)
- ``POST /signup``    {"email", "name", "password"}      -> 201 {"id", "name", "email"} (003)
- ``POST /login``     {"email", "password"}              -> 200 {"id", "token"}       (003)
- ``POST /register``  {"Username", "Email", "Password"}  -> 201 {"UID"}               (004)
- ``PUT /login``      {"Email", "Password"}              -> 200 {"token"}             (004)

All of them are one account model: a user registered through any route logs in
through every other (the e-mail routes need an account with an e-mail address).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from chat.app.service import ChatService
from chat.core import validation
from chat.core.client_address import ClientAddresses
from chat.http.bodies import json_object
from chat.http.identity import caller_address
from chat.http.openapi import (
    ERROR,
    ID,
    INVALID,
    STRING,
    TOKEN,
    WRONG_CREDENTIALS,
    Answer,
    describe,
    exact_object,
    string_fields,
)

_TAKEN = Answer("the name or the e-mail address is taken (a look-alike name too)", ERROR)
_LOGGED_IN = Answer("logged in: a token for the Authorization header", TOKEN)
_REGISTERED = Answer("registered; the token is ready to use", TOKEN)


def accounts_routes(service: ChatService, addresses: ClientAddresses) -> Blueprint:
    routes = Blueprint("accounts", __name__)

    def caller() -> str:
        return caller_address(request, addresses)

    async def fields(*names: str) -> list[str]:
        body = await json_object(request)
        return [validation.require_str(body, name) for name in names]

    @routes.post("/auth")
    @describe(
        "Log in by name (spec 000)",
        body=string_fields("name", "password"),
        example={"name": "alice", "password": "wonderland"},
        answers={200: _LOGGED_IN, 400: INVALID, 401: WRONG_CREDENTIALS},
    )
    async def auth() -> Any:
        name, password = await fields("name", "password")
        user = await service.login(name, password, address=caller())
        return {"token": service.issue_token(user)}

    @routes.post("/api/reg")
    @describe(
        "Register (spec 002)",
        body=string_fields("username", "password"),
        example={"username": "hello", "password": "wide world"},
        answers={201: _REGISTERED, 400: INVALID, 409: _TAKEN},
    )
    async def api_register() -> Any:
        name, password = await fields("username", "password")
        user = await service.register(name, password, address=caller())
        return {"token": service.issue_token(user)}, 201

    @routes.post("/api/login")
    @describe(
        "Log in by name (spec 002)",
        body=string_fields("username", "password"),
        example={"username": "alice", "password": "wonderland"},
        answers={200: _LOGGED_IN, 400: INVALID, 401: WRONG_CREDENTIALS},
    )
    async def api_login() -> Any:
        name, password = await fields("username", "password")
        user = await service.login(name, password, address=caller())
        return {"token": service.issue_token(user)}

    @routes.post("/signup")
    @describe(
        "Sign up with an e-mail address (spec 003)",
        body=string_fields("email", "name", "password"),
        example={"email": "bob@example.com", "name": "bob", "password": "wonderland"},
        answers={
            201: Answer(
                "signed up (log in for a token)",
                exact_object({"id": ID, "name": STRING, "email": STRING}),
            ),
            400: INVALID,
            409: _TAKEN,
        },
    )
    async def signup() -> Any:
        email, name, password = await fields("email", "name", "password")
        user = await service.register(name, password, email=email, address=caller())
        return {"id": user.id, "name": user.name, "email": user.email}, 201

    @routes.post("/login")
    @describe(
        "Log in with an e-mail address (spec 003)",
        body=string_fields("email", "password"),
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
        email, password = await fields("email", "password")
        user = await service.login_by_email(email, password, address=caller())
        return {"id": user.id, "token": service.issue_token(user)}

    @routes.post("/register")
    @describe(
        "Register with a name and an e-mail address (spec 004)",
        body=string_fields("Username", "Email", "Password"),
        example={"Username": "carol", "Email": "carol@example.com", "Password": "wonderland"},
        answers={
            201: Answer("registered (log in for a token)", exact_object({"UID": ID})),
            400: INVALID,
            409: _TAKEN,
        },
    )
    async def register() -> Any:
        name, email, password = await fields("Username", "Email", "Password")
        user = await service.register(name, password, email=email, address=caller())
        return {"UID": user.id}, 201

    @routes.put("/login")
    @describe(
        "Log in with an e-mail address (spec 004)",
        body=string_fields("Email", "Password"),
        example={"Email": "alice@example.com", "Password": "wonderland"},
        answers={200: _LOGGED_IN, 400: INVALID, 401: WRONG_CREDENTIALS},
    )
    async def put_login() -> Any:
        email, password = await fields("Email", "Password")
        user = await service.login_by_email(email, password, address=caller())
        return {"token": service.issue_token(user)}

    return routes
