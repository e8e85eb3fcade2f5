"""Profiles (spec 004): ``GET /profile``, ``GET /profile/{UID}``, ``PUT /change-name``."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from .. import shapes, validation
from ..service import ChatService
from .bodies import json_object
from .identity import require_identity


def profile_routes(service: ChatService) -> Blueprint:
    routes = Blueprint("profiles", __name__)

    @routes.get("/profile")
    async def own_profile() -> Any:
        identity = await require_identity(service, request)
        return shapes.profile(await service.user(identity.user_id))

    @routes.get("/profile/<uid>")
    async def public_profile(uid: str) -> Any:
        user = await service.user(validation.path_id(uid, "UID"))
        return shapes.public_profile(user)

    @routes.put("/change-name")
    async def change_name() -> Any:
        identity = await require_identity(service, request)
        body = await json_object(request)
        user = await service.rename(identity, validation.require_str(body, "NewName"))
        return shapes.profile(user)

    return routes
