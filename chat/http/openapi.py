"""The OpenAPI 3.1 description of the HTTP API (``GET /openapi.json``), built from the routes.

Each view function carries its own description (`describe`, next to the route it
documents). `openapi_document` walks the app's URL map and refuses a route without one,
so the document lists exactly what the app serves: a new route must be described before
``/openapi.json`` (and tests/test_openapi.py) work again. Descriptions only document:
requests are still parsed by `chat.http.bodies` and `chat.core.validation`, whose error texts
clients rely on. ``GET /docs`` (chat/http/client.py) shows the document as a page, under
the client's Content-Security-Policy; `chat.http.openapi_document` builds the document.

What every route may answer is added here, once, not repeated on each route: 400 (a Host
that is not one of the server's names), 429 (too many connections from the address, or a
rate limit), 500 (a bug), 503 (the database is away, or the server is stopping); 408 and
413 where the route reads a body; 401 where it reads a token.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

from chat.app.messages.mentions import MAX_MENTIONS
from chat.core.link_previews import (
    MAX_DESCRIPTION_CHARS,
    MAX_PREVIEWS,
    MAX_SITE_NAME_CHARS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
)
from chat.core.names import MAX_DISPLAY_NAME_CHARS
from chat.core.records import MAX_THREAD_PARTICIPANTS
from chat.core.statuses import MAX_STATUS_TEXT_CHARS, PRESENCES
from chat.core.two_factor import MAX_CODE_CHARS
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
    "Kind": {"enum": ["person", "bot"]},
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
PROFILE = exact_object(
    {**_PROFILE_FIELDS, "Email": _NULLABLE_STRING, "Operator": BOOLEAN}, _WITH_STATUS
)
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
        "LinkPreviews": BOOLEAN,
        "Archived": {**BOOLEAN, "description": "read-only: sends answer 409"},
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
#: A link's preview (`chat.core.link_previews`), as a message carries it.
LINK_PREVIEW = exact_object(
    {
        "URL": {**STRING, "maxLength": MAX_URL_CHARS},
        "Title": {**STRING, "maxLength": MAX_TITLE_CHARS},
        "Description": {**STRING, "maxLength": MAX_DESCRIPTION_CHARS},
        "SiteName": {**STRING, "maxLength": MAX_SITE_NAME_CHARS},
    },
    {"ImageURL": STRING},
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
        "Bot": {"const": True},
        "Files": {
            "type": "array",
            "items": FILE_REF,
            "minItems": 1,
            "maxItems": MAX_FILES_PER_MESSAGE,
        },
        "Previews": {"type": "array", "items": LINK_PREVIEW, "maxItems": MAX_PREVIEWS},
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
#: The second factor a login may carry: a TOTP code or a recovery code.
SECOND_FACTOR: Schema = {"type": ["string", "null"], "maxLength": MAX_CODE_CHARS}
#: A 401 of a route that checks a password: with ``"NeedsCode": true`` when the password
#: was right but the account's second factor was missing, wrong or used already.
CREDENTIALS_ERROR = exact_object({"error": STRING}, {"NeedsCode": {"const": True}})
WRONG_CREDENTIALS = Answer(
    "invalid credentials: no such user, or the wrong password; with NeedsCode, the account"
    " has two-factor authentication on and the code (a TOTP or a recovery code) is"
    " missing, wrong or used already",
    CREDENTIALS_ERROR,
)
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


def described_route(view: Callable[..., Any]) -> Route | None:
    """The description `describe` gave `view` (None: none)."""
    return getattr(view, _ROUTE_ATTRIBUTE, None)
