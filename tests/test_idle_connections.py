"""What an idle WebSocket connection holds on the server: one task, and a reader that
still works when it runs in that task (chat/ws/transport.py). The memory figure itself
is a benchmark (bench/run.py, idle-10000), not a test."""

from __future__ import annotations

import struct

import trio
import trio.testing
from support import STEP, Server

UPGRADE = (
    "GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def all_tasks() -> int:
    """How many tasks this Trio run has, the server's and the test's."""
    count, nurseries = 0, list(trio.lowlevel.current_root_task().child_nurseries)
    while nurseries:
        for task in nurseries.pop().child_tasks:
            count += 1
            nurseries.extend(task.child_nurseries)
    return count


def masked_text_frame(text: str) -> bytes:
    """A client's text frame (masked with a zero key, which leaves the payload as is)."""
    payload = text.encode()
    assert len(payload) < 126
    return struct.pack("!BB", 0x81, 0x80 | len(payload)) + b"\0\0\0\0" + payload


async def open_idle(server: Server) -> trio.SocketStream:
    """A WebSocket connection opened by hand (no client task), past its handshake."""
    stream = await trio.open_tcp_stream(server.host, server.port)
    await stream.send_all(UPGRADE.format(host=f"{server.host}:{server.port}").encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += await stream.receive_some()
    assert response.startswith(b"HTTP/1.1 101 "), response
    return stream


async def test_an_idle_connection_costs_the_server_one_task(server: Server) -> None:
    with trio.fail_after(STEP):
        await trio.testing.wait_all_tasks_blocked()
        before = all_tasks()
        streams = [await open_idle(server) for _ in range(5)]
        await trio.testing.wait_all_tasks_blocked()
        assert all_tasks() - before == 5
        for stream in streams:
            await stream.aclose()


def awaiting(task: trio.lowlevel.Task) -> list[str]:
    """The coroutines a waiting task is suspended in, outermost first (`cr_await`)."""
    chain, coro = [], task.coro
    while coro is not None and hasattr(coro, "cr_code"):
        chain.append(coro.cr_code.co_qualname)
        coro = coro.cr_await
    return chain


async def test_an_idle_connection_waits_five_calls_deep_in_chat(server: Server) -> None:
    # Every coroutine frame an idle connection's task waits in lives as long as the
    # connection (about 250 bytes each, times thousands of connections): the chain from
    # the accept loop's task to Trio's wait for the socket is kept this short.
    with trio.fail_after(STEP):
        stream = await open_idle(server)
        await trio.testing.wait_all_tasks_blocked()
        tasks, nurseries = [], list(trio.lowlevel.current_root_task().child_nurseries)
        while nurseries:
            for task in nurseries.pop().child_tasks:
                tasks.append(task)
                nurseries.extend(task.child_nurseries)
        (connection,) = [t for t in tasks if awaiting(t)[0] == "FrontDoor._handle"]
        chain = awaiting(connection)
        assert chain[:5] == [
            "FrontDoor._handle",
            "WebSocketServer.handle",
            "ClientSession.run",
            "ServerConnection.get_message",
            "ServerConnection._read",
        ]
        assert chain[5] == "wait_readable"  # Trio's, from here on
        await stream.aclose()


async def test_frames_arriving_in_one_read_are_all_answered(server: Server) -> None:
    with trio.fail_after(STEP):
        stream = await open_idle(server)
        # Three requests in one write: the reader parses them from one read, and the
        # receive loop must get every one before the reader reads the socket again.
        await stream.send_all(b"".join(masked_text_frame("ping") for _ in range(3)))
        received = b""
        while received.count(b"pong") < 3:
            chunk = await stream.receive_some()
            assert chunk, received
            received += chunk
        await stream.aclose()
