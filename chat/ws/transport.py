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
counted in the thousands). The seam uses trio-websocket's `WebSocketConnection._reader_task`
and `_get_request`; pyproject.toml pins the version and tests/test_front_door.py and
tests/test_shutdown.py cover it.

Resource handling: `open_server_websocket` owns the reader's nursery and the stream. On
exit it closes the stream (which ends the reader if it is still reading) and cancels
the reader scope (which ends it if it is blocked anywhere else). Nothing outlives the
``async with`` block.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import trio
from trio_websocket import WebSocketConnection, WebSocketRequest
from wsproto import ConnectionType, WSConnection

#: The client must complete the upgrade handshake within this time.
HANDSHAKE_TIMEOUT_S = 10.0


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
    stream: trio.abc.Stream, *, max_message_size: int
) -> AsyncIterator[WebSocketRequest | None]:
    """Read the upgrade request from `stream`; yield it for the caller to accept or reject.

    Yields None if the client does not complete its request in time. Exceptions raised in
    the block reach the caller wrapped in an ExceptionGroup (there is a nursery in
    between), so the block should handle its own expected errors.
    """
    connection = WebSocketConnection(
        stream, WSConnection(ConnectionType.SERVER), max_message_size=max_message_size
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
