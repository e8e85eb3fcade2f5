"""Taking the connections waiting in a listener's backlog without waiting
(`chat.net.accept_queue`): under a storm they meet the bounds of the servers behind the front
door (a 503 with the client's turn past the handshake bound), not a wait in the kernel's
queue."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import trio
import trio.lowlevel
import trio.testing

from chat.net.accept_queue import AcceptQueue
from chat.net.front_door import CONNECTION_TASK_NAME, TAKE_AT_ONCE, FrontDoor
from chat.net.replay_stream import ReplayStream

pytestmark = pytest.mark.server


@contextmanager
def connected(port: int, count: int) -> Iterator[list[socket.socket]]:
    """`count` plain sockets connected to `port` (the kernel completes the handshakes:
    they wait in the listener's backlog until taken), closed at the end."""
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    try:
        yield clients
    finally:
        for client in clients:
            client.close()


async def test_take_returns_every_waiting_connection_without_waiting() -> None:
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    waiting = AcceptQueue(listener)
    async with listener:
        port = listener.socket.getsockname()[1]
        with connected(port, 5):
            streams = waiting.take()
            assert len(streams) == 5
            assert waiting.take() == []
            for stream in streams:
                await stream.aclose()
        waiting.close()


async def test_take_takes_at_most_what_it_is_asked_for_and_leaves_the_rest() -> None:
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    waiting = AcceptQueue(listener)
    async with listener:
        port = listener.socket.getsockname()[1]
        with connected(port, 5):
            first = waiting.take(3)
            rest = waiting.take()
            assert (len(first), len(rest)) == (3, 2)
            for stream in first + rest:
                await stream.aclose()
        waiting.close()


async def test_the_port_stops_listening_when_the_listener_and_its_backlog_close() -> None:
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener.socket.getsockname()[1]
    waiting = AcceptQueue(listener)
    assert waiting.take() == []  # the duplicate is open now
    waiting.close()
    await listener.aclose()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port)).close()
    assert waiting.take() == []


class _Unused:
    """A server behind the front door that no connection of these tests reaches (they
    send no request head)."""

    async def handle(self, stream: ReplayStream) -> None:
        raise AssertionError("no request was sent")


async def test_the_front_door_takes_several_waiting_connections_a_step(
    nursery: trio.Nursery,
) -> None:
    door = FrontDoor("127.0.0.1", 0, http=_Unused(), websocket=_Unused())  # type: ignore[arg-type]
    (listener,) = await nursery.start(door.run)
    port = listener.socket.getsockname()[1]
    steps: dict[str, int] = {"accept loop": 0, "connections": 0}
    all_started = trio.Event()

    class Counter(trio.abc.Instrument):
        def before_task_step(self, task: trio.lowlevel.Task) -> None:
            if task.name.endswith("FrontDoor._accept_loop"):
                steps["accept loop"] += 1

        def task_spawned(self, task: trio.lowlevel.Task) -> None:
            if task.name == CONNECTION_TASK_NAME:
                steps["connections"] += 1
                if steps["connections"] == 50:
                    all_started.set()

    counter = Counter()
    await trio.testing.wait_all_tasks_blocked()
    trio.lowlevel.add_instrument(counter)
    try:
        # Connected with no await between: all fifty wait in the backlog together.
        with connected(port, 50):
            with trio.fail_after(10):
                await all_started.wait()
    finally:
        trio.lowlevel.remove_instrument(counter)
    # Each step took the one it accepted and up to TAKE_AT_ONCE more (not one a step: 50).
    assert steps["accept loop"] <= -(-50 // (TAKE_AT_ONCE + 1)) + 1
