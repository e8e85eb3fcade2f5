"""A user's status: ``PUT /me/status`` {"Emoji", "Text", "Until", "Presence"} sets the
caller's (`chat.core.statuses` checks it), ``DELETE /me/status`` clears it; profiles
carry it as ``Status`` (chat/http/profiles.py) and a ``status`` frame tells everyone
(`chat.app.people.statuses`)."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from chat.app.people.statuses import CHANGES_LIMIT, Statuses, now_utc
from chat.app.service import ChatService
from chat.core.statuses import (
    MAX_STATUS_AHEAD,
    MAX_STATUS_TEXT_CHARS,
    PRESENCES,
    status_from_fields,
    status_json,
)
from chat.http.bodies import json_object
from chat.http.identity import require_identity
from chat.http.openapi import (
    ERROR,
    INVALID,
    STATUS,
    Answer,
    Token,
    body_fields,
    describe,
    exact_object,
)

#: Setting and clearing count together (`chat.app.people.statuses.CHANGES_LIMIT`).
TOO_MANY = Answer(f"more than {CHANGES_LIMIT.text} changes", ERROR, retry_after=True)


def status_routes(service: ChatService, statuses: Statuses) -> Blueprint:
    routes = Blueprint("statuses", __name__)

    @routes.put("/me/status")
    @describe(
        "Set the caller's status",
        description=(
            "Emoji: one emoji or a :shortcode: the server knows (stored as the emoji),"
            f' "" or null for none. Text: at most {MAX_STATUS_TEXT_CHARS} characters, no'
            " control characters. Until: an ISO time with its offset, in the future and at"
            f" most {MAX_STATUS_AHEAD.days} days ahead, when the status clears itself"
            " (null or absent: until cleared). Presence: auto (as presence says), away, or"
            " dnd (do not disturb: no Web Push, no desktop notifications until it ends)."
            ' Everyone gets a {"Type": "status"} frame, on every instance.'
        ),
        body=body_fields(
            {},
            {
                "Emoji": {"type": ["string", "null"]},
                "Text": {"type": ["string", "null"], "maxLength": MAX_STATUS_TEXT_CHARS},
                "Until": {"type": ["string", "null"]},
                "Presence": {"enum": list(PRESENCES)},
            },
        ),
        example={"Emoji": ":palm_tree:", "Text": "On holiday", "Presence": "away"},
        token=Token.REQUIRED,
        answers={
            200: Answer("set: the status as stored", STATUS),
            400: INVALID,
            429: TOO_MANY,
        },
    )
    async def set_status() -> Any:
        identity = await require_identity(service, request)
        body = await json_object(request)
        status = await statuses.set(identity, status_from_fields(body, now_utc()))
        return status_json(status)

    @routes.delete("/me/status")
    @describe(
        "Clear the caller's status",
        token=Token.REQUIRED,
        answers={
            200: Answer('cleared: {"Status": null}', exact_object({"Status": {"type": "null"}})),
            429: TOO_MANY,
        },
    )
    async def clear_status() -> Any:
        identity = await require_identity(service, request)
        await statuses.clear(identity)
        return {"Status": None}

    return routes
