"""The OpenAPI document itself (``GET /openapi.json``): every route the app serves, with
the description `chat.http.openapi.describe` gave it, and what every route may answer,
added here once (400 for a Host that is not one of the server's names, 429, 500, 503;
408 and 413 where the route reads a body; 401 where it reads a token)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from quart import Blueprint, Quart, current_app

from chat import __version__
from chat.http.openapi import (
    ERROR,
    STRING,
    Answer,
    Route,
    Schema,
    Token,
    describe,
    described_route,
)


class Undocumented(Exception):
    """Routes the app serves that no `describe` describes: the document would lie."""

    def __init__(self, rules: list[str]) -> None:
        super().__init__(
            "these routes have no OpenAPI description (add @describe under the route): "
            + ", ".join(rules)
        )
        self.rules = rules


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
        route = described_route(view)
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
