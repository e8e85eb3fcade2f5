"""Errors always in JSON: the answers written below the app (by the front door, Hypercorn's
parser and wsproto's handshake) carry the app's ``{"error": "..."}``, with
``Content-Type: application/json`` and a right Content-Length, seen as raw bytes on a real
server's socket. Also the seam: the Hypercorn methods chat/http/server.py overrides."""

from __future__ import annotations

import inspect
import json

import pytest
import trio
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.protocol.http_stream import HTTPStream
from hypercorn.protocol.ws_stream import WSStream
from hypercorn.trio.tcp_server import TCPServer
from support import STEP, Server

from chat.net.front_door import MAX_HEAD_BYTES, head_too_large

HEALTH = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def exchange(server: Server, *pieces: bytes) -> bytes:
    """Send `pieces` on a new connection (a moment apart, so each arrives in a read of its
    own), and return every byte the server sends until it closes the connection."""
    answer = b""
    with trio.fail_after(STEP):
        async with await trio.open_tcp_stream(server.host, server.port) as stream:
            try:
                for n, piece in enumerate(pieces):
                    if n:
                        await trio.sleep(0.05)
                    await stream.send_all(piece)
            except trio.BrokenResourceError:
                pass  # the server answered and closed before reading it all
            try:
                while chunk := await stream.receive_some():
                    answer += chunk
            except trio.BrokenResourceError:
                pass  # reset after the answer: judged by what arrived
    return answer


def responses(answer: bytes) -> list[tuple[int, list[tuple[bytes, bytes]], bytes]]:
    """The HTTP/1.1 responses in `answer`, in order: status, headers, body (by Content-Length);
    fails on bytes that are not a whole response."""
    found = []
    while answer:
        head, blank, rest = answer.partition(b"\r\n\r\n")
        assert blank, f"an unfinished response: {answer[:300]!r}"
        status_line, *lines = head.split(b"\r\n")
        assert status_line.startswith(b"HTTP/1.1 "), status_line
        headers = [
            (name.strip().lower(), value.strip())
            for name, _, value in (line.partition(b":") for line in lines)
        ]
        lengths = [int(value) for name, value in headers if name == b"content-length"]
        assert len(lengths) == 1, f"one Content-Length, not {lengths}: {head!r}"
        assert len(rest) >= lengths[0], f"a body cut short: {answer[:300]!r}"
        found.append((int(status_line.split(b" ")[1]), headers, rest[: lengths[0]]))
        answer = rest[lengths[0] :]
    return found


def the_json_error(response: tuple[int, list[tuple[bytes, bytes]], bytes], status: int) -> str:
    """The error `response` names; fails unless it is `status` with a JSON error body."""
    got, headers, body = response
    assert got == status, response
    types = [value for name, value in headers if name == b"content-type"]
    assert types == [b"application/json"], response
    error = json.loads(body)["error"]
    assert isinstance(error, str) and error, response
    return error


async def the_only_error(server: Server, status: int, *pieces: bytes) -> str:
    """The error the server answers `pieces` with (its only answer, then it closes)."""
    answers = responses(await exchange(server, *pieces))
    assert len(answers) == 1, answers
    return the_json_error(answers[0], status)


async def the_error_after_a_request(server: Server, status: int, *pieces: bytes) -> str:
    """The error for `pieces` sent after a request answered 200 on the same connection
    (so that Hypercorn, not the front door, reads them)."""
    first, second = responses(await exchange(server, HEALTH, *pieces))
    assert first[0] == 200, first
    return the_json_error(second, status)


# --- the front door ---------------------------------------------------------------------


async def test_a_request_head_over_16_kib_gets_431_in_json(server: Server) -> None:
    head = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * MAX_HEAD_BYTES + b"\r\n\r\n"
    error = await the_only_error(server, 431, head)
    assert error == "the request head is larger than 16 KiB"


async def test_a_websocket_upgrade_over_16_kib_gets_431_in_json(server: Server) -> None:
    head = UPGRADE[:-2] + b"X-Big: " + b"a" * MAX_HEAD_BYTES + b"\r\n\r\n"
    assert await the_only_error(server, 431, head)


async def test_a_request_head_of_16_kib_is_served(server: Server) -> None:
    head = b"GET /livez HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Big: "
    head += b"a" * (MAX_HEAD_BYTES - len(head) - 4) + b"\r\n\r\n"
    assert len(head) == MAX_HEAD_BYTES and not head_too_large(head)
    [(status, _headers, _body)] = responses(await exchange(server, head))
    assert status == 200


# --- Hypercorn's parser -------------------------------------------------------------------


async def test_an_unparseable_request_line_gets_400_in_json(server: Server) -> None:
    error = await the_only_error(server, 400, b"GARBAGE\r\n\r\n")
    assert error == "the request could not be parsed as HTTP/1.1"


async def test_a_header_line_without_a_colon_gets_400_in_json(server: Server) -> None:
    assert await the_only_error(server, 400, b"GET / HTTP/1.1\r\nHost localhost\r\n\r\n")


async def test_an_unparseable_head_after_a_request_gets_400_in_json(server: Server) -> None:
    assert await the_error_after_a_request(server, 400, b"GARBAGE\r\n\r\n")


async def test_a_malformed_chunked_body_gets_400_in_json(server: Server) -> None:
    head = b"POST /auth HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert await the_only_error(server, 400, head + b"zz\r\n")


async def test_a_later_head_over_16_kib_on_a_keep_alive_connection_gets_431_in_json(
    server: Server,
) -> None:
    # Hypercorn's parser reads the heads after the first; it answers 431 once more than
    # 16 KiB of an unfinished head are waiting.
    pieces = [b"GET / HTTP/1.1\r\nHost: localhost\r\n"]
    pieces += [b"X-Big: " + b"a" * 6000 + b"\r\n"] * 3
    error = await the_error_after_a_request(server, 431, *pieces)
    assert error == "the request head is larger than 16 KiB"


async def test_an_unsupported_transfer_coding_gets_501_in_json(server: Server) -> None:
    head = b"POST /auth HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\n"
    error = await the_only_error(server, 501, head)
    assert error == "unsupported transfer coding: only chunked is accepted"


async def test_an_invalid_websocket_upgrade_after_a_request_gets_400_in_json(
    server: Server,
) -> None:
    # Hypercorn judges an upgrade on a keep-alive connection before the app sees it; its
    # answer used to leave the connection open (`exchange` waits for the close).
    upgrade = UPGRADE.replace(b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", b"")
    error = await the_error_after_a_request(server, 400, upgrade)
    assert error.startswith("invalid WebSocket upgrade")


# --- wsproto's handshake ------------------------------------------------------------------


async def test_a_websocket_upgrade_of_another_version_gets_426_in_json(server: Server) -> None:
    upgrade = UPGRADE.replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8")
    [response] = responses(await exchange(server, upgrade))
    assert the_json_error(response, 426).startswith("unsupported WebSocket version")
    assert (b"sec-websocket-version", b"13") in response[1]


async def test_a_websocket_upgrade_without_a_key_gets_400_in_json(server: Server) -> None:
    upgrade = UPGRADE.replace(b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", b"")
    error = await the_only_error(server, 400, upgrade)
    assert error == "invalid WebSocket upgrade: missing header, 'Sec-WebSocket-Key'"


# --- the app (413), seen the same way -------------------------------------------------------


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_body_over_the_limit_gets_413_in_json(server: Server, framing: str) -> None:
    body = b"a" * (server.config.max_body_bytes + 1)
    if framing == "chunked":
        head = b"POST /auth HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
        payload = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    else:
        head = b"POST /auth HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n" % len(body)
        payload = body
    head += b"Connection: close\r\n\r\n"
    assert await the_only_error(server, 413, head + payload) == "request entity too large"


# --- the seam -----------------------------------------------------------------------------


def test_hypercorn_still_has_the_methods_chat_overrides() -> None:
    # chat/http/server.py's _H11Protocol and _TCPServer rely on these (private) names; a
    # Hypercorn that renamed one would silently answer errors with empty bodies again.
    assert list(inspect.signature(H11Protocol._send_error_response).parameters) == [
        "self",
        "status_code",
    ]
    assert list(inspect.signature(H11Protocol._check_protocol).parameters) == ["self", "event"]
    assert list(inspect.signature(H11Protocol._create_stream).parameters) == ["self", "request"]
    assert "self.protocol = ProtocolWrapper(" in inspect.getsource(TCPServer.run)
    for stream in (HTTPStream, WSStream):
        source = inspect.getsource(stream._send_error_response)
        assert '[(b"content-length", b"0"), (b"connection", b"close")]' in source
