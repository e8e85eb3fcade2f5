"""Small WebSocket and HTTP clients for bench/team_day.py: thousands of users in one
process.

trio-websocket runs a reader task, a memory channel and wsproto's event machinery per
connection; at thousands of connections, each hearing presence and activity frames,
that machinery would cost the load generator more than the server spends sending. This
client reads frames straight off a Trio stream: a server's frames are not masked, so
parsing one is a few slices, and a text frame is handed on as `str` without further
work. It sends masked frames with a zero key (RFC 6455 requires a mask, and a zero key
leaves the payload as is; bench/loadgen.c does the same).

It knows only what the chat server sends: unfragmented or fragmented text frames, ping
(answered with pong), pong and close. The handshake checks the status line only.

HTTP goes through `HttpPool`, keep-alive connections shared by every user, for the same
reason: httpx's pool (httpcore) looks at every connection it holds for every request it
places, and with a few hundred connections that alone cost the generator more CPU than
the requests. The pool here takes the connection freed last (`GET` only, answers with a
`Content-Length` or chunked), and retries a request once on a new connection when the
server had closed an idle one.
"""

from __future__ import annotations

import base64
import os
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

import trio

#: The longest handshake answer accepted (status line and headers).
MAX_HEAD = 16_384
#: A keep-alive connection idle this long is not used again (the server's timeout is 5 s).
IDLE_S = 4.0


#: Text frames received on every socket, by their Type (b"message", b"typing", ...).
FRAME_KINDS: dict[bytes, int] = {}


class HandshakeError(Exception):
    """The server answered the upgrade with something other than 101."""


class Socket:
    """One client connection. `send_text` may be called from any task (a lock keeps
    frames whole); `texts` must be iterated by one task only, the connection's reader.

    Resource handling: the caller owns the stream and closes it with `aclose`."""

    def __init__(self, stream: trio.SocketStream, rest: bytes) -> None:
        self._stream = stream
        self._buffer = bytearray(rest)
        self._send_lock = trio.Lock()
        self.skipped = 0  # frames `texts` passed over unread

    @classmethod
    async def connect(cls, host: str, port: int, target: str) -> Socket:
        """Open a TCP connection and upgrade it on `target` (path and query)."""
        stream = await trio.open_tcp_stream(host, port)
        try:
            key = base64.b64encode(os.urandom(16)).decode()
            head = (
                f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            )
            await stream.send_all(head.encode())
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = await stream.receive_some(4096)
                if not chunk or len(received) > MAX_HEAD:
                    raise HandshakeError(f"no upgrade: {received[:200]!r}")
                received += chunk
            answer, _, rest = received.partition(b"\r\n\r\n")
            status = answer.split(b"\r\n", 1)[0]
            if b" 101 " not in status + b" ":
                raise HandshakeError(status.decode(errors="replace"))
        except BaseException:
            await stream.aclose()
            raise
        return cls(stream, rest)

    async def send_text(self, text: str) -> None:
        """Send one text frame."""
        await self._send(0x1, text.encode())

    async def _send(self, opcode: int, payload: bytes) -> None:
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        async with self._send_lock:
            await self._stream.send_all(header + b"\0\0\0\0" + payload)

    async def texts(
        self,
        skip: tuple[bytes, ...] = (),
        pause: Callable[[], Awaitable[None]] | None = None,
    ) -> AsyncIterator[str]:
        """The text messages the server sends, until it closes the connection (or the
        stream ends), but those that begin with one of `skip`: those are only counted
        (`skipped`), never copied or decoded. Pings are answered on the way. `pause`,
        if given, is awaited before each read of the socket (once what was read is
        handled): what arrives meanwhile waits in the kernel and comes in one read."""
        buffer = self._buffer
        parts: list[bytes] = []
        while True:
            # Every whole frame in the buffer, then read more.
            start = 0
            while len(buffer) - start >= 2:
                first, second = buffer[start], buffer[start + 1]
                length, offset = second & 0x7F, start + 2
                if length == 126:
                    if len(buffer) - start < 4:
                        break
                    length, offset = int.from_bytes(buffer[offset : offset + 2]), offset + 2
                elif length == 127:
                    if len(buffer) - start < 10:
                        break
                    length, offset = int.from_bytes(buffer[offset : offset + 8]), offset + 8
                if second & 0x80:
                    offset += 4  # a server never masks; the key is skipped if one did
                if len(buffer) < offset + length:
                    break
                start, opcode = offset + length, first & 0x0F
                if opcode == 0x1 and buffer.startswith(b'{"Type":"', offset, start):
                    # Frames by kind, over every socket (`FRAME_KINDS`): what the
                    # server's writes go to.
                    end = buffer.find(b'"', offset + 9, min(start, offset + 40))
                    kind = bytes(buffer[offset + 9 : end])
                    FRAME_KINDS[kind] = FRAME_KINDS.get(kind, 0) + 1
                if opcode == 0x1 and first & 0x80 and buffer.startswith(skip, offset, start):
                    self.skipped += 1
                    continue
                payload = bytes(buffer[offset:start])
                if opcode in (0x1, 0x0):
                    parts.append(payload)
                    if first & 0x80:
                        yield b"".join(parts).decode()
                        parts.clear()
                elif opcode == 0x8:
                    return
                elif opcode == 0x9:
                    await self._send(0xA, payload)
            del buffer[:start]
            if pause is not None:
                await pause()
            chunk = await self._stream.receive_some(65536)
            if not chunk:
                return
            buffer += chunk

    async def aclose(self) -> None:
        """Close the TCP connection (without a closing handshake: the bench is done)."""
        await self._stream.aclose()


class HttpError(Exception):
    """A request failed: the connection broke twice, or the answer made no sense."""


class _Connection:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()
        self.idle_since = 0.0

    async def _fill(self) -> None:
        chunk = await self.stream.receive_some(65536)
        if not chunk:
            raise HttpError("the server closed the connection")
        self.buffer += chunk

    async def _line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            await self._fill()
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 2]
        return line

    async def _exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            await self._fill()
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data

    async def get(self, request: bytes) -> tuple[int, bytes, bool]:
        """Send `request`; the status, the body, and whether the connection stays open."""
        await self.stream.send_all(request)
        status = int((await self._line()).split(b" ", 2)[1])
        length, chunked, keep = -1, False, True
        while line := await self._line():
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value
            elif name == b"connection":
                keep = value != b"close"
        if chunked:
            parts = []
            while size := int((await self._line()).split(b";")[0], 16):
                parts.append(await self._exactly(size))
                await self._line()
            while await self._line():  # trailers, then the blank line
                pass
            return status, b"".join(parts), keep
        if length < 0:
            raise HttpError("an answer with neither Content-Length nor chunks")
        return status, await self._exactly(length), keep


class HttpPool:
    """Keep-alive HTTP/1.1 connections to one server, at most `size` at once, shared by
    every user of the generator. A request waits for a free connection past that.

    Resource handling: `aclose` closes the idle connections; a request cancelled
    half-way closes its own (its answer may still be on the way)."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self._host, self._port = host, port
        self._idle: list[_Connection] = []
        self._slots = trio.Semaphore(size)

    async def get(self, target: str, headers: str = "") -> tuple[int, bytes]:
        """GET `target` (path and query) with `headers` (``Name: value\\r\\n`` lines);
        the status and the body."""
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n{headers}\r\n"
        ).encode()
        async with self._slots:
            for attempt in (1, 2):
                conn = await self._take() if attempt == 1 else None
                reused = conn is not None
                conn = conn or await self._open()
                try:
                    status, body, keep = await conn.get(request)
                except (HttpError, trio.BrokenResourceError, OSError) as error:
                    await conn.stream.aclose()
                    if reused and attempt == 1:
                        continue  # closed while idle: once more, on a new connection
                    raise HttpError(f"GET {target.split('?')[0]}: {error!r}") from None
                except BaseException:
                    await trio.aclose_forcefully(conn.stream)
                    raise
                if keep:
                    conn.idle_since = trio.current_time()
                    self._idle.append(conn)
                else:
                    await conn.stream.aclose()
                return status, body
        raise AssertionError("unreachable")

    async def _take(self) -> _Connection | None:
        """The connection freed last, if one is free; those idle so long that the server
        may be closing them (Hypercorn's keep-alive timeout is 5 s) are closed instead."""
        now = trio.current_time()
        while self._idle:
            conn = self._idle.pop()
            if now - conn.idle_since < IDLE_S:
                return conn
            await conn.stream.aclose()
        return None

    async def _open(self) -> _Connection:
        try:
            return _Connection(await trio.open_tcp_stream(self._host, self._port))
        except OSError as error:
            raise HttpError(f"connect: {error!r}") from None

    async def aclose(self) -> None:
        while self._idle:
            await self._idle.pop().stream.aclose()
