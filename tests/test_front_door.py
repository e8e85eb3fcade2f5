"""One port, two servers: the seam between our front door, Hypercorn and trio-websocket.

These tests speak raw bytes over a socket, so they see exactly what a client sees:
where a connection is handed over mid-stream, what bytes arrive first, when the server
closes its side.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import trio
import trio.testing
from cluster import LISTENING, start_process, wait_for_log
from support import STEP, TEST_SECRET, Server, chat_environ, read_until_closed, start_server

from chat.core.config import Config
from chat.http.server import KEEP_ALIVE_TIMEOUT_S
from chat.net.front_door import MAX_HEAD_BYTES, is_websocket_upgrade, read_request_head
from chat.net.replay_stream import ReplayStream, write_now

UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def _read_until(stream: trio.SocketStream, marker: bytes, buffer: bytes = b"") -> bytes:
    with trio.fail_after(STEP):
        while marker not in buffer:
            data = await stream.receive_some()
            assert data, f"connection closed before {marker!r}; got {buffer!r}"
            buffer += data
    return buffer


async def _read_response(stream: trio.SocketStream, buffer: bytes = b"") -> tuple[bytes, bytes]:
    """One HTTP response (head and Content-Length body) and whatever followed it."""
    buffer = await _read_until(stream, b"\r\n\r\n", buffer)
    head, _, rest = buffer.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        rest = await _read_until(stream, b"", rest + await stream.receive_some())
    return head + b"\r\n\r\n" + rest[:length], rest[length:]


async def _wait_for_eof(stream: trio.SocketStream) -> None:
    with trio.fail_after(STEP):
        while await stream.receive_some():
            pass


#: The open-file limit of the server that runs out of them: what it needs to start (its
#: database, its event loop, worker threads' files) and a few dozen more.
FEW_FILES = 64


def _masked_text_frame(text: str) -> bytes:
    """A client-to-server WebSocket text frame (RFC 6455 5.2), masked with a zero key."""
    payload = text.encode()
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + b"\0\0\0\0" + payload


# --- unit: the pieces of the seam ---


@pytest.mark.parametrize(
    "head,expected",
    [
        (UPGRADE, True),
        (UPGRADE.replace(b"Upgrade: websocket", b"upgrade:  WebSocket"), True),
        (UPGRADE.replace(b"Upgrade: websocket", b"Upgrade: foo, websocket"), True),
        (UPGRADE.replace(b"GET ", b"POST "), False),
        (UPGRADE.replace(b"Upgrade: websocket", b"Upgrade: h2c"), False),
        (b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", False),
        (UPGRADE[:-2], False),  # head not complete
    ],
)
def test_is_websocket_upgrade(head: bytes, expected: bool) -> None:
    ours, theirs = trio.socket.socketpair()
    with ours, theirs:
        assert (
            is_websocket_upgrade(ReplayStream(trio.SocketStream(ours), head, peer="p")) is expected
        )


def test_a_heads_headers_are_found_by_name_until_it_is_forgotten() -> None:
    head = UPGRADE.replace(
        b"\r\n\r\n", b"\r\nX-Forwarded-For: 10.0.0.1\r\nx-forwarded-for:  10.0.0.2 \r\n\r\n"
    )
    ours, theirs = trio.socket.socketpair()
    with ours, theirs:
        replay = ReplayStream(trio.SocketStream(ours), head, peer="p")
        assert replay.header_values(b"x-forwarded-for") == [b"10.0.0.1", b"10.0.0.2"]
        assert replay.header_values(b"host") == [b"localhost"]
        assert replay.header_values(b"cookie") == []
        replay.forget_head()
        assert replay.header_values(b"host") == []


async def test_write_now_writes_what_the_socket_takes_and_gives_up_once_the_peer_is_gone() -> None:
    answer = b"HTTP/1.1 503 \r\n\r\n"
    ours, theirs = trio.socket.socketpair()
    with ours, theirs:
        stream = trio.SocketStream(ours)
        assert write_now(stream, answer) == len(answer)
        while write_now(stream, b"x" * 65536):
            pass  # until the socket's buffers are full
        assert write_now(stream, answer) == 0
        theirs.close()
        assert write_now(stream, answer) == len(answer)  # nothing more can be written


async def test_a_head_the_socket_holds_already_is_read_without_waiting() -> None:
    ours, theirs = trio.socket.socketpair()
    with ours, theirs:
        await theirs.send(UPGRADE + b"after")
        with trio.testing.assert_no_checkpoints():
            assert await read_request_head(trio.SocketStream(ours)) == UPGRADE + b"after"


async def test_a_head_that_arrives_in_parts_is_read_to_its_end(nursery: trio.Nursery) -> None:
    ours, theirs = trio.socket.socketpair()
    with ours, theirs:
        await theirs.send(UPGRADE[:20])

        async def the_rest() -> None:
            await trio.sleep(0.05)
            await theirs.send(UPGRADE[20:])

        nursery.start_soon(the_rest)
        assert await read_request_head(trio.SocketStream(ours)) == UPGRADE


async def test_a_head_not_finished_in_time_is_none(autojump_clock: trio.testing.MockClock) -> None:
    ours, theirs = trio.socket.socketpair()
    with ours, theirs:
        await theirs.send(UPGRADE[:20])
        assert await read_request_head(trio.SocketStream(ours)) is None


async def test_a_connection_closed_before_its_head_gives_what_it_sent() -> None:
    ours, theirs = trio.socket.socketpair()
    with ours:
        with theirs:
            await theirs.send(UPGRADE[:20])
        assert await read_request_head(trio.SocketStream(ours)) == UPGRADE[:20]


def test_replay_stream_exposes_socket_and_is_not_mistaken_for_tls() -> None:
    # Hypercorn's TCPServer treats any stream with do_handshake as TLS.
    assert not hasattr(ReplayStream, "do_handshake")
    assert isinstance(ReplayStream.__dict__["socket"], property)


async def test_replay_stream_returns_the_prefix_before_the_socket_data() -> None:
    left, right = trio.socket.socketpair()
    async with trio.SocketStream(left) as a, trio.SocketStream(right) as b:
        replay = ReplayStream(a, b"hello ", peer="p")
        await b.send_all(b"world")
        assert await replay.receive_some(3) == b"hel"
        assert await replay.receive_some() == b"lo "
        assert await replay.receive_some() == b"world"


# --- HTTP through the front door ---


async def test_a_keep_alive_connection_serves_several_requests(server: Server) -> None:
    async with await trio.open_tcp_stream(server.host, server.port) as stream:
        rest = b""
        for _ in range(3):
            await stream.send_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            response, rest = await _read_response(stream, rest)
            assert response.startswith(b"HTTP/1.1 200")
            assert response.endswith(b'{"status":"ok"}\n')


@pytest.mark.parametrize(
    "extra_header",
    [b"", b"Upgrade: not-a-websocket\r\n"],  # the second pauses Hypercorn's reader
    ids=["plain", "unknown-upgrade"],
)
async def test_a_keep_alive_connection_the_client_closes_is_let_go_at_once(
    nursery: trio.Nursery, config: Config, extra_header: bytes
) -> None:
    # One connection per address: the next one is served only once the server has let
    # go of the first, which it used to hold (CLOSE_WAIT) for the whole keep-alive
    # timeout when the close came after its keep-alive timer was re-armed.
    server = await start_server(
        nursery, config.replace(rate_limits=True, max_connections_per_address=1)
    )
    request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n" + extra_header + b"\r\n"
    async with await trio.open_tcp_stream(server.host, server.port) as stream:
        await stream.send_all(request)
        response, _ = await _read_response(stream)
        assert response.startswith(b"HTTP/1.1 200")
        await trio.sleep(0.1)  # idle now: the server's keep-alive timer runs
    with trio.fail_after(KEEP_ALIVE_TIMEOUT_S / 2):
        while True:
            async with await trio.open_tcp_stream(server.host, server.port) as stream:
                await stream.send_all(request)
                response, _ = await _read_response(stream)
            if response.startswith(b"HTTP/1.1 200"):
                break
            assert response.startswith(b"HTTP/1.1 429"), response
            await trio.sleep(0.02)


async def test_pipelined_requests_in_one_packet_are_all_answered(server: Server) -> None:
    async with await trio.open_tcp_stream(server.host, server.port) as stream:
        await stream.send_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n" * 2)
        first, rest = await _read_response(stream)
        second, _ = await _read_response(stream, rest)
    assert first.startswith(b"HTTP/1.1 200") and second.startswith(b"HTTP/1.1 200")


async def test_a_request_head_split_across_packets_is_reassembled(server: Server) -> None:
    body = json.dumps({"username": "alice", "password": "wonderland"}).encode()
    request = (
        b"POST /api/reg HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    async with await trio.open_tcp_stream(server.host, server.port) as stream:
        for i in range(0, len(request), 7):
            await stream.send_all(request[i : i + 7])
            await trio.sleep(0.001)
        response, _ = await _read_response(stream)
    assert response.startswith(b"HTTP/1.1 201")
    assert b'"token"' in response


async def test_connection_close_makes_the_server_close_its_side(server: Server) -> None:
    async with await trio.open_tcp_stream(server.host, server.port) as stream:
        await stream.send_all(
            b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        response, rest = await _read_response(stream)
        assert response.startswith(b"HTTP/1.1 200")
        assert rest == b""
        await _wait_for_eof(stream)


async def test_an_oversized_request_head_gets_an_http_error_not_a_crash(server: Server) -> None:
    huge = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES * 2)
    huge += b"\r\n\r\n"
    async with await trio.open_tcp_stream(server.host, server.port) as stream:
        try:
            await stream.send_all(huge)
        except trio.BrokenResourceError:
            pass  # the server may answer and close before reading it all
        response = await _read_until(stream, b"\r\n")
    assert response.split(b" ")[1] == b"431"
    # ...and the server still serves everyone else.
    async with await trio.open_tcp_stream(server.host, server.port) as stream:
        await stream.send_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        response, _ = await _read_response(stream)
    assert response.startswith(b"HTTP/1.1 200")


async def test_a_client_that_sends_nothing_does_not_block_others(server: Server) -> None:
    silent = await trio.open_tcp_stream(server.host, server.port)
    async with silent, await trio.open_tcp_stream(server.host, server.port) as stream:
        await stream.send_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        response, _ = await _read_response(stream)
    assert response.startswith(b"HTTP/1.1 200")


# --- WebSocket through the front door ---


async def test_a_raw_upgrade_is_answered_101_and_frames_flow_after_the_handover(
    server: Server,
) -> None:
    # RFC 6455 4.1: the client waits for the 101 before it sends frames.
    async with await trio.open_tcp_stream(server.host, server.port) as stream:
        await stream.send_all(UPGRADE)
        response = await _read_until(stream, b"\r\n\r\n")
        assert response.startswith(b"HTTP/1.1 101")
        await stream.send_all(_masked_text_frame("not json"))
        frames = await _read_until(stream, b"not valid JSON", response.partition(b"\r\n\r\n")[2])
    assert b'"error"' in frames


async def test_an_upgrade_after_http_requests_on_one_connection_becomes_a_websocket(
    server: Server,
) -> None:
    # What a proxy that keeps connections to the server alive does: an HTTP request,
    # then, on the same connection, a WebSocket upgrade.
    async with await trio.open_tcp_stream(server.host, server.port) as stream:
        await stream.send_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        response, rest = await _read_response(stream)
        assert response.startswith(b"HTTP/1.1 200")
        await stream.send_all(UPGRADE)
        response = await _read_until(stream, b"\r\n\r\n", rest)
        assert response.startswith(b"HTTP/1.1 101")
        await stream.send_all(_masked_text_frame("not json"))
        frames = await _read_until(stream, b"not valid JSON", response.partition(b"\r\n\r\n")[2])
    assert b'"error"' in frames


async def test_an_upgrade_after_http_requests_is_refused_like_any_other_when_its_token_is_bad(
    server: Server,
) -> None:
    async with await trio.open_tcp_stream(server.host, server.port) as stream:
        await stream.send_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        _response, rest = await _read_response(stream)
        await stream.send_all(UPGRADE.replace(b"GET / ", b"GET /ws?token=forged "))
        response, _ = await _read_response(stream, rest)
    assert response.startswith(b"HTTP/1.1 401")
    assert b"token" in response


async def test_http_and_websocket_are_served_on_the_same_port_at_once(
    server: Server, clients
) -> None:
    chatter = await clients.talker()
    async with await trio.open_tcp_stream(server.host, server.port) as stream:
        await stream.send_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        response, _ = await _read_response(stream)
        assert response.startswith(b"HTTP/1.1 200")
    await chatter.ws.send_message("still open")
    assert "not valid JSON" in (await chatter.receive())["error"]


async def test_an_upgrade_turned_away_gets_its_whole_answer_and_the_servers_end(
    server: Server,
) -> None:
    request = UPGRADE.replace(b"Host: localhost", b"Host: evil.example")
    async with await trio.open_tcp_stream(server.host, server.port) as stream:
        await stream.send_all(request)
        answer = await read_until_closed(stream)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert answer.endswith(b"}")  # the whole JSON body, then the server's end


async def test_an_upgrade_turned_away_with_more_sent_after_it_still_gets_its_whole_answer(
    server: Server,
) -> None:
    # Bytes sent after the head are still unread when the server answers: it reads them
    # away before it closes, as closing on unread bytes resets the connection, and a
    # reset can destroy the answer before the client reads it.
    request = UPGRADE.replace(b"Host: localhost", b"Host: evil.example") + b"x" * 100_000
    async with (
        await trio.open_tcp_stream(server.host, server.port) as stream,
        trio.open_nursery() as sending,
    ):
        sending.start_soon(stream.send_all, request)
        answer = await read_until_closed(stream)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert answer.endswith(b"}")


# --- the accept loop ---


async def test_a_server_out_of_file_descriptors_serves_again_once_some_are_free(
    tmp_path: Path,
) -> None:
    # A `chat serve` allowed few open files: idle connections use them all up, accept
    # fails with EMFILE (said in the log), and the connections waiting in the backlog
    # are served as soon as some close; the accept loop never stops.
    config = Config(
        host="127.0.0.1", port=0, data_dir=tmp_path / "data", jwt_secret=TEST_SECRET, bcrypt_cost=4
    )
    command = [sys.executable, "-m", "chat", "serve"]
    log_path = tmp_path / "serve.log"
    limited = await start_process(
        ["prlimit", f"--nofile={FEW_FILES}:{FEW_FILES}", *command],
        log_path,
        env=chat_environ(config),
    )
    try:
        match = await wait_for_log(limited, LISTENING, "chat serve")
        host, port = match.group(1).decode(), int(match.group(2))
        hogs = []
        try:
            with trio.fail_after(STEP):
                # Connections the server cannot accept wait in its backlog: connect works.
                while b"EMFILE" not in log_path.read_bytes():
                    assert len(hogs) < FEW_FILES, "the server accepted more than it may open"
                    hogs.append(await trio.open_tcp_stream(host, port))
                    await trio.sleep(0.01)
            waiting = await trio.open_tcp_stream(host, port)  # in the backlog
        finally:
            for hog in hogs:
                await hog.aclose()
        async with waiting:
            await waiting.send_all(b"GET /livez HTTP/1.1\r\nHost: localhost\r\n\r\n")
            response, _ = await _read_response(waiting)
        assert response.startswith(b"HTTP/1.1 200")
        assert limited.running
    finally:
        await limited.stop()
    assert "cannot accept connections: EMFILE" in limited.log
