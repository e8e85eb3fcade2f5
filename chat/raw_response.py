"""Whole HTTP responses written straight to a connection, for refusals made before any
HTTP library has parsed the request: a connection over its address's cap, a WebSocket
upgrade whose head the WebSocket library could not parse safely."""

from __future__ import annotations

import json
from http import HTTPStatus


def json_response(status: int, error: str, headers: dict[str, str] | None = None) -> bytes:
    """An HTTP/1.1 response with ``{"error": error}``, closing the connection."""
    body = json.dumps({"error": error}).encode()
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    lines += [
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
