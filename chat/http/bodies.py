"""Reading JSON request bodies, with errors that say what is wrong."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quart import Request

from chat.core.errors import InvalidInput
from chat.core.untrusted_json import parse
from chat.core.validation import require_object


async def json_object(request: Request) -> Mapping[str, Any]:
    """The request body as a JSON object, or `InvalidInput` (HTTP 400).

    The Content-Type header is not required: curl users often forget it, and the body
    is JSON either way. Bodies over the configured limit are refused with 413 by Quart
    before we read them.
    """
    return parse_json_object(await raw_body(request))


async def optional_json_object(request: Request) -> Mapping[str, Any]:
    """The body as a JSON object, or {} when there is none (a DELETE needs none)."""
    raw = await raw_body(request)
    return {} if not raw.strip() else parse_json_object(raw)


async def raw_body(request: Request) -> bytes:
    """The request body's bytes, read once (not cached: a body is read by one parser)."""
    data = await request.get_data(cache=False, as_text=False)
    # Quart's annotation is `str | bytes` whatever `as_text` says; bytes is what it is.
    assert isinstance(data, bytes)
    return data


def parse_json_object(raw: bytes) -> Mapping[str, Any]:
    """`raw` as a JSON object, or `InvalidInput` naming what is wrong with it."""
    if not raw.strip():
        raise InvalidInput("request body is empty; expected a JSON object")
    try:
        # Decoded here, not by the JSON parser: given bytes, it would guess UTF-16 or
        # UTF-32, and JSON on the wire is UTF-8 (RFC 8259).
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("request body is not valid UTF-8") from None
    return require_object(parse(text, "request body"))
