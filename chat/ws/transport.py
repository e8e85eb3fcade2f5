"""Accepting a WebSocket on a stream, with a close handshake that survives shutdown.

trio-websocket runs one background reader task per connection; it is what notices the
peer's answer to our close frame. When the server shuts down, every task is cancelled,
and a cancelled reader could not complete the close handshake: clients would see the
connection drop (1006) instead of the 1001 "going away" they are owed. So the reader
runs in a cancel scope that only this module cancels, shielded once the opening
handshake is done, and cancelled after the connection has been closed or given up on.

This is `trio_websocket.wrap_server_stream`, written out: it creates the connection and
runs its reader task, and we need the reader inside our own cancel scope. Doing it here
rather than wrapping that function saves a task per connection (idle connections are
counted in the thousands).

A client that breaks the framing rules (invalid UTF-8, a reserved opcode or RSV bit, an
unmasked frame, a bad close code, ...) is owed a close frame with RFC 6455's code for it
(1002 or 1007) before the TCP connection closes (7.1.7, "Fail the WebSocket
Connection"). wsproto finds these errors and reports each as a `CloseConnection` event
carrying that code, while its connection stays OPEN (a close frame that really arrived
moves it to REMOTE_CLOSING first). trio-websocket answers a close event only in
REMOTE_CLOSING, so it closed the socket without a word. `ServerConnection` answers
these events itself (`_handle_close_connection_event`). Messages over the size limit
need nothing from us: trio-websocket closes them with 1009.

The seam uses these private parts of trio-websocket's `WebSocketConnection`:
`_reader_task`, `_get_request`, `_handle_close_connection_event` (overridden), `_send`,
`_close_reason` and `_wsproto`; and how wsproto reports a protocol error, described
above (`Connection.events`; the same in 1.2 and 1.3). pyproject.toml pins both;
tests/test_front_door.py, tests/test_shutdown.py and tests/test_ws_protocol_errors.py
cover the seam.

Resource handling: `open_server_websocket` owns the reader's nursery and the stream. On
exit it closes the stream (which ends the reader if it is still reading) and cancels
the reader scope (which ends it if it is blocked anywhere else). Nothing outlives the
``async with`` block.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import trio
from trio_websocket import CloseReason, ConnectionClosed, WebSocketConnection, WebSocketRequest
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection

log = logging.getLogger(__name__)

#: The client must complete the upgrade handshake within this time.
HANDSHAKE_TIMEOUT_S = 10.0

#: RFC 6455's "invalid frame payload data": wsproto's reason for it is a UnicodeDecodeError's
#: text, so we send a shorter one.
_INVALID_PAYLOAD = 1007


class ServerConnection(WebSocketConnection):
    """trio-websocket's server connection, which also fails a connection the RFC's way.

    On a protocol error in the client's frames it sends a close frame with the code wsproto
    chose, then lets trio-websocket close the socket as it would after a close handshake,
    without waiting for the client's answer (the client has shown it does not speak the
    protocol). Everything else is trio-websocket's.
    """

    def __init__(
        self, stream: trio.abc.Stream, *, max_message_size: int, close_timeout: float
    ) -> None:
        super().__init__(
            stream, WSConnection(ConnectionType.SERVER), max_message_size=max_message_size
        )
        self._close_timeout = close_timeout

    async def _handle_close_connection_event(self, event: CloseConnection) -> None:
        # Runs in the reader task, for every close event. OPEN here means wsproto found a
        # protocol error: a close frame from the client would have moved it to
        # REMOTE_CLOSING. In LOCAL_CLOSING we have sent our close frame already (an
        # eviction, a shutdown) and no second one may follow: trio-websocket just closes.
        if self._wsproto.state is ConnectionState.OPEN:
            await self._fail(event.code, event.reason)
        # Marks the connection closed (the session's `get_message` raises
        # ConnectionClosed) and closes the socket.
        await super()._handle_close_connection_event(event)

    async def _fail(self, code: int, reason: str | None) -> None:
        """Send the close frame for a protocol error, within `close_timeout`."""
        if code == _INVALID_PAYLOAD:
            reason = "invalid UTF-8"
        reason = reason or "protocol error"
        log.info("%s: protocol error, closing with %d %s", self, code, reason)
        # Set before the write, as trio-websocket does when it answers a close: from here
        # on nothing else is written (the session checks `closed` before every data frame),
        # and the session's own `aclose` has nothing left to do. (So a shutdown that
        # catches this write blocked on a full socket does not wait for it: the stream is
        # closed under it, as it would be for a client that stopped reading.)
        self._close_reason = CloseReason(code, reason)
        # Bounded: a client that does not read cannot keep this reader (which is shielded
        # during shutdown) waiting. If the bound cuts the frame, closing the socket next
        # is still right: nothing could follow the frame anyway.
        with trio.move_on_after(self._close_timeout):
            try:
                await self._send(CloseConnection(code=code, reason=reason))
            except ConnectionClosed:
                pass  # the client is gone already; trio-websocket has cleaned up


async def _run_reader(connection: WebSocketConnection, scope: trio.CancelScope) -> None:
    with scope:
        await connection._reader_task()


class _FinishedHandshake:
    """Stands in for wsproto's HTTP/1.1 handshake once the connection is open."""

    def events(self) -> Iterator[object]:
        return iter(())


_FINISHED_HANDSHAKE = _FinishedHandshake()


def forget_handshake(connection: WebSocketConnection) -> None:
    """Let go of the opening handshake's machinery once the connection is open.

    wsproto keeps its handshake object (an h11 connection with its buffers and state
    machine) for the whole life of a connection, though once the connection is open it
    only asks it for events, of which there are none. On a server with thousands of idle
    connections that is a few KiB each for nothing. (wsproto's `WSConnection.events`
    is the only thing that still reads it; the seam is covered by every WebSocket test.)
    """
    ws = connection._wsproto
    if ws.connection is not None:
        ws.handshake = _FINISHED_HANDSHAKE  # type: ignore[assignment]


@asynccontextmanager
async def open_server_websocket(
    stream: trio.abc.Stream, *, max_message_size: int, close_timeout: float
) -> AsyncIterator[WebSocketRequest | None]:
    """Read the upgrade request from `stream`; yield it for the caller to accept or reject.

    Yields None if the client does not complete its request in time. Exceptions raised in
    the block reach the caller wrapped in an ExceptionGroup (there is a nursery in
    between), so the block should handle its own expected errors.
    """
    connection = ServerConnection(
        stream, max_message_size=max_message_size, close_timeout=close_timeout
    )
    reader_scope = trio.CancelScope()
    # Holds one task, trio-websocket's reader, inside `reader_scope`.
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_run_reader, connection, reader_scope)
        try:
            request: WebSocketRequest | None = None
            with trio.move_on_after(HANDSHAKE_TIMEOUT_S):
                request = await connection._get_request()
            if request is not None:
                # From now on a shutdown must let the close handshake run; before, it
                # just drops the half-open connection.
                reader_scope.shield = True
            yield request
        finally:
            # By now the caller has closed the WebSocket (or given up). Close the stream so
            # the reader sees EOF, then cancel it in case it is blocked elsewhere.
            await trio.aclose_forcefully(stream)
            reader_scope.cancel()
