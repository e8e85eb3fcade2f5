"""No HTTP/2 on plain HTTP (docs/SECURITY.md): a client that opens with HTTP/2's connection
preface gets HTTP/2's own refusal (a GOAWAY with HTTP_1_1_REQUIRED and a JSON reason) and
no stream is served; ``Upgrade: h2c`` is answered in HTTP/1.1. Driven by real HTTP/2
clients: the `h2` library over a socket, and httpx."""

from __future__ import annotations

import json
import re

import httpx
import pytest
import trio
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import ConnectionTerminated, Event, ResponseReceived
from support import STEP, Server, start_server
from test_slow_clients import read_response, until_a_slot_is_free

from chat.core.config import Config

#: What the refusal's debug data says.
REFUSED = {"error": "HTTP/2 is not served on plain HTTP: speak HTTP/1.1"}


def h2_client() -> H2Connection:
    """An HTTP/2 client connection that has written its preface (prior knowledge)."""
    connection = H2Connection(H2Configuration(client_side=True))
    connection.initiate_connection()
    return connection


def open_streams(connection: H2Connection, count: int, authority: str) -> None:
    """Open `count` POST streams whose bodies never come (headers without END_STREAM)."""
    for _ in range(count):
        connection.send_headers(
            connection.get_next_available_stream_id(),
            [
                (":method", "POST"),
                (":path", "/auth"),
                (":scheme", "http"),
                (":authority", authority),
                ("content-type", "application/json"),
            ],
        )


async def events_until_closed(
    stream: trio.SocketStream, connection: H2Connection, first: bytes = b""
) -> list[Event]:
    """Send `first` and what `connection` has to send, then read what the server answers
    until it closes its side: the HTTP/2 events."""
    events: list[Event] = []
    with trio.fail_after(STEP):
        try:
            await stream.send_all(first + connection.data_to_send())
        except trio.BrokenResourceError:
            pass  # closed before reading it all: the answer is judged below
        while True:
            try:
                data = await stream.receive_some()
            except trio.BrokenResourceError:
                break
            if not data:
                break
            events += connection.receive_data(data)
    return events


def the_refusal(events: list[Event]) -> ConnectionTerminated:
    """The GOAWAY among `events`; fails if any stream was answered."""
    assert not [e for e in events if isinstance(e, ResponseReceived)], events
    [goaway] = [e for e in events if isinstance(e, ConnectionTerminated)]
    return goaway


async def test_an_http2_client_is_refused_with_http_1_1_required_and_a_json_reason(
    server: Server,
) -> None:
    connection = h2_client()
    open_streams(connection, 1, "localhost")
    async with await trio.open_tcp_stream(server.host, server.port) as stream:
        goaway = the_refusal(await events_until_closed(stream, connection))
    assert goaway.error_code == ErrorCodes.HTTP_1_1_REQUIRED
    assert goaway.last_stream_id == 0  # no stream was processed
    assert json.loads(goaway.additional_data or b"") == REFUSED


async def test_300_http2_streams_without_bodies_hold_nothing_past_the_cap(
    nursery: trio.Nursery, config: Config
) -> None:
    # One connection, 300 requests whose bodies never come: under HTTP/2 each would be a
    # request held open, all behind one slot of the per-address cap. None is served, and
    # the connection's one slot comes back though the client keeps its socket open.
    server = await start_server(
        nursery, config.replace(rate_limits=True, max_connections_per_address=1)
    )
    connection = h2_client()
    open_streams(connection, 300, "localhost")
    async with await trio.open_tcp_stream(server.host, server.port) as stream:
        goaway = the_refusal(await events_until_closed(stream, connection))
        assert goaway.error_code == ErrorCodes.HTTP_1_1_REQUIRED
        await until_a_slot_is_free(server)


async def test_the_http2_preface_after_an_http_1_1_request_is_refused_too(
    server: Server,
) -> None:
    # Pipelined: an HTTP/1.1 request, then the preface, on one connection.
    connection = h2_client()
    first = b"GET /livez HTTP/1.1\r\nHost: localhost\r\n\r\n"
    answer = b""
    with trio.fail_after(STEP):
        async with await trio.open_tcp_stream(server.host, server.port) as stream:
            await stream.send_all(first + connection.data_to_send())
            while data := await stream.receive_some():
                answer += data
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), answer
    length = int(re.search(rb"(?im)^content-length: *(\d+)", head)[1])  # type: ignore[index]
    goaway = the_refusal(connection.receive_data(rest[length:]))
    assert goaway.error_code == ErrorCodes.HTTP_1_1_REQUIRED


async def test_an_h2c_upgrade_is_answered_in_http_1_1(server: Server) -> None:
    connection = H2Connection(H2Configuration(client_side=True))
    settings = connection.initiate_upgrade_connection()
    request = (
        b"GET /livez HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: " + settings + b"\r\n\r\n"
    )
    async with await trio.open_tcp_stream(server.host, server.port) as stream:
        await stream.send_all(request)
        answer = await read_response(stream)
    assert answer.startswith(b"HTTP/1.1 200 "), answer  # not 101 Switching Protocols
    assert b"upgrade" not in answer.lower()


async def test_httpx_speaking_http2_reports_the_refusal(server: Server) -> None:
    async with httpx.AsyncClient(
        base_url=server.http, http1=False, http2=True, timeout=STEP
    ) as client:
        with pytest.raises(httpx.RemoteProtocolError, match="error_code:13"):
            await client.get("/livez")
