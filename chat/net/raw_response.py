"""Error answers written below the app: whole HTTP responses written straight to a
connection, for refusals made before any HTTP library has parsed the request (a
connection over its address's cap, a request head over 16 KiB, a WebSocket upgrade the
WebSocket library refused), and the pieces Hypercorn's own error answers are built from
(`chat.http.server`). Each carries the app's error body, ``{"error": "..."}``.

And one that is not HTTP/1.1: the refusal of a client that opened with HTTP/2's
connection preface, which only understands HTTP/2 frames (`http2_refusal`)."""

from __future__ import annotations

import json
import struct
from http import HTTPStatus


def json_error(error: str) -> bytes:
    """The body of every error answer: ``{"error": error}``."""
    return json.dumps({"error": error}).encode()


def json_error_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    """The headers of an error answer with `body`, which closes the connection."""
    return [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]


def json_response(status: int, error: str, headers: dict[str, str] | None = None) -> bytes:
    """An HTTP/1.1 response with ``{"error": error}``, closing the connection."""
    body = json_error(error)
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode()]
    lines += [f"{name}: {value}".encode() for name, value in (headers or {}).items()]
    lines += [name + b": " + value for name, value in json_error_headers(body)]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


#: HTTP/2's frame types and the error code that says "use HTTP/1.1" (RFC 9113 6, 7).
_SETTINGS, _GOAWAY = 0x4, 0x7
HTTP_1_1_REQUIRED = 0xD


def _http2_frame(kind: int, payload: bytes) -> bytes:
    """One HTTP/2 frame on stream 0, without flags (RFC 9113 4.1)."""
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", kind, 0, 0) + payload


def http2_refusal(error: str) -> bytes:
    """What a client that opened with HTTP/2's connection preface is answered: the
    server's own preface (an empty SETTINGS frame, RFC 9113 3.4), then a GOAWAY that
    processed no stream (last stream 0), with HTTP_1_1_REQUIRED and ``{"error": error}``
    as its debug data. An HTTP/2 client reports that as the connection's end, with the
    reason; an HTTP/1.1 answer would be garbage to it."""
    goaway = struct.pack(">II", 0, HTTP_1_1_REQUIRED) + json_error(error)
    return _http2_frame(_SETTINGS, b"") + _http2_frame(_GOAWAY, goaway)
