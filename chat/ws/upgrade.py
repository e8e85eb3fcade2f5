"""The upgrade request, parsed once: from the head the front door has read already.

The front door reads every request head to route it (`chat.net.front_door`); wsproto
would parse the same bytes again, through h11, and write its 101 through h11 too: in a
reconnection storm that was a tenth of each handshake's cost. `parse_upgrade` reads a
well-formed upgrade (plain printable ASCII, every header the RFC requires present once)
into the very `Request` event wsproto would make, and `switching_protocols` writes the
101 wsproto would write; `refusal` writes the refusal it would write. Anything else
(an odd character, a header twice, a missing one, a wrong version) is left to wsproto,
which refuses it in its own words (`chat.ws.transport.upgrade_refusal`).

tests/test_websocket_upgrade.py compares each with wsproto's own, head by head.
"""

from __future__ import annotations

import re

from wsproto.events import Request
from wsproto.utilities import generate_accept_token, split_comma_header

_REQUEST_LINE = re.compile(rb"GET (/[\x21-\x7e]*) HTTP/1\.1")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: What a header value may not hold here: control characters, and bytes past ASCII
#: (legal as obs-text, but left to h11).
_NOT_PLAIN = re.compile(rb"[^\x20-\x7e\t]")
#: Headers that must come once for the fast path; a body is not expected on a GET.
_ONCE = frozenset(
    {b"host", b"connection", b"upgrade", b"sec-websocket-key", b"sec-websocket-version"}
)
_BODY = frozenset({b"content-length", b"transfer-encoding"})


def parse_upgrade(head: bytes) -> tuple[Request, int] | None:
    """The `Request` event wsproto would make of the upgrade at the start of `head`, and
    the length of the request's head; None to leave the request to wsproto."""
    end = head.find(b"\r\n\r\n")
    if end == -1:
        return None
    request_line, *lines = head[:end].split(b"\r\n")
    target = _REQUEST_LINE.fullmatch(request_line)
    if target is None:
        return None
    found: dict[bytes, bytes] = {}
    headers: list[tuple[bytes, bytes]] = []
    extensions: list[str] = []
    subprotocols: list[str] = []
    for line in lines:
        raw_name, colon, raw_value = line.partition(b":")
        if not colon or _TOKEN.fullmatch(raw_name) is None or _NOT_PLAIN.search(raw_value):
            return None
        name, value = raw_name.lower(), raw_value.strip(b" \t")
        if name in _BODY or (name in _ONCE and name in found):
            return None
        # As wsproto sorts them (`H11Handshake._process_connection_request`): these three
        # are not among its extra headers.
        if name == b"sec-websocket-extensions":
            extensions.extend(split_comma_header(value))
        elif name == b"sec-websocket-protocol":
            subprotocols.extend(split_comma_header(value))
        else:
            found[name] = value
            if name != b"host":
                headers.append((name, value))
    if not _ONCE.issubset(found) or found[b"sec-websocket-version"] != b"13":
        return None
    if found[b"upgrade"].lower() != b"websocket":
        return None
    if not any(token.lower() == "upgrade" for token in split_comma_header(found[b"connection"])):
        return None
    try:
        host = found[b"host"].decode("idna")
    except UnicodeError:
        return None
    request = Request(
        host=host,
        target=target.group(1).decode("ascii"),
        extensions=extensions,
        extra_headers=headers,
        subprotocols=subprotocols,
    )
    return request, end + 4


def switching_protocols(
    request: Request, subprotocol: str | None, extra_headers: list[tuple[bytes, bytes]]
) -> bytes:
    """The 101 that accepts `request` (wsproto's, byte for byte: no extension taken)."""
    key = next(value for name, value in request.extra_headers if name == b"sec-websocket-key")
    accept = generate_accept_token(key)
    lines = [
        b"HTTP/1.1 101 Switching Protocols",
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Accept: " + accept,
    ]
    if subprotocol is not None:
        lines.append(b"Sec-WebSocket-Protocol: " + subprotocol.encode("ascii"))
    lines += [name + b": " + value for name, value in extra_headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def refusal(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    """The answer that refuses an upgrade (wsproto's, byte for byte: trio-websocket adds
    the body's length, h11 a length of 0 where there is none)."""
    if body:
        headers = [*headers, (b"Content-length", str(len(body)).encode("ascii"))]
    elif not any(name.lower() == b"content-length" for name, _ in headers):
        headers = [*headers, (b"content-length", b"0")]
    lines = [f"HTTP/1.1 {status} ".encode("ascii")]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
