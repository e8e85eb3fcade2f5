"""Profiles (spec 004): ``GET /profile``, ``GET /profile/{UID}``, ``PUT /change-name``."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from chat.app.service import ChatService
from chat.core import shapes, validation
from chat.http.bodies import json_object
from chat.http.identity import require_identity
from chat.http.openapi import (
    ERROR,
    ID,
    INVALID,
    NOT_FOUND,
    PROFILE,
    PUBLIC_PROFILE,
    Answer,
    Token,
    body_fields,
    describe,
)


def profile_routes(service: ChatService) -> Blueprint:
    routes = Blueprint("profiles", __name__)

    @routes.get("/profile")
    @describe(
        "The caller's own profile",
        token=Token.REQUIRED,
        answers={200: Answer("the caller's profile", PROFILE)},
    )
    async def own_profile() -> Any:
        identity = await require_identity(service, request)
        return shapes.profile(await service.user(identity.user_id))

    @routes.get("/profile/<uid>")
    @describe(
        "A user's public profile (no e-mail address)",
        path={"uid": ID},
        answers={200: Answer("the profile", PUBLIC_PROFILE), 400: INVALID, 404: NOT_FOUND},
    )
    async def public_profile(uid: str) -> Any:
        user = await service.user(validation.path_id(uid, "UID"))
        return shapes.public_profile(user)

    @routes.put("/change-name")
    @describe(
        "Change the caller's user name",
        body=body_fields({"NewName": {"type": "string"}}),
        example={"NewName": "alice"},
        token=Token.REQUIRED,
        answers={
            200: Answer("renamed: the new profile", PROFILE),
            400: INVALID,
            404: NOT_FOUND,
            409: Answer("the name is taken (a look-alike name too)", ERROR),
        },
    )
    async def change_name() -> Any:
        identity = await require_identity(service, request)
        body = await json_object(request)
        user = await service.rename(identity, validation.require_str(body, "NewName"))
        return shapes.profile(user)

    return routes
