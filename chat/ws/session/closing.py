"""How a WebSocket session ends, and with which close code.

How a session ends:

- the peer closes: the receive loop ends, the handler drains the inbox, the writer is
  cancelled;
- eviction (`ServerClose.evict`): the outbox drops its backlog; the writer finishes the
  frame it is writing, sends the close frame, and the receive loop sees the close
  handshake complete;
- a dialect closes it (`ServerClose.close`, e.g. the support protocol on a bad token): a
  marker goes into the outbox behind what is already queued, so the client gets the
  error frame explaining why, then the close frame;
- something outside the session's tasks closes it (`ServerClose.close_nowait`: the
  revocation sweep, when the client's token has been revoked): the same, without
  waiting, the error frame in the client's dialect. An idle session has no writer, so
  this starts one; if the outbox is full, the client is evicted instead;
- the server drains before shutting down (`chat.server.drain`, CHAT_DRAIN_SECONDS):
  `close_nowait` with 1012 ("service restart"), no error frame; the client reconnects
  elsewhere;
- server shutdown: cancellation. The writer's current write is shielded (a frame cut in
  half would corrupt the stream), then the session closes with 1001 (`close_handshake`);
- a bug: logged, close code 1011. Only this client is affected.

`ServerClose` is the server's side of it: the session makes one with the server's first
decision to close the connection (most connections are closed by their clients and never
have one). It is handed what it acts on, the session's outbox, and the client's id for its
log lines; it decides which reason the close frame carries and whether the client's
frames are still handled. `closed_with` and `close_handshake` are the end itself, for
every session, whoever closed it.
"""

from __future__ import annotations

import logging
from typing import Protocol

from trio_websocket import CloseReason

from chat.core.frames import CLOSE_ABNORMAL, CLOSE_GOING_AWAY, text_frame
from chat.ws.session.outbox import Connection

log = logging.getLogger(__name__)

#: The close frame's reason when the server shuts down with no reason of its own.
SHUTTING_DOWN = "server shutting down"


class CloseCarrier(Protocol):
    """What a close asks of the session's outbox (`chat.ws.session.outbox.Outbox`), which
    sends the close frame behind the frames queued before it (or at once, evicting)."""

    def evict(self) -> None: ...

    async def close_after_queued(self) -> None: ...

    def close_nowait(self, farewell: bytes | None) -> bool: ...


class ServerClose:
    """The server's decision to close one connection, and its carrying out.

    The first decision's code and reason are kept: a slow consumer evicted after its
    dialect closed it still says why the dialect did. All but `close` are synchronous
    (the broadcaster evicts mid-fan-out, the revocation sweep closes from outside), so
    there is nothing to cancel half-way; `close` waits only for room in the outbox, and
    cancelled there it leaves the decision made and the client's frames ignored, with
    no marker queued (the session is ending: its close handshake carries the reason).
    """

    __slots__ = ("_client", "_outbox", "frames_ignored", "reason")

    def __init__(self, client: int, outbox: CloseCarrier) -> None:
        self._client = client  # the session's id, for the log
        self._outbox = outbox
        #: The code and reason the close frame carries; None until decided.
        self.reason: tuple[int, str] | None = None
        #: True once frames still arriving are not handled (`close`, `close_nowait`; an
        #: eviction leaves them handled: a message the client sent is still stored).
        self.frames_ignored = False

    def decide(self, code: int, reason: str) -> bool:
        """Close with `code` and `reason`, unless a reason was decided before (kept).
        True if this decided it."""
        if self.reason is not None:
            return False
        self.reason = (code, reason)
        return True

    def evict(self, code: int, reason: str) -> None:
        """Disconnect the client now, dropping whatever is still queued for it: the
        outbox's writer sends the close frame (`chat.ws.session.outbox.Outbox.evict`)."""
        if self.decide(code, reason):
            log.info("client %d evicted: %d %s", self._client, code, reason)
        self._outbox.evict()

    async def close(self, code: int, reason: str) -> None:
        """Close once the frames already queued have been sent (an error frame explaining
        why, say). Frames the client sends meanwhile are not handled."""
        self.decide(code, reason)
        self.frames_ignored = True
        await self._outbox.close_after_queued()

    def close_nowait(self, code: int, reason: str, farewell: str | None) -> None:
        """`close` from outside the session's tasks, without waiting: `farewell` (an error
        frame saying why, if any) and the close marker go in behind what is queued. If
        the outbox has no room for both, the client is evicted instead: the backlog is
        dropped and the close frame goes out at once. This reason replaces one decided
        before (the caller checked that the connection is not being closed already)."""
        self.reason = (code, reason)
        self.frames_ignored = True
        log.info("client %d closed: %d %s", self._client, code, reason)
        if not self._outbox.close_nowait(None if farewell is None else text_frame(farewell)):
            self.evict(code, reason)


def closed_with(
    reason: tuple[int, str] | None,
    *,
    stream_broken: bool,
    peer_gone: bool,
    closed: CloseReason | None,
) -> int:
    """How a connection ended: the server's code if it decided to close it (`reason`),
    even if its close frame could not be sent (that is what an operator reading the log
    needs to know); 1006 if a write broke the stream; the client's code (or the
    transport's, on a protocol error) if it closed the connection; else 1001, a server
    shutdown."""
    if reason is not None:
        return reason[0]
    if stream_broken:
        return CLOSE_ABNORMAL
    if peer_gone and closed is not None:
        return closed.code
    return CLOSE_GOING_AWAY


async def close_handshake(
    ws: Connection, reason: tuple[int, str] | None, *, stream_broken: bool
) -> None:
    """The close handshake as a session ends: the server's code and reason, or 1001 for
    a shutdown. Nothing after a broken write: a frame may be half-written, and nothing
    valid can follow it. The caller bounds it (the close timeout, shielded); cancelled,
    the connection is left to be dropped with its socket."""
    if stream_broken:
        return
    code, why = reason or (CLOSE_GOING_AWAY, SHUTTING_DOWN)
    await ws.aclose(code, why)  # a no-op if the connection is already closed
