"""The OpenAPI 3.1 description of the HTTP API (``GET /openapi.json``), built from the routes.

Each view function carries its own description (`describe`, next to the route it
documents). `openapi_document` walks the app's URL map and refuses a route without one,
so the document lists exactly what the app serves: a new route must be described before
``/openapi.json`` (and tests/test_openapi.py) work again. Descriptions only document:
requests are still parsed by `chat.http.bodies` and `chat.core.validation`, whose error texts
clients rely on. ``GET /docs`` (chat/http/client.py) shows the document as a page, under
the client's Content-Security-Policy.

What every route may answer is added here, once, not repeated on each route: 400 (a Host
that is not one of the server's names), 429 (too many connections from the address, or a
rate limit), 500 (a bug), 503 (the database is away, or the server is stopping); 408 and
413 where the route reads a body; 401 where it reads a token.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

from quart import Blueprint, Quart, current_app

from chat import __version__
from chat.app.messages.mentions import MAX_MENTIONS
from chat.core.names import MAX_DISPLAY_NAME_CHARS
from chat.core.records import MAX_THREAD_PARTICIPANTS
from chat.core.statuses import MAX_STATUS_TEXT_CHARS, PRESENCES
from chat.core.validation import MAX_FILES_PER_MESSAGE, MAX_ID

Schema = dict[str, Any]
View = TypeVar("View", bound=Callable[..., Any])

# --- Schemas of what the routes send and answer ----------------------------------------------

STRING: Schema = {"type": "string"}
BOOLEAN: Schema = {"type": "boolean"}
ID: Schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
#: An id, or 0 for "from the start" (a page's `last_id`, a member list's `after`).
ID_OR_ZERO: Schema = {**ID, "minimum": 0}
TIMESTAMP: Schema = {"type": "string", "format": "date-time"}


def body_fields(
    required: Mapping[str, Schema], optional: Mapping[str, Schema] | None = None
) -> Schema:
    """A request body: these fields (other fields are ignored, so they are allowed)."""
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": list(required),
    }


def exact_object(
    required: Mapping[str, Schema], optional: Mapping[str, Schema] | None = None
) -> Schema:
    """An object with these fields and no others (the server's answers are exact)."""
    return {**body_fields(required, optional), "additionalProperties": False}


def string_fields(*names: str) -> Schema:
    """A request body of these text fields, all required."""
    return body_fields(dict.fromkeys(names, STRING))


ERROR = exact_object({"error": STRING})
TOKEN = exact_object({"token": STRING})
_NULLABLE_STRING: Schema = {"type": ["string", "null"]}
_PROFILE_FIELDS: Schema = {
    "UID": ID,
    "Username": STRING,
    "DisplayName": {**_NULLABLE_STRING, "maxLength": MAX_DISPLAY_NAME_CHARS},
    "AvatarURL": _NULLABLE_STRING,
}
#: A user's status (`chat.core.statuses.status_json`); profiles carry it (null: none).
STATUS = exact_object(
    {
        "Emoji": STRING,
        "Text": {**STRING, "maxLength": MAX_STATUS_TEXT_CHARS},
        "Presence": {"enum": list(PRESENCES)},
        "Until": {"type": ["string", "null"], "format": "date-time"},
    }
)
_WITH_STATUS: Schema = {"Status": {"oneOf": [STATUS, {"type": "null"}]}}
PUBLIC_PROFILE = exact_object(_PROFILE_FIELDS, _WITH_STATUS)
PROFILE = exact_object({**_PROFILE_FIELDS, "Email": _NULLABLE_STRING}, _WITH_STATUS)
#: A user named where something else is described (`chat.core.shapes.person`): presence,
#: a conversation's users, a report's reporter, an audit entry's target.
PERSON = exact_object({"UID": ID, "Username": STRING})
FOUND_USER = exact_object({"UID": ID, "Username": STRING, "Online": BOOLEAN})
ROOM = exact_object(
    {
        "RoomID": ID,
        "Name": {"type": ["string", "null"]},
        "IsPrivate": BOOLEAN,
        "CreatorUID": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_ID},
        "CreatedAt": TIMESTAMP,
        "Topic": {"type": "string", "maxLength": 1000},
        "SlowModeSeconds": {"type": "integer", "minimum": 0, "maximum": 3600},
        "RetentionDays": {"type": ["integer", "null"], "minimum": 1, "maximum": 36500},
    },
    {
        "UIDs": {"type": "array", "items": ID, "minItems": 2, "maxItems": 2},
        # A group direct conversation's members (chat.app.rooms.group_direct).
        "Members": {"type": "array", "items": PERSON, "maxItems": 10},
    },
)
#: A message's reactions: each emoji with its count and (the first 100 of) who reacted.
REACTIONS: Schema = {
    "type": "array",
    "maxItems": 20,
    "items": exact_object(
        {
            "Emoji": STRING,
            "Count": {"type": "integer", "minimum": 1},
            "UIDs": {"type": "array", "items": ID, "maxItems": 100},
        }
    ),
}
#: A file as a message carries it (an image's Width and Height too).
FILE_REF = exact_object(
    {"FileID": STRING, "Name": STRING, "Size": {"type": "integer"}, "ContentType": STRING},
    {"Width": {"type": "integer"}, "Height": {"type": "integer"}},
)
#: A thread's summary, as its root carries it.
THREAD = exact_object(
    {
        "Replies": {"type": "integer", "minimum": 0},
        "LastReplyAt": TIMESTAMP,
        "Participants": {"type": "array", "items": ID, "maxItems": MAX_THREAD_PARTICIPANTS},
    }
)
MESSAGE = exact_object(
    {
        "MessageID": ID,
        "RoomID": ID,
        "UID": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_ID},
        "Username": {"type": ["string", "null"]},
        "Text": STRING,
        "CreatedAt": TIMESTAMP,
        "EditedAt": {**TIMESTAMP, "type": ["string", "null"]},
        "Reactions": REACTIONS,
        "Mentions": {"type": "array", "items": ID, "maxItems": MAX_MENTIONS},
    },
    {
        "ClientMsgID": STRING,
        "ReplyTo": ID,
        "ThreadID": ID,
        "AlsoToRoom": {"const": True},
        "Thread": THREAD,
        "Deleted": {"const": True},
        "MentionsRoom": {"const": True},
        "DisplayName": {**STRING, "maxLength": MAX_DISPLAY_NAME_CHARS},
        "AvatarURL": STRING,
        "Files": {
            "type": "array",
            "items": FILE_REF,
            "minItems": 1,
            "maxItems": MAX_FILES_PER_MESSAGE,
        },
    },
)
#: A message being sent, as ``POST /messages/{roomID}`` takes it (`chat.core.outgoing`).
SENT_MESSAGE = body_fields(
    {"Text": STRING},
    {"ReplyTo": ID, "ClientMsgID": STRING, "ThreadID": ID, "AlsoToRoom": {"type": "boolean"}},
)
#: A message's reaction state, as a reaction route answers it.
REACTION_STATE = exact_object({"RoomID": ID, "MessageID": ID, "Reactions": REACTIONS})
#: One version of a message's text.
VERSION = exact_object({"Text": STRING, "At": TIMESTAMP})


# --- Describing a route ----------------------------------------------------------------------


class Token(Enum):
    """Whether a route reads the caller's token (the Authorization header)."""

    NONE = "none"
    OPTIONAL = "optional"
    REQUIRED = "required"


@dataclass(frozen=True)
class Answer:
    """One status of a route: what it means, and its body (JSON, other media, or none)."""

    description: str
    json: Schema | None = None
    #: Media types of a non-JSON body (the client's files).
    media: tuple[str, ...] = ()
    #: The answer carries Retry-After (seconds).
    retry_after: bool = False


@dataclass(frozen=True)
class Route:
    """What `describe` attaches to a view function."""

    summary: str
    #: Status -> answer; None removes one of the answers every route is given.
    answers: Mapping[int, Answer | None]
    description: str = ""
    body: Schema | None = None
    body_required: bool = True
    #: A body that works (for readers, and for schemathesis's first requests).
    example: Mapping[str, Any] | None = None
    token: Token = Token.NONE
    #: Schemas of the path's variables, by the names in the rule (default: a string).
    path: Mapping[str, Schema] = field(default_factory=dict)
    #: Optional query parameters.
    query: Mapping[str, Schema] = field(default_factory=dict)
    #: The route reads the browser session's cookie (`chat.app.accounts.sessions`): with a token
    #: (REQUIRED), either one does.
    cookie: bool = False


_ROUTE_ATTRIBUTE = "__chat_openapi_route__"


def describe(
    summary: str,
    *,
    answers: Mapping[int, Answer | None],
    description: str = "",
    body: Schema | None = None,
    body_required: bool = True,
    example: Mapping[str, Any] | None = None,
    token: Token = Token.NONE,
    path: Mapping[str, Schema] | None = None,
    query: Mapping[str, Schema] | None = None,
    cookie: bool = False,
) -> Callable[[View], View]:
    """Decorator (under the route's own) that describes a view function for OpenAPI."""
    route = Route(
        summary,
        answers,
        description,
        body,
        body_required,
        example,
        token,
        path or {},
        query or {},
        cookie,
    )

    def attach(view: View) -> View:
        setattr(view, _ROUTE_ATTRIBUTE, route)
        return view

    return attach


#: Answers many routes share.
INVALID = Answer(
    "the body or a parameter is invalid: the error names the field and what is wrong"
    " (or the Host header is not one of this server's names)",
    ERROR,
)
WRONG_CREDENTIALS = Answer("invalid credentials: no such user, or the wrong password", ERROR)
NOT_FOUND = Answer("no such user or room", ERROR)
#: A direct conversation whose other account was erased: nobody can write in it.
ACCOUNT_ERASED = Answer("the other account of this direct conversation was erased", ERROR)
FORBIDDEN = Answer("the caller may not do this (a private room, a room they did not create)", ERROR)


def room_reading(ok: Answer) -> dict[int, Answer | None]:
    """The answers of a route that reads a room its members may read: `ok`, or a bad id
    (400), not a member (403), no such room (404)."""
    return {200: ok, 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND}


#: A file's answer when the client's copy is current (its If-None-Match holds the ETag).
NOT_MODIFIED = Answer("not modified: the client's copy (If-None-Match) is current")


class Undocumented(Exception):
    """Routes the app serves that no `describe` describes: the document would lie."""

    def __init__(self, rules: list[str]) -> None:
        super().__init__(
            "these routes have no OpenAPI description (add @describe under the route): "
            + ", ".join(rules)
        )
        self.rules = rules


# --- The document ----------------------------------------------------------------------------

_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }
}

_HOST_REFUSED = Answer("the Host header is not one of this server's names", ERROR)
_EVERY_ROUTE: Mapping[int, Answer] = {
    400: _HOST_REFUSED,
    429: Answer(
        "too many connections from the client's address, or a rate limit", ERROR, retry_after=True
    ),
    500: Answer("a bug, logged on the server (the body never holds a traceback)", ERROR),
    503: Answer(
        "the database is unavailable, the server is stopping, or too many password checks"
        " are waiting",
        ERROR,
        retry_after=True,
    ),
}
_READS_BODY: Mapping[int, Answer] = {
    408: Answer("the body did not arrive in time (CHAT_BODY_TIMEOUT)", ERROR),
    413: Answer("the body is larger than CHAT_MAX_BODY", ERROR),
}
_READS_TOKEN: Mapping[int, Answer] = {
    401: Answer("the token is missing, malformed, forged, expired or revoked", ERROR),
    404: Answer("the caller's account no longer exists", ERROR),
}
_BEARER = "bearerToken"
_COOKIE = "sessionCookie"
#: What HTTP itself adds to every rule, which no route implements.
_IMPLICIT_METHODS = frozenset({"HEAD", "OPTIONS"})
_RULE_VARIABLE = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")  # <name> or <converter:name>
_PATH_VARIABLE = re.compile(r"\{([^{}]+)\}")


def operations(app: Quart) -> Iterator[tuple[str, str, str, Route | None]]:
    """(OpenAPI path, method, endpoint, description or None) of every route `app` serves."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.websocket:
            continue
        view = app.view_functions[rule.endpoint]
        route = getattr(view, _ROUTE_ATTRIBUTE, None)
        path = _RULE_VARIABLE.sub(r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - _IMPLICIT_METHODS):
            yield path, method.lower(), rule.endpoint, route


def openapi_document(app: Quart) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route `app` serves; `Undocumented` if one has no
    description."""
    paths: dict[str, dict[str, Any]] = {}
    missing = []
    for path, method, endpoint, route in operations(app):
        if route is None:
            missing.append(f"{method.upper()} {path} ({endpoint})")
            continue
        paths.setdefault(path, {})[method] = _operation(path, endpoint, route)
    if missing:
        raise Undocumented(missing)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "chat",
            "version": __version__,
            "description": (
                "A real-time chat server. Every HTTP route is here; the WebSocket "
                'protocols are in docs/PROTOCOL.md. Errors are {"error": "..."} unless '
                "a route says otherwise."
            ),
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                _BEARER: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": (
                        "The token from a login or registration, in the Authorization "
                        "header: 'Bearer <token>', or the bare token (spec 004)."
                    ),
                },
                _COOKIE: {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "chat_session",
                    "description": (
                        "The browser session's cookie, set by POST /session (named "
                        "__Host-chat_session over HTTPS). A request it authenticates must "
                        "come from this site: a same-origin Origin header (or "
                        "Sec-Fetch-Site: same-origin), else 403."
                    ),
                },
            }
        },
    }


def _operation(path: str, endpoint: str, route: Route) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint,
        "tags": [endpoint.partition(".")[0] if "." in endpoint else "server"],
        "summary": route.summary,
    }
    if route.description:
        operation["description"] = route.description
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": route.path.get(name, STRING)}
        for name in _PATH_VARIABLE.findall(path)
    ]
    parameters += [
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in route.query.items()
    ]
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        media: dict[str, Any] = {"schema": route.body}
        if route.example is not None:
            media["example"] = route.example
        operation["requestBody"] = {
            "required": route.body_required,
            "content": {"application/json": media},
        }
    if route.cookie:
        cookie: list[dict[str, list[str]]] = [{_COOKIE: []}]
        operation["security"] = (
            [{_BEARER: []}, *cookie] if route.token is Token.REQUIRED else cookie
        )
    elif route.token is Token.REQUIRED:
        operation["security"] = [{_BEARER: []}]
    elif route.token is Token.OPTIONAL:
        operation["security"] = [{}, {_BEARER: []}]
    operation["responses"] = {
        str(status): _response(answer) for status, answer in sorted(_answers(route).items())
    }
    return operation


def _answers(route: Route) -> dict[int, Answer]:
    answers: dict[int, Answer | None] = dict(_EVERY_ROUTE)
    if route.body is not None:
        answers.update(_READS_BODY)
    if route.token is not Token.NONE:
        answers.update(_READS_TOKEN)
    answers.update(route.answers)
    return {status: answer for status, answer in answers.items() if answer is not None}


def _media_schema(media: str) -> Schema:
    """The schema of a file's body: any value for a JSON document (the web app manifest,
    `application/manifest+json`, which a client parses), a string for the rest."""
    if media == "application/json" or media.endswith("+json"):
        return {}
    return STRING


def _response(answer: Answer) -> dict[str, Any]:
    response: dict[str, Any] = {"description": answer.description}
    content = {media: {"schema": _media_schema(media)} for media in answer.media}
    if answer.json is not None:
        content["application/json"] = {"schema": answer.json}
    if content:
        response["content"] = content
    if answer.retry_after:
        response["headers"] = _RETRY_AFTER
    return response


# --- The routes that serve it ----------------------------------------------------------------


def openapi_routes() -> Blueprint:
    routes = Blueprint("openapi", __name__)

    @routes.get("/openapi.json")
    @describe(
        "This document: every HTTP route, as OpenAPI 3.1",
        answers={200: Answer("the OpenAPI document", {"type": "object"})},
    )
    async def openapi_json() -> Any:
        # Built on first use, when every route has been registered, and kept: the app's
        # routes do not change once it serves.
        document = current_app.extensions.get("chat.openapi")
        if document is None:
            document = current_app.extensions["chat.openapi"] = openapi_document(current_app)
        return document

    return routes
