"""`DirectWriteStream.read_now`: the reader's read in the step Trio said the socket was
readable, without `receive_some`'s second step. It must return what `receive_some`
would, and report a closed or broken stream as `receive_some` does."""

from __future__ import annotations

import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
from support import STEP

from chat.net.replay_stream import ReplayStream
from chat.ws.socket_wait import readable
from chat.ws.stream import DirectWriteStream


@asynccontextmanager
async def _pair(head: bytes = b"") -> AsyncIterator[tuple[DirectWriteStream, trio.SocketStream]]:
    ours, theirs = trio.socket.socketpair()
    stream = DirectWriteStream(ReplayStream(trio.SocketStream(ours), head, peer="p"))
    async with stream, trio.SocketStream(theirs) as peer:
        yield stream, peer


async def test_what_the_peer_sent_is_read_once_the_socket_is_readable() -> None:
    async with _pair() as (stream, peer):
        await peer.send_all(b"frame")
        with trio.fail_after(STEP):
            await readable(stream.socket)
        assert stream.read_now() == b"frame"


async def test_nothing_to_read_is_none_not_an_empty_read() -> None:
    async with _pair() as (stream, _peer):
        assert stream.read_now() is None  # b"" would mean the peer closed


async def test_the_peer_closing_is_an_empty_read() -> None:
    async with _pair() as (stream, peer):
        await peer.aclose()
        with trio.fail_after(STEP):
            await readable(stream.socket)
        assert stream.read_now() == b""


async def test_at_most_max_bytes_are_read_and_the_rest_stays() -> None:
    async with _pair() as (stream, peer):
        await peer.send_all(b"abcdef")
        with trio.fail_after(STEP):
            await readable(stream.socket)
        assert stream.read_now(4) == b"abcd"
        assert stream.read_now(4) == b"ef"


async def test_the_replayed_head_is_left_to_receive_some() -> None:
    async with _pair(head=b"GET / HTTP/1.1\r\n\r\n") as (stream, peer):
        await peer.send_all(b"after")
        assert stream.read_now() is None  # the head first, and only receive_some has it
        assert await stream.receive_some() == b"GET / HTTP/1.1\r\n\r\n"


async def test_a_closed_stream_reads_nothing_here() -> None:
    async with _pair() as (stream, peer):
        await peer.send_all(b"late")
        await stream.aclose()
        assert stream.read_now() is None  # the fd may be another socket's by now
        with pytest.raises(trio.ClosedResourceError):
            await stream.receive_some()


@pytest.mark.server  # TCP on loopback: a socket pair cannot be reset
async def test_a_reset_connection_is_a_broken_stream() -> None:
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = trio.socket.socket()
    await client.connect(listener.getsockname())
    accepted, _ = await listener.accept()
    stream = DirectWriteStream(ReplayStream(trio.SocketStream(accepted), b"", peer="p"))
    # Closing with a zero linger sends RST: the next read on our side fails.
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()
    listener.close()
    async with stream:
        with trio.fail_after(STEP):
            await readable(stream.socket)
        with pytest.raises(trio.BrokenResourceError):
            stream.read_now()
