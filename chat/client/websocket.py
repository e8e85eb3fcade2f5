"""A small WebSocket client: wsproto's sans-I/O protocol over an anyio byte stream (TCP,
or TLS for ``wss://``), so that it runs on Trio and asyncio alike.

Why this and not a library: trio-websocket runs on Trio only and websockets on asyncio
only; wsproto is what both the server (through Hypercorn and trio-websocket) and this
client already depend on, and with anyio's streams a client is the little below.

Resource handling: a `WebSocket` owns its stream. `WebSocket.aclose` (or the end of
`open_websocket`'s block, however it ends: normally, by an error, by cancellation) sends
a close frame and waits for the server's, at most `CLOSE_TIMEOUT` seconds and shielded,
then closes the stream.

Bounds: a message larger than ``max_message_bytes`` ends the connection (close code
1009) and raises `FrameTooLarge`; the body of a refused handshake is read up to
`MAX_REFUSAL_BYTES`; the handshake's head is bounded by h11 (16 KiB).

Error handling: every way the connection can end (a close frame, the stream's end, a
reset, a protocol error) is one exception, `ConnectionLost`, with the close code (1006
when there was no close frame); an HTTP answer other than 101 is `HandshakeRefused`.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import anyio
import anyio.abc
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.events import Event as ProtocolEvent
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from chat.client.errors import ConnectionLost, FrameTooLarge, HandshakeRefused

#: How much of a refused handshake's body is read (the server's is a short JSON error).
MAX_REFUSAL_BYTES = 64 * 1024
#: How long closing waits for the server's close frame before dropping the connection.
CLOSE_TIMEOUT = 2.0
#: The most read from the socket at once.
RECEIVE_CHUNK = 65536
#: The close code of a connection that ended without a close frame (RFC 6455 7.1.5).
ABNORMAL_CLOSURE = 1006
MESSAGE_TOO_BIG = 1009

_STREAM_ERRORS = (
    anyio.EndOfStream,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    OSError,
)


class WebSocket:
    """An open WebSocket connection. One task receives; sending may happen from any
    task (a lock keeps frames whole), including the answers to the server's pings,
    which receiving sends."""

    def __init__(
        self,
        stream: anyio.abc.ByteStream,
        protocol: WSConnection,
        *,
        max_message_bytes: int,
    ) -> None:
        self._stream = stream
        self._protocol = protocol
        self._max_message_bytes = max_message_bytes
        self._send_lock = anyio.Lock()
        # A message's parts so far: kept here, not in `receive_text`, so that a receive
        # cancelled half-way through a message loses nothing of it.
        self._parts: list[str] = []
        self._size = 0
        self.closed: ConnectionLost | None = None

    async def send_text(self, text: str) -> None:
        await self._send(TextMessage(data=text))

    async def send_json(self, value: object) -> None:
        await self.send_text(json.dumps(value))

    async def ping(self, payload: bytes = b"") -> None:
        """A ping frame; the server's pong (or anything else) shows the connection is
        alive when `receive_text` next returns."""
        await self._send(Ping(payload=payload))

    async def receive_text(self) -> str:
        """The next text message, whole. Binary messages are read and dropped (the chat
        server sends none). Raises `ConnectionLost` once the connection has ended."""
        while True:
            if self.closed is not None:
                raise self.closed
            event = next(self._protocol.events(), None)
            if event is None:
                await self._receive_data()
                continue
            text = await self._handle(event)
            if text is not None:
                return text

    async def _handle(self, event: ProtocolEvent) -> str | None:
        if isinstance(event, TextMessage | BytesMessage):
            data = event.data
            self._size += len(data.encode() if isinstance(data, str) else data)
            if self._size > self._max_message_bytes:
                await self._fail(MESSAGE_TOO_BIG, "message too big")
                raise FrameTooLarge(
                    f"the server sent a message of more than {self._max_message_bytes} bytes"
                )
            if isinstance(data, str):
                self._parts.append(data)
            if not event.message_finished:
                return None
            text, self._parts, self._size = "".join(self._parts), [], 0
            return text if isinstance(event, TextMessage) else None
        if isinstance(event, Ping):
            await self._send(event.response())
        elif isinstance(event, CloseConnection):
            if self._protocol.state is ConnectionState.REMOTE_CLOSING:
                try:
                    await self._send(event.response())
                except ConnectionLost:
                    pass  # the server may drop the connection right after its close
            self.closed = ConnectionLost(event.code, event.reason or "")
            raise self.closed
        return None  # a pong: the data itself showed the connection alive

    async def _receive_data(self) -> None:
        try:
            data = await self._stream.receive(RECEIVE_CHUNK)
        except _STREAM_ERRORS:
            self.closed = ConnectionLost(ABNORMAL_CLOSURE, "the connection ended")
            raise self.closed from None
        try:
            self._protocol.receive_data(data)
        except (RemoteProtocolError, LocalProtocolError) as error:
            self.closed = ConnectionLost(1002, f"protocol error: {error}")
            raise self.closed from None

    async def _fail(self, code: int, reason: str) -> None:
        """End the connection from this side after a violation of the client's bounds."""
        self.closed = ConnectionLost(code, reason)
        with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
            try:
                await self._send(CloseConnection(code=code, reason=reason))
            except ConnectionLost:
                pass
        await anyio.aclose_forcefully(self._stream)

    async def _send(self, event: ProtocolEvent) -> None:
        async with self._send_lock:
            if self.closed is not None and not isinstance(event, CloseConnection):
                raise self.closed
            try:
                data = self._protocol.send(event)
                await self._stream.send(data)
            except LocalProtocolError:
                # The protocol is past sending this (closing or closed already).
                closed = self.closed or ConnectionLost(ABNORMAL_CLOSURE, "the connection ended")
                raise closed from None
            except _STREAM_ERRORS:
                self.closed = self.closed or ConnectionLost(
                    ABNORMAL_CLOSURE, "the connection ended"
                )
                raise self.closed from None

    async def aclose(self, code: int = 1000) -> None:
        """Close with a close handshake (at most `CLOSE_TIMEOUT` seconds, shielded from
        cancellation), then close the stream. Safe to call more than once."""
        with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
            if self._protocol.state is ConnectionState.OPEN:
                try:
                    await self._send(CloseConnection(code=code))
                    while True:  # until the server's close frame (or the timeout)
                        await self.receive_text()
                except (ConnectionLost, FrameTooLarge):
                    pass  # closed: by the server's close frame, or by this side
        if self.closed is None:
            self.closed = ConnectionLost(code, "closed by the client")
        await anyio.aclose_forcefully(self._stream)


def _address(url: str) -> tuple[bool, str, int, str, str]:
    """(secure, host, port, Host header, request target) of a ws:// or wss:// URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"not a ws:// or wss:// URL: {url!r}")
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    header = shown if parts.port is None else f"{shown}:{port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return secure, host, port, header, target


def _retry_after(headers: Sequence[tuple[bytes, bytes]]) -> float | None:
    for name, value in headers:
        if name.lower() == b"retry-after":
            try:
                return float(value)
            except ValueError:
                return None
    return None


def _refusal(rejection: RejectConnection, body: bytes) -> HandshakeRefused:
    try:
        error = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        error = body.decode("utf-8", "replace")[:200]
    return HandshakeRefused(
        rejection.status_code, str(error), retry_after=_retry_after(rejection.headers)
    )


async def _handshake(stream: anyio.abc.ByteStream, protocol: WSConnection) -> None:
    """Read the answer to the upgrade request: return on 101, raise `HandshakeRefused`
    with the server's error otherwise."""
    rejection: RejectConnection | None = None
    body = b""
    while True:
        try:
            data = await stream.receive(RECEIVE_CHUNK)
        except _STREAM_ERRORS:
            raise ConnectionLost(ABNORMAL_CLOSURE, "the connection ended") from None
        try:
            protocol.receive_data(data)
        except RemoteProtocolError as error:
            raise ConnectionLost(1002, f"bad answer to the upgrade: {error}") from None
        for event in protocol.events():
            if isinstance(event, AcceptConnection):
                return
            if isinstance(event, RejectConnection):
                rejection = event
                if not event.has_body:
                    raise _refusal(event, b"")
            elif isinstance(event, RejectData) and rejection is not None:
                body += event.data[: MAX_REFUSAL_BYTES - len(body)]
                if event.body_finished or len(body) >= MAX_REFUSAL_BYTES:
                    raise _refusal(rejection, body)


async def connect_websocket(
    url: str,
    *,
    headers: Sequence[tuple[str, str]] = (),
    max_message_bytes: int = 1024 * 1024,
    ssl_context: ssl.SSLContext | None = None,
) -> WebSocket:
    """Connect to ``url`` (``ws://`` or ``wss://``) with ``headers`` in the upgrade
    request: the open connection, which the caller closes (`WebSocket.aclose`). If the
    handshake fails or is cancelled, nothing is left open. The caller bounds the time it
    may take (``anyio.fail_after``)."""
    secure, host, port, host_header, target = _address(url)
    stream: anyio.abc.ByteStream
    if secure:
        # tls_standard_compatible=False: a server may end the stream without TLS's
        # close_notify; the WebSocket's own close handshake says when the data is whole.
        stream = await anyio.connect_tcp(
            host, port, tls=True, ssl_context=ssl_context, tls_standard_compatible=False
        )
    else:
        stream = await anyio.connect_tcp(host, port)
    try:
        protocol = WSConnection(ConnectionType.CLIENT)
        request = Request(
            host=host_header,
            target=target,
            extra_headers=[(k.encode(), v.encode()) for k, v in headers],
        )
        await stream.send(protocol.send(request))
        await _handshake(stream, protocol)
    except BaseException:
        await anyio.aclose_forcefully(stream)
        raise
    return WebSocket(stream, protocol, max_message_bytes=max_message_bytes)


@asynccontextmanager
async def open_websocket(
    url: str,
    *,
    headers: Sequence[tuple[str, str]] = (),
    max_message_bytes: int = 1024 * 1024,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[WebSocket]:
    """`connect_websocket` as a block: the connection is closed when the block ends."""
    websocket = await connect_websocket(
        url, headers=headers, max_message_bytes=max_message_bytes, ssl_context=ssl_context
    )
    try:
        yield websocket
    finally:
        await websocket.aclose()
