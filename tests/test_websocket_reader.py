"""trio-websocket's own reader and ours (chat/ws/transport.py's `ServerConnection.read`),
run on the same scripted connections, and what each did compared: real wsproto frames
from a client, plus events no client can send (an event of a type trio-websocket does not
know, or one reported after the reader has ended). A trio-websocket release whose reader
behaves differently fails here by script; tests/test_websocket_seam.py reads its code.

Then ours alone: the rules (an unknown event logged and ignored, nothing handled after an
abort), and where we differ from trio-websocket on purpose.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import trio
import trio.testing
import wsproto.utilities
from support import STEP, Server
from trio_websocket import ConnectionClosed, WebSocketConnection
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection
from wsproto.events import BytesMessage, CloseConnection, Event, Ping, Pong, TextMessage

from chat.ws.transport import ServerConnection

UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)

#: Small, so that a message can be over it.
MAX_MESSAGE = 64


class UnknownEvent(Event):
    """An event of a type trio-websocket's reader has no handler for, as a newer wsproto's
    would be."""


class Scripted:
    """The server's wsproto connection, which also reports the events a test adds to
    `added` (after those it parsed, the next time it is asked): events no client can
    make it report, or not at that moment. Those still in `added` were never asked for."""

    def __init__(self, real: WSConnection) -> None:
        self.real = real
        self.added: list[Event] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def events(self) -> Iterator[Event]:
        yield from self.real.events()
        while self.added:
            yield self.added.pop(0)


@dataclass
class Peer:
    """What a scripted step acts on: the client's end of the connection and the client's
    wsproto (for frames), the server's wsproto (for events), the server's end of the
    connection, and its `aclose` (started in `nursery`, done when `closed` is set)."""

    stream: trio.StapledStream[Any, Any]
    ws: Connection
    server_wsproto: Scripted
    server: WebSocketConnection
    server_stream: trio.StapledStream[Any, Any]
    nursery: trio.Nursery
    closed: trio.Event | None = None


Step = Callable[[Peer], Awaitable[None]]


def send(*events: Event) -> Step:
    """The client sends `events` in one write."""

    async def step(peer: Peer) -> None:
        await peer.stream.send_all(b"".join(peer.ws.send(event) for event in events))

    return step


def report(event: Event) -> Step:
    """The server's wsproto reports `event` with the next data it is given."""

    async def step(peer: Peer) -> None:
        peer.server_wsproto.added.append(event)

    return step


async def end_of_file(peer: Peer) -> None:
    await peer.stream.send_eof()


def vanish_after(*events: Event) -> Step:
    """The client sends `events` and closes its socket, without reading a thing."""

    async def step(peer: Peer) -> None:
        await send(*events)(peer)
        await peer.stream.aclose()

    return step


async def stream_closed_under_the_reader(peer: Peer) -> None:
    await peer.server_stream.aclose()


async def server_closes(peer: Peer) -> None:
    """The server starts the close handshake (its `aclose`, which waits for the answer)."""
    closed = peer.closed = trio.Event()

    async def close() -> None:
        await peer.server.aclose(1001, "going away")
        closed.set()

    peer.nursery.start_soon(close)


@dataclass(frozen=True)
class Outcome:
    messages: tuple[str | bytes, ...]  # what `get_message` returned
    closed: tuple[int, str | None]  # why it then raised ConnectionClosed
    answers: tuple[tuple[Any, ...], ...]  # the frames the server sent, as the client read them
    never_asked_for: int  # events added that the reader never took from wsproto


def described(event: Event) -> tuple[Any, ...]:
    if isinstance(event, CloseConnection):
        return ("close", event.code, event.reason)
    if isinstance(event, Ping | Pong):
        return (type(event).__name__.lower(), bytes(event.payload))
    return (type(event).__name__, getattr(event, "data", None))


async def run(reader: str, script: list[Step]) -> Outcome:
    """Open a connection served by `reader` ("upstream": trio-websocket's reader task, as
    `wrap_server_stream` runs it; "ours": ServerConnection), play `script` on it from the
    client's side (waiting after each step until the server has done all it can), end it
    with end of file, and say what the server did."""
    server_stream, client_stream = trio.testing.memory_stream_pair()
    server: WebSocketConnection
    if reader == "upstream":
        server = WebSocketConnection(
            server_stream, WSConnection(ConnectionType.SERVER), max_message_size=MAX_MESSAGE
        )
    else:
        server = ServerConnection(server_stream, max_message_size=MAX_MESSAGE, close_timeout=STEP)
    scripted = Scripted(server._wsproto)
    server._wsproto = scripted  # type: ignore[assignment]  # it passes for a WSConnection
    messages: list[str | bytes] = []
    closed: list[tuple[int, str | None]] = []
    received = bytearray()

    async def serve(nursery: trio.Nursery) -> None:
        if isinstance(server, ServerConnection):
            request = await server.read_request()
            assert request is not None
        else:
            nursery.start_soon(server._reader_task)
            request = await server._get_request()
        await request.accept()
        try:
            while True:
                messages.append(await server.get_message())
        except ConnectionClosed as end:
            closed.append((end.reason.code, end.reason.reason))
        await trio.testing.wait_all_tasks_blocked()
        if peer.closed is not None:
            await peer.closed.wait()  # the server's own close handshake
        await server_stream.aclose()  # its owner's job (WebSocketServer.handle)

    async def listen() -> None:
        try:
            while chunk := await client_stream.receive_some():
                received.extend(chunk)
        except trio.ClosedResourceError:
            pass  # the client closed its end itself

    with trio.fail_after(STEP):
        async with trio.open_nursery() as nursery:
            peer = Peer(
                client_stream,
                Connection(ConnectionType.CLIENT),
                scripted,
                server,
                server_stream,
                nursery,
            )
            nursery.start_soon(serve, nursery)
            nursery.start_soon(listen)
            await client_stream.send_all(UPGRADE)
            for step in [*script, end_of_file]:
                await trio.testing.wait_all_tasks_blocked()
                try:
                    await step(peer)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    break  # the server has closed the connection
    head, _, frames = bytes(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 "), head
    client = Connection(ConnectionType.CLIENT)
    client.receive_data(frames)
    return Outcome(
        tuple(messages),
        closed[0],
        tuple(described(event) for event in client.events()),
        len(scripted.added),
    )


SCRIPTS = [
    pytest.param(
        [
            send(TextMessage("hel", message_finished=False)),
            send(Ping(b"1")),
            send(TextMessage("lo")),
            send(CloseConnection(1000, "bye")),
        ],
        id="a message in fragments with a ping between them, then a close",
    ),
    pytest.param(
        [send(BytesMessage(b"\0\1"), CloseConnection(1001))],
        id="a binary message and a close in one write",
    ),
    pytest.param(
        [send(TextMessage("a")), report(UnknownEvent()), send(TextMessage("b"))],
        id="an unknown event between two messages",
    ),
    pytest.param(
        [send(TextMessage("a")), report(CloseConnection(1000, "late")), end_of_file],
        id="an event reported after end of file",
    ),
    pytest.param(
        [report(TextMessage("late")), stream_closed_under_the_reader],
        id="an event reported after the stream was closed under the reader",
    ),
    pytest.param(
        [vanish_after(Ping(b"x"), TextMessage("after the ping"))],
        id="a ping and a message from a client that has gone",
    ),
    pytest.param(
        [send(TextMessage("x" * (MAX_MESSAGE + 1))), send(TextMessage("after"))],
        id="a message over the size limit, then another",
    ),
    pytest.param(
        [send(TextMessage("x" * MAX_MESSAGE)), send(TextMessage("after"))],
        id="a message exactly at the size limit, then another",
    ),
    pytest.param(
        [
            send(TextMessage("x" * (MAX_MESSAGE - 1), message_finished=False)),
            send(TextMessage("yz")),
            send(TextMessage("after")),
        ],
        id="a message in fragments that goes over the size limit with its last",
    ),
    pytest.param(
        [send(Pong(b"?")), send(TextMessage("after"))],
        id="a pong nobody asked for",
    ),
    pytest.param(
        [send(CloseConnection(1005))],
        id="a close without a code",
    ),
]


@pytest.mark.parametrize("script", SCRIPTS)
async def test_our_reader_does_what_trio_websockets_does(script: list[Step]) -> None:
    assert await run("ours", script) == await run("upstream", script)


# --- ours alone: the rules, and where we differ from trio-websocket on purpose ---


async def test_an_unknown_event_is_logged_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    outcome = await run(
        "ours", [send(TextMessage("a")), report(UnknownEvent()), send(TextMessage("b"))]
    )
    assert outcome.messages == ("a", "b")
    (record,) = [r for r in caplog.records if r.name == "chat.ws.transport"]
    assert record.levelno == logging.WARNING
    assert "UnknownEvent" in record.getMessage()


@pytest.mark.parametrize(
    "abort",
    [
        pytest.param([end_of_file], id="end of file"),
        pytest.param([stream_closed_under_the_reader], id="the stream closed under the reader"),
        pytest.param([vanish_after(Ping(b"x"))], id="a pong to a client that has gone"),
    ],
)
async def test_no_event_is_handled_after_an_abort(abort: list[Step]) -> None:
    outcome = await run("ours", [report(CloseConnection(1000, "too late")), *abort])
    assert (outcome.closed, outcome.never_asked_for) == ((1006, None), 1)


async def test_a_ping_after_our_close_frame_gets_no_pong() -> None:
    # The client has not read our close frame yet. wsproto refuses to send a pong now.
    outcome = await run(
        "ours", [server_closes, send(Ping(b"crossing")), send(CloseConnection(1001))]
    )
    assert outcome.answers == (("close", 1001, "going away"),)


async def test_trio_websocket_still_fails_on_a_ping_after_its_close_frame() -> None:
    # Upstream's bug (https://github.com/python-trio/trio-websocket/issues/184) is the
    # reason `ServerConnection._handle_ping_event` checks the state.
    # Once this fails, trio-websocket has fixed it, and our check can go.
    with pytest.RaisesGroup(wsproto.utilities.LocalProtocolError, flatten_subgroups=True):
        await run("upstream", [server_closes, send(Ping(b"crossing"))])


async def test_a_message_over_the_limit_after_our_close_frame_is_dropped() -> None:
    # trio-websocket would answer it with a second close frame (1009), which wsproto
    # refuses to send.
    big = TextMessage("x" * (MAX_MESSAGE + 1))
    outcome = await run("ours", [server_closes, send(big), send(CloseConnection(1001))])
    assert outcome.answers == (("close", 1001, "going away"),)


async def test_a_client_pinging_as_the_server_closes_gets_no_pong_and_no_error_is_logged(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    ws = Connection(ConnectionType.CLIENT)
    ping = ws.send(Ping(b"crossing"))  # sent once the server's close frame has arrived
    answers: list[Event] = []
    with trio.fail_after(STEP):
        async with await trio.open_tcp_stream(server.host, server.port) as stream:
            await stream.send_all(UPGRADE)
            received = b""
            while b"\r\n\r\n" not in received:
                received += await stream.receive_some()
            head, _, rest = received.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101 "), head
            ws.receive_data(rest)
            # The support dialect closes a connection whose first call is not a login.
            await stream.send_all(ws.send(TextMessage('{"method": "message.auth", "id": 1}')))
            while not any(isinstance(answer, CloseConnection) for answer in answers):
                ws.receive_data(await stream.receive_some())
                answers.extend(ws.events())
            close = answers[-1]
            assert isinstance(close, CloseConnection) and close.code == 1008, answers
            await stream.send_all(ping + ws.send(close.response()))
            while data := await stream.receive_some():
                ws.receive_data(data)
            assert list(ws.events()) == []  # no pong
        await trio.testing.wait_all_tasks_blocked()  # the server is done with it
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
