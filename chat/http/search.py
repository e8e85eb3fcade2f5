"""Searching messages: ``GET /search?q=...`` -> 200 [message + Snippet, ...],
newest first. What a query means and who finds what: `chat.app.messages.search`."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from chat.app.messages.search import DEFAULT_RESULTS, MAX_RESULTS
from chat.app.service import ChatService
from chat.core import shapes, validation
from chat.core.search_terms import MAX_QUERY_CHARS, MIN_INDEXED_CHARS
from chat.http.identity import require_identity
from chat.http.openapi import (
    ERROR,
    FORBIDDEN,
    ID,
    INVALID,
    MESSAGE,
    NOT_FOUND,
    STRING,
    Answer,
    Token,
    describe,
)

#: A result: a message as history items show it, and where it matched.
_RESULT = {
    **MESSAGE,
    "required": [*MESSAGE["required"], "Snippet"],
    "properties": {
        **MESSAGE["properties"],
        "Snippet": {"type": "array", "items": STRING, "minItems": 1},
    },
}


def search_routes(service: ChatService) -> Blueprint:
    routes = Blueprint("search", __name__)

    @routes.get("/search")
    @describe(
        "Messages you may read that contain every word and phrase of q, newest first",
        description=(
            'Words are separated by spaces; "double quotes" make a phrase. Each must'
            " appear in the message as a case-insensitive substring, in any script; no"
            " other character means anything (no operators, no wildcards). At least one"
            f" word or phrase needs {MIN_INDEXED_CHARS} characters or more. Searched: the"
            " lobby, your rooms, your direct conversations and your support thread"
            " (operators: every support thread); never a deleted message, and an edited"
            " one by its present text. Snippet: alternately plain text and a match,"
            " starting with plain text; show each entry as text, the odd ones marked."
            " The next page: before = the last result's MessageID."
        ),
        query={
            "q": {**STRING, "minLength": 1, "maxLength": MAX_QUERY_CHARS},
            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_RESULTS},
            "before": ID,
            "room": ID,
            "from": STRING,
        },
        token=Token.REQUIRED,
        answers={
            200: Answer("the messages found", {"type": "array", "items": _RESULT}),
            400: INVALID,
            403: FORBIDDEN,
            404: NOT_FOUND,
            422: Answer(
                "the search took longer than the database's time limit for one (2 s) and"
                " was stopped: ask for longer or rarer words, one room or one sender",
                ERROR,
            ),
            429: Answer(
                "too many searches (CHAT_RATE_SEARCHES), or two of yours under way already",
                ERROR,
                retry_after=True,
            ),
            503: Answer(
                "too many searches waiting for a turn, or the database is unavailable",
                ERROR,
                retry_after=True,
            ),
        },
    )
    async def search() -> Any:
        identity = await require_identity(service, request)
        args = request.args
        limit = _number(args.get("limit"), "limit")
        found = await service.search.search(
            identity,
            args.get("q"),
            room_id=_id(args.get("room"), "room"),
            sender_name=args.get("from"),
            before_id=_id(args.get("before"), "before"),
            limit=DEFAULT_RESULTS if limit is None else limit,
        )
        return [{**shapes.room_message(item.message), "Snippet": item.snippet} for item in found]

    return routes


def _number(value: str | None, what: str) -> int | None:
    return None if value is None else validation.query_number(value, what)


def _id(value: str | None, what: str) -> int | None:
    return None if value is None else validation.path_id(value, what)
