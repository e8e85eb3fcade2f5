"""What an idle WebSocket connection holds on the server: one task, and a reader that
still works when it runs in that task (chat/ws/transport.py); one task too for a
connection that has entered a room and now only listens, and nothing of its request's
query string (its token). The memory figures themselves are benchmarks (bench/run.py,
idle-10000 and idle-100000), not tests."""

from __future__ import annotations

import json
import struct
from typing import Any

import trio
import trio.testing
from support import STEP, Server, account, create_room, http_client

from chat.ws.session.inbox import HANDLER_REST_S

UPGRADE = (
    "GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def answered_and_rested() -> None:
    """Wait until every handler has ended: each rests `HANDLER_REST_S` after its last
    frame (chat/ws/session/inbox.py) before its connection is idle."""
    await trio.testing.wait_all_tasks_blocked()
    await trio.sleep(HANDLER_REST_S)
    await trio.testing.wait_all_tasks_blocked()


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


async def open_idle(server: Server, target: str = "/") -> trio.SocketStream:
    """A WebSocket connection opened by hand (no client task), past its handshake."""
    stream = await trio.open_tcp_stream(server.host, server.port)
    head = UPGRADE.format(target=target, host=f"{server.host}:{server.port}")
    await stream.send_all(head.encode())
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


def connection_tasks() -> list[trio.lowlevel.Task]:
    """The server's tasks for the connections open (`FrontDoor._handle`)."""
    tasks, nurseries = [], list(trio.lowlevel.current_root_task().child_nurseries)
    while nurseries:
        for task in nurseries.pop().child_tasks:
            tasks.append(task)
            nurseries.extend(task.child_nurseries)
    return [t for t in tasks if awaiting(t)[0] == "FrontDoor._handle"]


def the_connections_task() -> trio.lowlevel.Task:
    """The server's task for the one connection open."""
    (connection,) = connection_tasks()
    return connection


def session_of(task: trio.lowlevel.Task) -> Any:
    """The `ClientSession` a connection's task serves (a local of `WebSocketServer.handle`)."""
    coro = task.coro
    while coro.cr_code.co_qualname != "WebSocketServer.handle":
        coro = coro.cr_await
    return coro.cr_frame.f_locals["session"]


def rooms_entered() -> list[Any]:
    """The room each open /ws connection is in, as its room protocol holds it."""
    return [session_of(task)._handler._default._room for task in connection_tasks()]


async def test_an_idle_connection_waits_four_calls_deep_in_chat(server: Server) -> None:
    # Every coroutine frame an idle connection's task waits in lives as long as the
    # connection (about 250 bytes each, times thousands of connections): the chain from
    # the accept loop's task to Trio's wait for the socket is kept this short.
    with trio.fail_after(STEP):
        stream = await open_idle(server)
        await trio.testing.wait_all_tasks_blocked()
        chain = awaiting(the_connections_task())
        assert chain[:4] == [
            "FrontDoor._handle",
            "WebSocketServer.handle",
            "ClientSession.run",
            "ServerConnection.read",
        ]
        assert chain[4] == "wait_task_rescheduled"  # Trio's (chat.ws.socket_wait)
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


async def lobby_token(server: Server) -> tuple[str, int]:
    """A new user's token, and the lobby's id."""
    alice = await account(server, "alice")
    async with http_client(server) as client:
        rooms = (await client.get("/rooms", headers=alice.auth)).json()
    return alice.token, rooms[0]  # the lobby comes first


async def read_frame(stream: trio.SocketStream, buffer: bytearray) -> Any:
    """The next text frame from the server (unmasked, under 64 KiB), as JSON."""
    while True:
        if len(buffer) >= 2:
            length, start = buffer[1] & 0x7F, 2
            if length == 126 and len(buffer) >= 4:
                length, start = struct.unpack("!H", buffer[2:4])[0], 4
            if length < 127 and len(buffer) >= start + length and (length < 126 or start == 4):
                payload = bytes(buffer[start : start + length])
                del buffer[: start + length]
                return json.loads(payload)
        chunk = await stream.receive_some()
        assert chunk, "the server closed the connection"
        buffer += chunk


async def open_entered(server: Server, token: str, room_id: int) -> trio.SocketStream:
    """A /ws connection opened by hand that has entered `room_id` and had its answer."""
    stream = await open_idle(server, f"/ws?token={token}")
    enter = {"Type": "enter", "RoomID": room_id, "Presence": False}
    await stream.send_all(masked_text_frame(json.dumps(enter)))
    assert (await read_frame(stream, bytearray()))["Type"] == "entered"
    return stream


async def test_a_connection_in_a_room_costs_the_server_one_task_once_answered(
    server: Server,
) -> None:
    # The task that handled "enter" ends once it has rested with nothing more to handle:
    # 100,000 listeners in a room would otherwise keep 100,000 of them.
    with trio.fail_after(STEP):
        token, lobby = await lobby_token(server)
        await trio.testing.wait_all_tasks_blocked()
        before = all_tasks()
        streams = [await open_entered(server, token, lobby) for _ in range(5)]
        await answered_and_rested()
        assert all_tasks() - before == 5
        for stream in streams:
            await stream.aclose()


async def test_a_connection_in_a_room_keeps_no_nursery_once_answered(server: Server) -> None:
    # The session's nursery (about 1 KiB) is open only while it has a task to run in it:
    # the handler's work done, its task waits for the socket outside any.
    with trio.fail_after(STEP):
        token, lobby = await lobby_token(server)
        stream = await open_entered(server, token, lobby)
        await answered_and_rested()
        task = the_connections_task()
        assert task.child_nurseries == []
        assert awaiting(task)[2:4] == ["ClientSession.run", "ServerConnection.read"]
        await stream.aclose()


async def test_a_connection_whose_handler_ended_still_answers_its_next_frames(
    server: Server,
) -> None:
    with trio.fail_after(STEP):
        token, lobby = await lobby_token(server)
        stream = await open_entered(server, token, lobby)
        await answered_and_rested()  # the handler has ended
        # Two frames in one write, each answered, in order.
        frames = [{"Type": "enter", "RoomID": 0}, {"Type": "enter", "RoomID": lobby}]
        await stream.send_all(b"".join(masked_text_frame(json.dumps(f)) for f in frames))
        buffer = bytearray()
        assert (await read_frame(stream, buffer))["Type"] == "left"
        assert (await read_frame(stream, buffer))["Type"] == "entered"
        await stream.aclose()


async def test_an_open_connection_keeps_only_the_path_of_its_request_target(
    server: Server,
) -> None:
    # The target's query string holds the token on /ws: kept, it would be a few
    # hundred bytes on every connection, and a secret held for nothing.
    with trio.fail_after(STEP):
        token, lobby = await lobby_token(server)
        stream = await open_entered(server, token, lobby)
        await answered_and_rested()
        assert session_of(the_connections_task())._ws.path == "/ws"
        await stream.aclose()


async def test_connections_in_one_room_hold_one_copy_of_it(server: Server) -> None:
    with trio.fail_after(STEP):
        token, lobby = await lobby_token(server)
        streams = [await open_entered(server, token, lobby) for _ in range(3)]
        await trio.testing.wait_all_tasks_blocked()
        first, *others = rooms_entered()
        assert all(room is first for room in others)
        for stream in streams:
            await stream.aclose()


async def test_a_connection_entering_a_changed_room_holds_the_room_as_it_is_now(
    server: Server,
) -> None:
    with trio.fail_after(STEP):
        owner = await account(server, "olga")
        room_id = await create_room(server, owner, "ops")
        before = await open_entered(server, owner.token, room_id)
        async with http_client(server) as client:
            changed = await client.put(
                f"/room/{room_id}/settings", headers=owner.auth, json={"Topic": "on call"}
            )
            assert changed.status_code == 200, changed.text
        after = await open_entered(server, owner.token, room_id)
        await trio.testing.wait_all_tasks_blocked()
        assert sorted(room.topic for room in rooms_entered()) == ["", "on call"]
        for stream in (before, after):
            await stream.aclose()
