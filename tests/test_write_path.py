"""The WebSocket write path below trio-websocket: frames written directly when nothing
else is being written, queued for the writer task otherwise, never reordered, never
interleaved with trio-websocket's own frames (pongs, the close handshake)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
from support import STEP, Clients, Server, register
from trio_websocket import ConnectionClosed

from chat.core.frames import text_frame
from chat.net.replay_stream import ReplayStream
from chat.ws.stream import DirectWriteStream, Written


def test_text_frames_are_encoded_with_the_right_length_header() -> None:
    assert text_frame("hi") == b"\x81\x02hi"
    medium = text_frame("x" * 300)
    assert medium[:4] == b"\x81\x7e\x01\x2c" and len(medium) == 304
    large = text_frame("y" * 70000)
    assert large[:2] == b"\x81\x7f" and int.from_bytes(large[2:10], "big") == 70000


@asynccontextmanager
async def _pair() -> AsyncIterator[tuple[DirectWriteStream, trio.SocketStream]]:
    left, right = trio.socket.socketpair()
    left.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_SNDBUF, 4096)
    right.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_RCVBUF, 4096)
    writer = DirectWriteStream(ReplayStream(trio.SocketStream(left), b"", peer="p"))
    async with writer, trio.SocketStream(right) as reader:
        yield writer, reader


async def _read_exactly(stream: trio.SocketStream, size: int) -> bytes:
    data = bytearray()
    with trio.fail_after(STEP):
        while len(data) < size:
            data += await stream.receive_some(size - len(data))
    return bytes(data)


async def test_a_partial_direct_write_is_finished_before_any_other_write() -> None:
    async with _pair() as (writer, reader):
        await _partial_write_then_pong(writer, reader)


async def _partial_write_then_pong(writer: DirectWriteStream, reader: trio.SocketStream) -> None:
    big = bytes(range(256)) * 4096  # 1 MiB: far more than the socket takes at once
    assert writer.try_write(big) is Written.PARTLY
    # Nothing may be written directly while the rest is pending...
    assert writer.try_write(b"overtaker") is Written.NOT_NOW

    async def pong() -> None:
        # ...and an asynchronous write (trio-websocket's pong, say) goes after it.
        await writer.send_all(b"PONG")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(pong)
        received = await _read_exactly(reader, len(big) + 4)
    assert received == big + b"PONG"
    assert writer.try_write(b"now") is Written.ALL
    assert await _read_exactly(reader, 3) == b"now"


async def test_no_direct_write_while_an_asynchronous_write_holds_the_lock() -> None:
    async with _pair() as (writer, reader):
        async with writer.write_turn():
            assert writer.try_write(b"x") is Written.NOT_NOW
        assert writer.try_write(b"x") is Written.ALL
        assert await _read_exactly(reader, 1) == b"x"


async def test_a_client_that_falls_behind_and_catches_up_gets_everything_in_order(
    server: Server, clients: Clients
) -> None:
    # A small receive buffer and no reading for a while: the server's direct writes
    # stop being possible, frames queue for the writer, and then flow again.
    slow = await clients.connect("/", receive_buffer=4096)
    sender = await clients.talker(token=await register(server, "alice"))
    texts = [f"{i:04d} " + "z" * 2000 for i in range(300)]
    for text in texts:
        await sender.say(text)
    await sender.sync()
    received = []
    with trio.fail_after(STEP):
        while len(received) < len(texts):
            received.append(json.loads(await slow.get_message())["message"])
    assert received == texts


async def test_pings_are_answered_while_frames_are_queued(server: Server, clients: Clients) -> None:
    slow = await clients.connect("/", receive_buffer=4096)
    sender = await clients.talker(token=await register(server, "alice"))
    for i in range(100):
        await sender.say(f"{i:03d} " + "p" * 3000)
    await sender.sync()
    # trio-websocket answers the ping through the same stream, after whatever part of
    # a frame is already on its way: the frames still parse, and the pong arrives.
    with trio.fail_after(STEP):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(slow.ping, b"are you there")
            got = [json.loads(await slow.get_message())["message"][:3] for _ in range(100)]
    assert got == [f"{i:03d}" for i in range(100)]


async def test_a_dialect_close_comes_after_the_frames_queued_before_it(
    server: Server, clients: Clients
) -> None:
    ws = await clients.connect("/v1/ws")
    await ws.send_message(json.dumps({"method": "message.send", "params": ["x"], "id": 1}))
    with trio.fail_after(STEP):
        answer = json.loads(await ws.get_message())  # the error frame comes first...
        assert answer["error"]["code"] == 3
        try:
            await ws.get_message()
        except ConnectionClosed as closed:  # ...then the close frame
            assert closed.reason.code == 1008
        else:
            raise AssertionError("the connection stayed open")
