"""How a WebSocket session ends, and with which close code.

The part of `chat.ws.session.client_session.ClientSession` that closes a connection from the
server's side and reports how it ended. Its state lives in the session's own slots
(`_close_reason`, `closing`, the outbox that sends the close frame); the session's
receive loop calls `_close` as it ends.

How a session ends:

- the peer closes: the receive loop ends, the handler drains the inbox, the writer is
  cancelled;
- eviction (`evict`): the outbox drops its backlog; the writer finishes the frame it is
  writing, sends the close frame, and the receive loop sees the close handshake complete;
- a dialect closes it (`close`, e.g. the support protocol on a bad token): a marker goes
  into the outbox behind what is already queued, so the client gets the error frame
  explaining why, then the close frame;
- something outside the session's tasks closes it (`close_nowait`: the revocation sweep,
  when the client's token has been revoked): the same, without waiting, the error frame
  in the client's dialect (`FrameHandler.error_frame`). An idle session has no writer,
  so this starts one; if the outbox is full, the client is evicted instead;
- the server drains before shutting down (`chat.server.drain`, CHAT_DRAIN_SECONDS): `close_nowait`
  with 1012 ("service restart"), no error frame; the client reconnects elsewhere;
- server shutdown: cancellation. The writer's current write is shielded (a frame cut in
  half would corrupt the stream), then the session closes with 1001;
- a bug: logged, close code 1011. Only this client is affected.
"""

from __future__ import annotations

import logging
from typing import Protocol

from chat.app.messages.broadcaster import Broadcaster
from chat.core.frames import (
    CLOSE_ABNORMAL,
    CLOSE_GOING_AWAY,
    CLOSE_POLICY_VIOLATION,
    text_frame,
)
from chat.ws.session.contracts import FrameHandler, SessionConnection
from chat.ws.session.outbox import Outbox

log = logging.getLogger(__name__)



class _Session(Protocol):
    """What `SessionClosing` reads and calls of the session it is part of."""

    id: int
    closing: bool
    peer_gone: bool
    _ended: bool
    _close_reason: tuple[int, str] | None
    _outbox: Outbox | None
    _handler: FrameHandler | None
    _ws: SessionConnection
    _broadcaster: Broadcaster

    @property
    def evicted(self) -> bool: ...

    @property
    def _stream_broken(self) -> bool: ...

    def _open_outbox(self) -> Outbox: ...

    def evict(self, code: int, reason: str) -> None: ...


class SessionClosing:
    """Closing a connection and saying how it ended (a part of `ClientSession`, which
    holds the state in its slots: `_close_reason`, `closing`)."""

    __slots__ = ()

    # The session's slots this part reads and writes (declared here for the type
    # checker: `__slots__` above is empty, so they are not class attributes).
    _close_reason: tuple[int, str] | None
    _outbox: Outbox | None

    @property
    def evicted(self) -> bool:
        """True once this client was evicted: nothing more is delivered to it."""
        return self._outbox is not None and self._outbox.evicted

    def evict_slow_consumer(self: _Session) -> None:
        """`evict` for a client whose queue is full, counted in the broadcaster's stats."""
        self._broadcaster.stats.slow_consumers_evicted += 1
        self.evict(CLOSE_POLICY_VIOLATION, "slow consumer: too many frames queued")

    def evict(self: _Session, code: int, reason: str) -> None:
        """Disconnect this client with `code`, dropping whatever is still queued for it.

        Synchronous, so the broadcaster can call it mid-fan-out: the outbox drops its
        backlog and its writer sends the close frame (`Outbox.evict`).
        """
        if self._close_reason is None:
            self._close_reason = (code, reason)
            log.info("client %d evicted: %d %s", self.id, code, reason)
        (self._outbox or self._open_outbox()).evict()

    @property
    def close_reason(self) -> tuple[int, str] | None:
        """The code and reason the server closes the connection with (an eviction, a
        dialect's `close`, a bug), or None while it has no reason to."""
        return self._close_reason

    @property
    def close_code(self: _Session) -> int:
        """How the connection ended (once `run` returned): the code of whichever side
        closed it, 1001 for a server shutdown, 1006 if it dropped without a close frame.
        The server's own reason (an eviction, say) wins even if its close frame could not
        be sent: that is what an operator reading the log needs to know."""
        if self._close_reason is not None:
            return self._close_reason[0]  # the server closed it: evicted, refused, a bug
        if self._stream_broken:
            return CLOSE_ABNORMAL
        closed = self._ws.closed
        if self.peer_gone and closed is not None:
            # The client closed it, or the transport did on a protocol error (its code).
            return closed.code
        return CLOSE_GOING_AWAY  # cancelled: the server shut down (`_close`)

    @property
    def _stream_broken(self) -> bool:
        """True if a write failed or was cut: no close frame can follow."""
        return self._outbox is not None and self._outbox.stream_broken

    async def close(self: _Session, code: int, reason: str) -> None:
        """Close the connection once the frames already queued have been sent (an error
        frame explaining why, say). Frames the client sends meanwhile are ignored."""
        if self._close_reason is None:
            self._close_reason = (code, reason)
        self.closing = True
        await (self._outbox or self._open_outbox()).close_after_queued()

    def close_nowait(self: _Session, code: int, reason: str, *, explain: bool = True) -> None:
        """`close` for callers outside this session's tasks (the revocation sweep), which
        must not wait: synchronous, so there is nothing to cancel half-way.

        Queues the dialect's error frame saying `reason` (if it has one) and the close
        marker behind what is already queued; the writer sends them, then the close frame.
        An idle session has no writer yet: the outbox starts one. If the outbox has no
        room for both, the client is evicted instead: the backlog is dropped and the close
        frame goes out at once. Does nothing for a session that is already closing or over.
        Without `explain`, no error frame: the close code says it all (1012, a restart).
        """
        if self.closing or self.evicted or self.peer_gone:
            return
        self._close_reason = (code, reason)
        self.closing = True
        if self._ended:
            return  # not running: nothing left to close
        outbox = self._outbox or self._open_outbox()
        log.info("client %d closed: %d %s", self.id, code, reason)
        farewell = (
            self._handler.error_frame(reason) if explain and self._handler is not None else None
        )
        if not outbox.close_nowait(None if farewell is None else text_frame(farewell)):
            self.evict(code, reason)

    async def _close(self: _Session) -> None:
        """The close handshake as the session ends (its `run`, bounded there): the
        server's code and reason, or 1001 for a shutdown; nothing after a broken write."""
        if self._stream_broken:
            return  # a frame may be half-written: nothing valid can follow it
        code, reason = self._close_reason or (CLOSE_GOING_AWAY, "server shutting down")
        await self._ws.aclose(code, reason)  # a no-op if the connection is already closed
