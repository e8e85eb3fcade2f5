"""Profiles (spec 004): ``GET /profile``, ``GET /profile/{UID}`` (with the user's status in
force, `chat.app.people.statuses`), ``PUT /change-name``; and
what the account screen sets: ``PUT /profile`` {"DisplayName"} (`ChatService.set_display_name`),
``PUT /profile/avatar`` (the image as the body) and ``DELETE /profile/avatar``
(`chat.app.people.avatars`), served at ``GET /avatars/{UID}/{key}``."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, request

from chat.app.people.avatars import AVATAR_EDGE, MAX_AVATAR_BYTES, Avatars
from chat.app.people.statuses import Statuses
from chat.app.service import ChatService
from chat.core import shapes, validation
from chat.core.errors import InvalidInput
from chat.core.names import MAX_DISPLAY_NAME_CHARS
from chat.core.statuses import status_json
from chat.http.bodies import json_object
from chat.http.files import body_chunks
from chat.http.identity import require_identity
from chat.http.openapi import (
    ERROR,
    ID,
    INVALID,
    NOT_FOUND,
    PROFILE,
    PUBLIC_PROFILE,
    STRING,
    Answer,
    Token,
    body_fields,
    describe,
)

#: How long a browser may keep an avatar: its address changes with it.
AVATAR_CACHE = "public, max-age=31536000, immutable"


def image_answer(data: bytes, content_type: str) -> Response:
    """An image this server made (an avatar, a link preview's thumbnail), at an address
    that names its content: cached for good, never run as a document, never sniffed."""
    headers = {
        "Content-Type": content_type,
        "Cache-Control": AVATAR_CACHE,
        "Content-Security-Policy": "sandbox",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(data, 200, headers)


def profile_routes(service: ChatService, avatars: Avatars, statuses: Statuses) -> Blueprint:
    routes = Blueprint("profiles", __name__)

    @routes.get("/profile")
    @describe(
        "The caller's own profile",
        token=Token.REQUIRED,
        answers={200: Answer("the caller's profile", PROFILE)},
    )
    async def own_profile() -> Any:
        identity = await require_identity(service, request)
        user = await service.user(identity.user_id)
        return shapes.profile(user) | {"Status": status_json(await statuses.status_of(user.id))}

    @routes.get("/profile/<uid>")
    @describe(
        "A user's public profile (no e-mail address)",
        path={"uid": ID},
        answers={200: Answer("the profile", PUBLIC_PROFILE), 400: INVALID, 404: NOT_FOUND},
    )
    async def public_profile(uid: str) -> Any:
        user = await service.user(validation.path_id(uid, "UID"))
        status = status_json(await statuses.status_of(user.id))
        return shapes.public_profile(user) | {"Status": status}

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

    @routes.put("/profile")
    @describe(
        "Set the caller's display name (shown on messages beside the login name)",
        description=(
            f"At most {MAX_DISPLAY_NAME_CHARS} characters, checked as user names are"
            " (PRECIS, no look-alike of a reserved name); refused with 409 if it is, or"
            ' looks like, another user\'s login name or display name. "" or null'
            " clears it. Messages carry it as DisplayName from then on, history included."
        ),
        body=body_fields({"DisplayName": {"type": ["string", "null"]}}),
        example={"DisplayName": "Alice Liddell"},
        token=Token.REQUIRED,
        answers={
            200: Answer("set: the caller's profile", PROFILE),
            400: INVALID,
            409: Answer("too like another user's name", ERROR),
        },
    )
    async def set_profile() -> Any:
        identity = await require_identity(service, request)
        body = await json_object(request)
        if "DisplayName" not in body:
            raise InvalidInput('DisplayName is required (null or "" clears it)')
        value = body["DisplayName"]
        if value is not None and not isinstance(value, str):
            raise InvalidInput("DisplayName must be a string or null")
        return shapes.profile(await service.set_display_name(identity, value))

    @routes.put("/profile/avatar")
    @describe(
        "Set the caller's avatar: the image is the body",
        description=(
            f"A PNG, JPEG, GIF or WebP image of at most {MAX_AVATAR_BYTES} bytes (the raw"
            " body, or a multipart/form-data body with one part named 'file'); its type"
            f" is read from its bytes. Its middle is cropped to a {AVATAR_EDGE} px square,"
            " without metadata: the profile's AvatarURL."
        ),
        token=Token.REQUIRED,
        answers={
            200: Answer("set: the caller's profile", PROFILE),
            400: Answer("not an image this server reads", ERROR),
            413: Answer("too large", ERROR),
            429: Answer("too many uploads (CHAT_RATE_UPLOADS)", ERROR, retry_after=True),
        },
    )
    async def set_avatar() -> Any:
        identity = await require_identity(service, request)
        avatars.check_upload(identity, request.content_length)
        user = await avatars.upload(
            identity,
            body_chunks(request),
            content_type=request.headers.get("Content-Type", ""),
        )
        return shapes.profile(user)

    @routes.delete("/profile/avatar")
    @describe(
        "Remove the caller's avatar",
        token=Token.REQUIRED,
        answers={200: Answer("removed: the caller's profile", PROFILE)},
    )
    async def remove_avatar() -> Any:
        identity = await require_identity(service, request)
        return shapes.profile(await avatars.remove(identity))

    @routes.get("/avatars/<uid>/<key>")
    @describe(
        "A user's avatar (a profile's AvatarURL)",
        path={"uid": ID, "key": STRING},
        answers={
            200: Answer(f"the image, {AVATAR_EDGE} px square"),
            400: INVALID,
            404: Answer("no such avatar (or not the user's avatar now)", ERROR),
        },
    )
    async def avatar(uid: str, key: str) -> Any:
        data, content_type = await avatars.read(validation.path_id(uid, "UID"), key)
        return image_answer(data, content_type)

    return routes
