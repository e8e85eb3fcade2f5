"""Hostile frames: a WebSocket protocol error is answered with RFC 6455's close code.

A client that breaks the framing rules (RFC 6455 5.2-5.5, 7.4) must get a close frame
that says what it did wrong (1002 protocol error, 1007 invalid payload data, 1009 too
big), and then the server closes the TCP connection, without waiting for an answer
(7.1.7, "Fail the WebSocket Connection"). It is not a bug on our side: nothing is logged
as an error, and every other client carries on.

These tests speak raw bytes over a socket, so they build frames no well-behaved library
would send, and see exactly what the server sends back. A protocol error is handled
before any frame reaches the dialects, so the store is never involved; they still run
on both backends, like every other server test, so that no backend is taken on trust.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass

import pytest
import trio
from support import STEP, Clients, Server, register

CONTINUATION, TEXT, BINARY, CLOSE, PING = 0x0, 0x1, 0x2, 0x8, 0x9

UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)

#: Not all zeros, so a server that forgot to unmask would read garbage.
MASKING_KEY = b"\x37\xfa\x21\x3d"


def frame(
    opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, masked: bool = True
) -> bytes:
    """One client-to-server frame (RFC 6455 5.2), as hostile as asked: any opcode, any
    RSV bits (`rsv` is RSV1-RSV3 as a 3-bit number), any payload size, masked or not."""
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mask_bit = 0x80 if masked else 0
    size = len(payload)
    if size < 126:
        head += bytes([mask_bit | size])
    elif size < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", size)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", size)
    if not masked:
        return head + payload
    key = MASKING_KEY * (size // 4 + 1)
    return head + MASKING_KEY + bytes(b ^ k for b, k in zip(payload, key, strict=False))


def close_frame(code: int, reason: bytes = b"") -> bytes:
    return frame(CLOSE, struct.pack("!H", code) + reason)


@dataclass(frozen=True)
class ServerFrame:
    opcode: int
    payload: bytes

    @property
    def close_code(self) -> int:
        assert self.opcode == CLOSE, f"expected a close frame, got opcode {self.opcode:#x}"
        assert len(self.payload) >= 2, "the close frame carries no code"
        return struct.unpack("!H", self.payload[:2])[0]


class RawClient:
    """A WebSocket client that is nothing but a socket: it sends what it is given and
    parses what the server sends back (server frames are never masked)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self._buffer = b""

    async def _fill(self, size: int) -> bool:
        """Read until `size` bytes are buffered; False at EOF."""
        with trio.fail_after(STEP):
            while len(self._buffer) < size:
                data = await self.stream.receive_some()
                if not data:
                    return False
                self._buffer += data
        return True

    async def send(self, data: bytes) -> None:
        with trio.fail_after(STEP):
            await self.stream.send_all(data)

    async def upgrade(self) -> None:
        await self.send(UPGRADE)
        with trio.fail_after(STEP):
            while b"\r\n\r\n" not in self._buffer:
                data = await self.stream.receive_some()
                assert data, f"connection closed during the upgrade; got {self._buffer!r}"
                self._buffer += data
        head, _, self._buffer = self._buffer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 "), head

    async def next_frame(self) -> ServerFrame:
        assert await self._fill(2), "the connection closed without a close frame"
        first, second = self._buffer[0], self._buffer[1]
        size, start = second & 0x7F, 2
        if size == 126:
            assert await self._fill(4)
            size, start = struct.unpack("!H", self._buffer[2:4])[0], 4
        elif size == 127:
            assert await self._fill(10)
            size, start = struct.unpack("!Q", self._buffer[2:10])[0], 10
        assert await self._fill(start + size), "the connection closed in the middle of a frame"
        payload = self._buffer[start : start + size]
        self._buffer = self._buffer[start + size :]
        return ServerFrame(first & 0x0F, payload)

    async def at_eof(self) -> bool:
        """True if the server closed the connection after what was read so far."""
        return not self._buffer and not await self._fill(1)


async def fail_with(server: Server, *frames: bytes) -> tuple[ServerFrame, bool]:
    """Open a WebSocket on a raw socket, send `frames`; the frame the server answers with,
    and whether the connection ended right after it."""
    async with await trio.open_tcp_stream(server.host, server.port) as stream:
        client = RawClient(stream)
        await client.upgrade()
        await client.send(b"".join(frames))
        answer = await client.next_frame()
        return answer, await client.at_eof()


def oversized_message(max_bytes: int, pieces: int) -> list[bytes]:
    """A text message one byte over `max_bytes`, in `pieces` frames. All of it is sent,
    and the server reads every byte before it answers, so its close frame is not lost to
    a reset for unread data."""
    message = b"x" * (max_bytes + 1)
    size = len(message) // pieces + 1
    parts = [message[i : i + size] for i in range(0, len(message), size)]
    assert len(parts) == pieces
    last = len(parts) - 1
    return [
        frame(TEXT if i == 0 else CONTINUATION, part, fin=i == last) for i, part in enumerate(parts)
    ]


PROTOCOL_ERRORS = [
    pytest.param([frame(TEXT, b"caf\xc3")], 1007, id="invalid UTF-8 in a text frame"),
    pytest.param(
        [frame(TEXT, b"ok \xc3", fin=False), frame(CONTINUATION, b"(")],
        1007,
        id="invalid UTF-8 across fragments",
    ),
    pytest.param([close_frame(1000, b"\xff")], 1007, id="invalid UTF-8 in a close reason"),
    pytest.param([frame(0x3, b"x")], 1002, id="a reserved data opcode"),
    pytest.param([frame(0xB)], 1002, id="a reserved control opcode"),
    pytest.param([frame(TEXT, b"ping", masked=False)], 1002, id="an unmasked frame"),
    pytest.param([frame(PING, b"x" * 126)], 1002, id="a ping with 126 bytes of payload"),
    pytest.param([frame(PING, b"x", fin=False)], 1002, id="a fragmented ping"),
    pytest.param([frame(TEXT, b"ping", rsv=0b100)], 1002, id="RSV1 set"),
    pytest.param([frame(TEXT, b"ping", rsv=0b011)], 1002, id="RSV2 and RSV3 set"),
    pytest.param([frame(CONTINUATION, b"ping")], 1002, id="a continuation without a start"),
    pytest.param(
        [frame(TEXT, b"pi", fin=False), frame(BINARY, b"ng")],
        1002,
        id="a new message inside a fragmented one",
    ),
    pytest.param([frame(CLOSE, b"\x03")], 1002, id="a close frame with a one-byte payload"),
    *(
        pytest.param([close_frame(code)], 1002, id=f"close code {code}")
        for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535)
    ),
]


async def test_well_formed_hand_built_frames_are_answered_normally(server: Server) -> None:
    # The frames below are only wrong where each case says: built right, a ping is
    # answered with a pong, and a close frame with a 1000.
    async with await trio.open_tcp_stream(server.host, server.port) as stream:
        client = RawClient(stream)
        await client.upgrade()
        await client.send(frame(PING, b"hello"))
        assert await client.next_frame() == ServerFrame(0xA, b"hello")
        await client.send(close_frame(1000))
        assert (await client.next_frame()).close_code == 1000
        assert await client.at_eof()


@pytest.mark.parametrize(("frames", "code"), PROTOCOL_ERRORS)
async def test_a_protocol_error_gets_its_close_code_then_the_connection_ends(
    server: Server, frames: list[bytes], code: int
) -> None:
    answer, ended = await fail_with(server, *frames)
    assert (answer.close_code, ended) == (code, True)


@pytest.mark.parametrize(
    ("frames", "reason"),
    [
        pytest.param([frame(TEXT, b"caf\xc3")], b"invalid UTF-8", id="1007"),
        pytest.param([frame(0x3)], b"Invalid opcode 0x3", id="1002"),
    ],
)
async def test_the_close_frame_says_briefly_what_was_wrong(
    server: Server, frames: list[bytes], reason: bytes
) -> None:
    answer, _ = await fail_with(server, *frames)
    assert answer.payload[2:] == reason


@pytest.mark.parametrize("pieces", [1, 3], ids=["in one frame", "in three fragments"])
async def test_a_message_bigger_than_chat_max_frame_gets_1009_then_the_connection_ends(
    server: Server, pieces: int
) -> None:
    frames = oversized_message(server.config.max_frame_bytes, pieces)
    answer, ended = await fail_with(server, *frames)
    assert (answer.close_code, ended) == (1009, True)


async def test_a_protocol_error_leaves_other_clients_chatting(
    server: Server, clients: Clients
) -> None:
    before = await clients.talker(token=await register(server, "alice"), name="alice")
    await fail_with(server, frame(0x3))
    after = await clients.talker(token=await register(server, "bob"), name="bob")
    await before.say("still here?")
    assert (await after.receive())["message"] == "still here?"
    await after.say("yes")
    assert (await before.receive())["message"] == "yes"


async def test_protocol_errors_log_no_error_and_no_traceback(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    for case in PROTOCOL_ERRORS:
        frames, code = case.values
        answer, _ = await fail_with(server, *frames)
        assert answer.close_code == code, case.id
    answer, _ = await fail_with(server, *oversized_message(server.config.max_frame_bytes, 3))
    assert answer.close_code == 1009
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
