"""The browser client (spec 002: a client page served from the chat port itself).

``GET /`` serves chat/static/index.html; ``/static/...`` its scripts and style sheets, its
web app manifest and icons, and its service worker (sw.js, allowed to control the whole
origin: it keeps the page usable offline, read-only);
``GET /docs`` the page that shows the OpenAPI document (chat/static/docs.html);
``GET /client/settings`` the server's settings the page needs to know (the longest
message text, so its composer can count and stop there).
Every response carries security headers; the Content-Security-Policy allows scripts
from this origin only (no inline scripts, no eval), so even text that slipped into the
page as HTML could not run.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from quart import Blueprint, Response, request
from werkzeug.exceptions import NotFound

from chat.app.service import ChatService
from chat.http.openapi import ERROR, NOT_MODIFIED, Answer, describe, exact_object

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


_SERVED_SUFFIXES = frozenset({".html", ".js", ".css", ".webmanifest", ".png"})
#: The client's files (its pages, scripts and style sheets, vendor/'s libraries among
#: them, its web app manifest and icons), by their paths under /static/: nothing else is
#: ever served from there (not vendor/'s README and licences, which ship in the package
#: beside them). A generic static folder handed any name to the file system: a
#: 300-character one was a 500.
STATIC_FILES = frozenset(
    path.relative_to(STATIC_DIR).as_posix()
    for path in STATIC_DIR.rglob("*")
    if path.is_file() and path.suffix in _SERVED_SUFFIXES
)
#: The service worker, whose scope is the whole origin (the page at / included), which a
#: script under /static/ may only have when its response allows it.
SERVICE_WORKER = "sw.js"
#: Their media types, as Quart guesses them from the names.
_MEDIA_TYPES = tuple(
    sorted({mimetypes.guess_type(name)[0] or "text/plain" for name in STATIC_FILES})
)
_PAGE = Answer("the page", media=("text/html",))


@dataclass(frozen=True)
class ClientFile:
    """One of the client's files, read once when the routes are made.

    Served from memory: no file is opened per request, so a request cancelled halfway
    (the browser moved on) leaves nothing open, and the ETag is the content's digest, the
    same on every instance behind a load balancer.
    """

    body: bytes
    media_type: str
    etag: str
    modified: datetime

    @classmethod
    def read(cls, name: str) -> ClientFile:
        path = STATIC_DIR / name
        body = path.read_bytes()
        return cls(
            body=body,
            media_type=mimetypes.guess_type(name)[0] or "text/plain",
            etag=hashlib.sha256(body).hexdigest()[:32],
            modified=datetime.fromtimestamp(int(path.stat().st_mtime), UTC),
        )

    async def response(self) -> Response:
        """The file as an answer to the current request: 304 when the browser's copy is
        this one, the asked range when it asks one."""
        response = Response(self.body, mimetype=self.media_type)
        response.set_etag(self.etag)
        response.last_modified = self.modified
        response.cache_control.public = True
        return await response.make_conditional(
            request, accept_ranges=True, complete_length=len(self.body)
        )


_SETTINGS = exact_object({"MaxTextChars": {"type": "integer", "minimum": 1}})


def client_routes(service: ChatService) -> Blueprint:
    routes = Blueprint("client", __name__)
    files = {name: ClientFile.read(name) for name in STATIC_FILES}

    @routes.get("/")
    @describe(
        "The browser client's page",
        answers={200: _PAGE, 304: NOT_MODIFIED},
    )
    async def index() -> Any:
        return await files["index.html"].response()

    @routes.get("/admin")
    @describe(
        "The browser client's page, opening the operators' console once signed in",
        answers={200: _PAGE, 304: NOT_MODIFIED},
    )
    async def admin() -> Any:
        return await files["index.html"].response()

    @routes.get("/docs")
    @describe(
        "A page that shows the OpenAPI document (its script reads /openapi.json)",
        answers={200: _PAGE, 304: NOT_MODIFIED},
    )
    async def docs() -> Any:
        return await files["docs.html"].response()

    @routes.get("/client/settings")
    @describe(
        "The settings a client shows before the server refuses anything",
        description="MaxTextChars: the longest message text, in characters (CHAT_MAX_TEXT).",
        answers={200: Answer("the settings", _SETTINGS)},
    )
    async def settings() -> Any:
        return {"MaxTextChars": service.max_text_chars}

    @routes.get("/static/<path:name>")
    @describe(
        "One of the browser client's files (scripts, style sheets, pages)",
        path={"name": {"type": "string", "enum": sorted(STATIC_FILES)}},
        answers={
            200: Answer("the file", media=_MEDIA_TYPES),
            304: NOT_MODIFIED,
            404: Answer("not one of the client's files", ERROR),
        },
    )
    async def static(name: str) -> Any:
        if name not in STATIC_FILES:
            raise NotFound()
        response = await files[name].response()
        if name == SERVICE_WORKER:
            response.headers["Service-Worker-Allowed"] = "/"
        return response

    return routes


def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
