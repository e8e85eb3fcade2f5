"""Files over HTTP: ``POST /files`` uploads one, ``GET /files/{FileID}/{name}`` and
``GET /files/{FileID}/thumbnail`` serve it to whoever may read it (`chat.files`).

Serving is built for hostile content: the type is the sniffed one
(`chat.files.sniffing`), ``X-Content-Type-Options: nosniff`` stops the browser from
guessing another, ``Content-Security-Policy: sandbox`` makes even a page that slipped
through run as an opaque origin with no script, and anything but images and PDF is an
attachment (downloaded, not shown). Someone who may not read a file gets 404, as for a
file that does not exist: the answer says nothing about others' files.

The bytes are streamed from the storage in chunks, whole or one range (``Range:
bytes=...``); the ETag is the content's SHA-256, so a client revalidates for free.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import trio
from quart import Blueprint, Request, Response, request
from werkzeug.exceptions import RequestTimeout

from chat.app.accounts.auth import bearer_token
from chat.app.accounts.sessions import BrowserSessions
from chat.app.messages.files import FileLibrary, check_name_param
from chat.app.service import ChatService
from chat.core import shapes
from chat.core.errors import NotAuthenticated
from chat.core.host_names import HostPolicy
from chat.core.records import Identity, StoredFile
from chat.files.sniffing import is_inline
from chat.http.identity import token_identity
from chat.http.openapi import ERROR, STRING, Answer, Token, describe
from chat.http.sessions import require_same_site, session_cookie

#: How long a client may keep a file without asking again: its bytes never change.
CACHE_CONTROL = "private, max-age=86400"

_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.ASCII)

#: Past any file's size: what a range position of more digits than this stands for.
_FAR = 10**18


def _position(digits: str) -> int:
    """A range's byte position; any number too long to be a file's (Python would refuse
    to read one of more than 4,300 digits) stands for "past the end"."""
    return _FAR if len(digits) > 18 else int(digits)


_FILE = {
    "type": "object",
    "properties": {
        "FileID": STRING,
        "Name": STRING,
        "Size": {"type": "integer"},
        "ContentType": STRING,
        "SHA256": STRING,
        "Width": {"type": "integer"},
        "Height": {"type": "integer"},
    },
}


def content_disposition(file: StoredFile) -> str:
    """Inline for images and PDF, attachment otherwise; the name as RFC 6266 gives it
    (an ASCII fallback, and the UTF-8 name in ``filename*``)."""
    kind = "inline" if is_inline(file.content_type) else "attachment"
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in file.name)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(file.name, safe='')}"


def byte_range(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """The one range `header` asks for, as (start, end excluded); None for the whole
    file (no header, several ranges, or one this parser does not take); False when
    it cannot be satisfied."""
    if header is None:
        return None
    found = _RANGE.fullmatch(header.strip())
    if found is None:
        return None
    first, last = found.groups()
    if not first and not last:
        return None
    if not first:
        suffix = _position(last)
        if suffix == 0:
            return False
        return (max(size - suffix, 0), size)
    start = _position(first)
    if start >= size:
        return False
    end = size if not last else min(_position(last) + 1, size)
    if end <= start:
        return False
    return (start, end)


def file_routes(
    service: ChatService, library: FileLibrary, sessions: BrowserSessions, hosts: HostPolicy
) -> Blueprint:
    routes = Blueprint("files", __name__)

    async def caller(*, changes: bool = False) -> Identity:
        """The token, or else the browser session's cookie (an <img> sends no token). A
        request that `changes` something with the cookie must come from this site's own
        pages (CSRF, as every cookie route: chat.http.sessions)."""
        token = bearer_token(request.headers.get("Authorization"))
        if token is not None:
            return await token_identity(service, request, token)
        cookie = session_cookie(request)
        if cookie is None:
            raise NotAuthenticated("missing token: send it in the Authorization header")
        if changes:
            require_same_site(request, hosts)
        return await sessions.identify(cookie)

    @routes.post("/files")
    @describe(
        "Upload a file (to attach to a message)",
        description=(
            "The body is the file (any Content-Type), or a multipart/form-data body with"
            " one part named 'file'. The name is ?name= (else the part's filename). The"
            " content type is read from the bytes, not from the upload. Only the uploader"
            " sees the file until a message carries it (Files: [FileID]); a file no"
            " message carries is removed after 24 hours. Images (PNG, JPEG, GIF, WebP)"
            " get a thumbnail and their Width and Height."
        ),
        query={"name": STRING},
        token=Token.REQUIRED,
        answers={
            201: Answer("stored", _FILE),
            400: Answer("a malformed multipart body", ERROR),
            403: Answer("by the session cookie, from another site's page (CSRF)", ERROR),
            413: Answer("over CHAT_MAX_FILE_SIZE, or the user's quota (CHAT_USER_QUOTA)", ERROR),
            429: Answer("too many uploads (CHAT_RATE_UPLOADS)", ERROR, retry_after=True),
        },
    )
    async def upload() -> Any:
        identity = await caller(changes=True)
        name = check_name_param(request.args.get("name"))
        await library.check_upload(identity, request.content_length)
        file = await library.upload(
            identity,
            body_chunks(request),
            name=name,
            content_type=request.headers.get("Content-Type", ""),
        )
        return shapes.uploaded(file), 201

    @routes.get("/files/<file_id>/thumbnail")
    @describe(
        "An image's thumbnail (at most 400 px a side, metadata stripped)",
        path={"file_id": STRING},
        token=Token.REQUIRED,
        answers={
            200: Answer("the thumbnail"),
            404: Answer("no such file that you may read", ERROR),
        },
    )
    async def thumbnail(file_id: str) -> Any:
        file = await library.readable(await caller(), file_id)
        if file.thumbnail_type is None:
            return {"error": f"file {file.id} has no thumbnail (it is not an image)"}, 404
        headers = {
            "Content-Type": file.thumbnail_type,
            "Cache-Control": CACHE_CONTROL,
            "Content-Security-Policy": "sandbox",
            "ETag": f'"{file.sha256}-thumbnail"',
        }
        if _not_modified(headers["ETag"]):
            return Response(b"", 304, headers)
        response = Response(await library.read(file, file.thumbnail_key), 200, headers)
        response.timeout = None
        return response

    @routes.get("/files/<file_id>/<path:name>")
    @describe(
        "A file (to those who may read a message carrying it; its uploader before)",
        description=(
            "Images and PDF inline, anything else as an attachment; Range requests are"
            " answered (206), and If-None-Match with the ETag (304)."
        ),
        path={"file_id": STRING, "name": STRING},
        token=Token.REQUIRED,
        answers={
            200: Answer("the file"),
            206: Answer("the range asked for"),
            304: Answer("not modified"),
            404: Answer("no such file that you may read", ERROR),
            416: Answer("a range past the end of the file"),
        },
    )
    async def download(file_id: str, name: str) -> Any:
        file = await library.readable(await caller(), file_id)
        headers = {
            "Content-Type": file.content_type,
            "Content-Disposition": content_disposition(file),
            "Cache-Control": CACHE_CONTROL,
            "Content-Security-Policy": "sandbox",
            "X-Content-Type-Options": "nosniff",
            "ETag": f'"{file.sha256}"',
            "Accept-Ranges": "bytes",
        }
        if _not_modified(headers["ETag"]):
            return Response(b"", 304, headers)
        wanted = byte_range(request.headers.get("Range"), file.size)
        if_range = request.headers.get("If-Range")
        if if_range is not None and if_range != headers["ETag"]:
            wanted = None
        if wanted is False:
            problem = f"the range asked for is not within the file's {file.size} bytes"
            refusal = {
                "Content-Type": "application/json",
                "Content-Range": f"bytes */{file.size}",
                "Accept-Ranges": "bytes",
                "Content-Security-Policy": "sandbox",
            }
            return Response(json.dumps({"error": problem}), 416, refusal)
        if isinstance(wanted, tuple):
            start, end = wanted
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{file.size}"
            headers["Content-Length"] = str(end - start)
            body = await library.read(file, file.storage_key, start, end)
            response = Response(body, 206, headers)
        else:
            headers["Content-Length"] = str(file.size)
            response = Response(await library.read(file, file.storage_key), 200, headers)
        # A large file may take longer than Quart's response timeout to send.
        response.timeout = None
        return response

    return routes


def body_chunks(request: Request) -> AsyncIterator[bytes]:
    """A streamed request body's chunks, each within the body timeout of the last."""
    return _Chunks(request.body, request.body_timeout)


def _not_modified(etag: str) -> bool:
    asked = request.headers.get("If-None-Match")
    if asked is None:
        return False
    return any(tag.strip() in (etag, "*", f"W/{etag}") for tag in asked.split(","))


class _Chunks:
    """The body's chunks, each within `idle` seconds of the last (408 after it): a
    large upload may take long, but never stall. An iterator, not an async generator,
    so that a consumer that stops early leaves nothing to finalize."""

    def __init__(self, body: AsyncIterator[bytes], idle: float | None) -> None:
        self._body = body.__aiter__()
        self._idle = float("inf") if idle is None else idle

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> bytes:
        with trio.move_on_after(self._idle) as waiting:
            return await self._body.__anext__()
        assert waiting.cancelled_caught
        raise RequestTimeout()
