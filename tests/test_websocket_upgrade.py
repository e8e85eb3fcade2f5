"""The upgrade request parsed once (chat/ws/upgrade.py) against wsproto's own parse:
the same `Request` event from the same head, the same 101 and the same refusal, byte for
byte; and what it leaves to wsproto, it leaves whole. A wsproto release that reads or
writes a handshake differently fails here, head by head."""

from __future__ import annotations

import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, RejectConnection, RejectData, Request
from wsproto.utilities import RemoteProtocolError

from chat.ws.upgrade import parse_upgrade, refusal, switching_protocols

KEY = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
VERSION = "Sec-WebSocket-Version: 13\r\n"
BASE = "Host: chat.example:8000\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + KEY + VERSION


def head(*lines: str, target: str = "/ws?token=abc&SinceID=5", base: str = BASE) -> bytes:
    return f"GET {target} HTTP/1.1\r\n{base}{''.join(lines)}\r\n".encode("latin-1")


def wsproto_request(data: bytes) -> tuple[WSConnection, Request]:
    """wsproto's server connection after reading `data`, and the request it made of it."""
    connection = WSConnection(ConnectionType.SERVER)
    connection.receive_data(data)
    events = list(connection.events())
    assert len(events) == 1 and isinstance(events[0], Request), events
    return connection, events[0]


#: Upgrades as clients send them: each is taken from the head, as wsproto would read it.
WELL_FORMED = {
    "plain": head(),
    "a browser's": head(
        "Origin: http://chat.example:8000\r\n",
        "Cookie: chat_session=abc; other=1\r\n",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n",
    ),
    "subprotocols offered": head("Sec-WebSocket-Protocol: chat, superchat\r\n"),
    "names in any case, spaces around values": head(
        base="HOST:chat.example\r\nupgrade:  WebSocket \r\nconnection: keep-alive, Upgrade\r\n"
        "sec-websocket-key:dGhlIHNhbXBsZSBub25jZQ==\r\nSEC-WEBSOCKET-VERSION: 13\t\r\n"
    ),
    "an extension header twice": head(
        "Sec-WebSocket-Extensions: a\r\n", "Sec-WebSocket-Extensions: b, c\r\n"
    ),
    "a punycode host": head(
        base=BASE.replace("chat.example:8000", "xn--bcher-kva.example"),
    ),
    "the root path": head(target="/"),
    "an empty header value": head("X-Empty:\r\n"),
}


@pytest.mark.parametrize("data", WELL_FORMED.values(), ids=WELL_FORMED)
def test_a_well_formed_upgrade_is_read_into_the_request_wsproto_would_make(data: bytes) -> None:
    _, expected = wsproto_request(data + b"trailing")
    parsed = parse_upgrade(data + b"trailing")
    assert parsed is not None
    request, length = parsed
    assert request == expected
    assert data[length:] + b"trailing" == b"trailing"


#: Upgrades left to wsproto: it refuses or takes each in its own way.
LEFT_TO_WSPROTO = {
    "another method": head().replace(b"GET", b"POST", 1),
    "HTTP/1.0": head().replace(b"HTTP/1.1", b"HTTP/1.0", 1),
    "an absolute target": head(target="http://chat.example/ws"),
    "no Host": head(base=BASE.replace("Host: chat.example:8000\r\n", "")),
    "Host twice": head("Host: other.example\r\n"),
    "the key twice": head(KEY),
    "no key": head(base=BASE.replace(KEY, "")),
    "version 8": head(base=BASE.replace(VERSION, "Sec-WebSocket-Version: 8\r\n")),
    "no version": head(base=BASE.replace(VERSION, "")),
    "no Upgrade token in Connection": head(
        base=BASE.replace("Connection: Upgrade", "Connection: x")
    ),
    "another Upgrade": head(base=BASE.replace("Upgrade: websocket", "Upgrade: h2c")),
    "a body": head("Content-Length: 2\r\n"),
    "a value past ASCII": head("X-Name: caf\xe9\r\n"),
    "a control character": head("X-Name: a\x01b\r\n"),
    "a folded header": head("X-Long: a\r\n", " b\r\n"),
    "a space before the colon": head("X-Name : a\r\n"),
    "a bad IDNA host": head(base=BASE.replace("chat.example:8000", "xn--a.example")),
    "an unfinished head": head()[:-2],
}


@pytest.mark.parametrize("data", LEFT_TO_WSPROTO.values(), ids=LEFT_TO_WSPROTO)
def test_anything_else_is_left_to_wsproto(data: bytes) -> None:
    assert parse_upgrade(data) is None


def test_what_is_left_to_wsproto_includes_what_it_refuses() -> None:
    connection = WSConnection(ConnectionType.SERVER)
    with pytest.raises(RemoteProtocolError):
        connection.receive_data(LEFT_TO_WSPROTO["version 8"])
        list(connection.events())


@pytest.mark.parametrize(
    ("subprotocol", "extra_headers"),
    [(None, []), ("superchat", []), (None, [(b"Set-Cookie", b"a=b"), (b"x-other", b"1")])],
)
def test_the_101_is_wsprotos(
    subprotocol: str | None, extra_headers: list[tuple[bytes, bytes]]
) -> None:
    data = WELL_FORMED["subprotocols offered"]
    connection, request = wsproto_request(data)
    expected = connection.send(
        AcceptConnection(subprotocol=subprotocol, extra_headers=list(extra_headers))
    )
    assert switching_protocols(request, subprotocol, extra_headers) == expected


@pytest.mark.parametrize("body", [b"", b'{"error": "invalid token"}'])
def test_the_refusal_is_wsprotos_with_trio_websockets_length(body: bytes) -> None:
    connection, _ = wsproto_request(head())
    headers = [(b"content-type", b"application/json"), (b"retry-after", b"5")]
    # What trio-websocket's `_reject` sends through wsproto.
    sent = list(headers)
    if body:
        sent.append((b"Content-length", str(len(body)).encode("ascii")))
    expected = connection.send(RejectConnection(status_code=401, headers=sent, has_body=bool(body)))
    if body:
        expected += connection.send(RejectData(data=body))
    assert refusal(401, headers, body) == expected
