"""A socket stream that gives back bytes already read from it before reading more.

The front door reads each connection's HTTP request head to decide who serves it; the
chosen server must then see the connection from its first byte. `ReplayStream` returns
those bytes first and then reads from the socket.

Seams it has to fit (tests/test_front_door.py covers both):

- Hypercorn's `TCPServer` tells TLS streams from plain ones by calling `do_handshake`
  and catching `AttributeError`, then reads the peer address from ``stream.socket``. So
  this class exposes ``socket`` and must never define ``do_handshake``.
- trio-websocket only needs the `trio.abc.Stream` methods.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import termios

import trio


class ReplayStream(trio.abc.HalfCloseableStream):
    """A `trio.SocketStream` with `prefix` pushed back in front of its unread data."""

    def __init__(self, stream: trio.SocketStream, prefix: bytes, *, peer: str) -> None:
        self.transport = stream
        #: The address at the other end, as the front door read it once.
        self.peer = peer
        #: The bytes read before the hand-over (the request head), kept for whoever
        #: needs a header its protocol library does not pass on (Host, for the
        #: WebSocket origin check).
        self.head = prefix
        self._prefix = memoryview(prefix) if prefix else None
        self._headers: dict[bytes, list[bytes]] | None = None

    def header_values(self, name: bytes) -> list[bytes]:
        """The values of every header called `name` (lowercase) in `head`, in order: the
        head's headers are parsed on the first call, for all the others."""
        if self._headers is None:
            self._headers = parse_headers(self.head)
        return self._headers.get(name, [])

    def forget_head(self) -> None:
        """Let go of `head` once nobody needs it (a long-lived connection would keep it)."""
        self.head = b""
        self._headers = None

    def skip(self, count: int) -> None:
        """Drop the first `count` bytes still to be replayed (a head parsed already)."""
        if self._prefix is not None:
            rest = self._prefix[count:]
            self._prefix = rest if len(rest) else None

    @property
    def socket(self) -> trio.socket.SocketType:
        return self.transport.socket

    @property
    def replaying(self) -> bool:
        """True while bytes read before the hand-over are still to be returned."""
        return self._prefix is not None

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._prefix is None:
            return await self.transport.receive_some(max_bytes)
        # Every receive_some is a checkpoint, including the ones served from memory.
        await trio.lowlevel.checkpoint()
        size = len(self._prefix) if max_bytes is None else max_bytes
        chunk, rest = self._prefix[:size], self._prefix[size:]
        self._prefix = rest if len(rest) else None
        return bytes(chunk)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.transport.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.transport.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self.transport.send_eof()

    async def aclose(self) -> None:
        self._prefix = None
        await self.transport.aclose()


def parse_headers(head: bytes) -> dict[bytes, list[bytes]]:
    """The headers of the request head at the start of `head`: each name lowercased, with
    its values in order (none if the head is not complete)."""
    end = head.find(b"\r\n\r\n")
    headers: dict[bytes, list[bytes]] = {}
    if end == -1:
        return headers
    _request_line, *lines = head[:end].split(b"\r\n")
    for line in lines:
        key, sep, value = line.partition(b":")
        if sep:
            headers.setdefault(key.strip().lower(), []).append(value.strip())
    return headers


def read_now(fd: int, max_bytes: int) -> bytes | None:
    """What the socket `fd` holds, up to `max_bytes`, without waiting (b"" once the peer
    has closed its side); None if nothing has arrived yet. Errors as
    `trio.SocketStream.receive_some` reports them."""
    try:
        return os.read(fd, max_bytes)
    except BlockingIOError:
        return None
    except OSError as error:
        if error.errno in (errno.EBADF, errno.ENOTSOCK):
            raise trio.ClosedResourceError("this socket was already closed") from None
        raise trio.BrokenResourceError(f"socket connection broken: {error}") from error


def write_now(stream: trio.SocketStream, data: bytes) -> int:
    """Write what the socket takes of `data` now, without waiting: how many bytes it
    took (all of them if the peer is gone: nothing more can be written)."""
    try:
        return os.write(stream.socket.fileno(), data)
    except BlockingIOError:
        return 0
    except OSError:
        return len(data)


def unread_bytes(stream: trio.SocketStream) -> int:
    """How many bytes the peer sent that are waiting in the kernel, unread (0 if the
    socket is closed already): with none, a close sends FIN after what was written,
    not a reset."""
    try:
        answer = fcntl.ioctl(stream.socket.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except OSError:
        return 0
    count: int = struct.unpack("i", answer)[0]
    return count


#: The longest `close_gently` waits for a client to finish sending.
LINGER_S = 1.0


async def close_gently(stream: trio.abc.HalfCloseableStream) -> None:
    """Prepare to close a connection without resetting it: send our end-of-file, then
    read (and drop) whatever the client still sends, until it closes too or `LINGER_S`
    passes. Closing a socket that holds unread data makes the kernel reset the
    connection, and a reset can destroy the answer the client has not read yet. The
    caller closes the stream afterwards."""
    with trio.move_on_after(LINGER_S):
        try:
            await stream.send_eof()
            while await stream.receive_some(4096):
                pass
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError):
            pass  # gone already, or being read by someone else: nothing to wait for
