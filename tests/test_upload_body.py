"""Backpressure on a streamed request body (chat/http/upload_body.py): Quart's reading
task takes no more of ``POST /files``'s body than the route has room for, so a client
faster than the disk is held back by TCP instead of piling its upload up in memory
(bench/upload_memory.py measures the server's RSS; docs/PERFORMANCE.md has the figures).
Driven here through the ASGI messages Hypercorn would send, with a route that reads
slowly."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import trio

from chat.http.upload_body import HIGH_WATER_BYTES, StreamedBody, StreamingHttpConnection

MESSAGE_BYTES = 64 * 1024


@dataclass
class _Request:
    body: Any


async def test_the_body_is_read_no_further_than_the_route_has_room_for() -> None:
    data = os.urandom(100 * MESSAGE_BYTES)
    messages_send, messages_receive = trio.open_memory_channel[dict[str, Any]](0)
    body = StreamedBody(len(data), None)
    connection = StreamingHttpConnection.__new__(StreamingHttpConnection)
    held: list[int] = []
    received = bytearray()

    async def client() -> None:
        for start in range(0, len(data), MESSAGE_BYTES):
            more = start + MESSAGE_BYTES < len(data)
            chunk = data[start : start + MESSAGE_BYTES]
            await messages_send.send({"type": "http.request", "body": chunk, "more_body": more})
            held.append(len(body._data))

    async def slow_route() -> None:
        await trio.sleep(0.2)  # the client may send all it can meanwhile
        async for chunk in body:
            received.extend(chunk)
            await trio.sleep(0.001)
        nursery.cancel_scope.cancel()  # answered: Quart ends the request's tasks

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client)
            nursery.start_soon(slow_route)
            nursery.start_soon(
                connection.handle_messages, nursery, _Request(body), messages_receive.receive
            )
    assert bytes(received) == data
    assert max(held) <= HIGH_WATER_BYTES + MESSAGE_BYTES


async def test_a_body_refused_for_its_length_is_not_buffered_while_it_is_read() -> None:
    """Over its limit from the start (a Content-Length past it): the route is refused at
    its first read, and what still comes is dropped, not kept."""
    body = StreamedBody(10 * MESSAGE_BYTES, MESSAGE_BYTES)
    messages_send, messages_receive = trio.open_memory_channel[dict[str, Any]](100)
    for _ in range(10):
        messages_send.send_nowait(
            {"type": "http.request", "body": b"x" * MESSAGE_BYTES, "more_body": True}
        )
    messages_send.send_nowait({"type": "http.disconnect"})
    connection = StreamingHttpConnection.__new__(StreamingHttpConnection)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await connection.handle_messages(nursery, _Request(body), messages_receive.receive)
    assert len(body._data) == 0
