"""A WebSocket session's frame limits, as one connection spends them.

`chat.ws.session.frame_limits` says what a connection may send (its allowances, the history
budget); this is the part of `chat.ws.session.client_session.ClientSession` that counts its frames
against them and decides what a refusal costs: a client that keeps going past a limit
is closed (1008). Its state lives in the session's own slots, made with the first
frame counted, so an idle connection pays nothing here.
"""

from __future__ import annotations

from array import array
from typing import Protocol

import trio

from chat.core.errors import ChatError, RateLimited, Unavailable
from chat.core.frames import CLOSE_POLICY_VIOLATION
from chat.ws.session.contracts import FrameHandler
from chat.ws.session.frame_limits import Allowance, FrameLimits

#: A connection that collects more rate-limit refusals than this within
#: `REFUSAL_WINDOW_S` is closed (1008): it is not slowing down.
MAX_REFUSALS = 10
REFUSAL_WINDOW_S = 60.0


def _flood_reason(error: RateLimited) -> str:
    """The close reason for a client that kept going past a limit: "rate limit exceeded:
    too many room changes" (the refusal's text without its "try again")."""
    return f"rate limit exceeded: {str(error).partition(':')[0]}"


class _Session(Protocol):
    """What `SessionLimits` reads and calls of the session it is part of."""

    limits: FrameLimits
    _frame_counts: array[float] | None
    _refusals: list[float] | None
    _handler: FrameHandler | None

    def _counts(self) -> array[float]: ...

    def _count_refusal(self) -> bool: ...

    async def after_refusal(self, error: ChatError) -> None: ...

    async def after_invalid(self) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...

    def close_nowait(self, code: int, reason: str, *, explain: bool = True) -> None: ...

    def send_nowait(self, text: str) -> None: ...


class SessionLimits:
    """Counting a connection's frames against the server's limits (a part of
    `ClientSession`, which holds the state in its slots: `limits`, `_frame_counts`,
    `_refusals`)."""

    __slots__ = ()

    # The session's slots this part reads and writes (declared here for the type
    # checker: `__slots__` above is empty, so they are not class attributes).
    limits: FrameLimits
    _frame_counts: array[float] | None
    _refusals: list[float] | None

    def limit(self: _Session, allowance: Allowance) -> None:
        """Count one frame of `allowance`'s kind on this connection, or raise `RateLimited`
        past it (the dialect answers with its error frame, then calls `after_refusal`)."""
        if self.limits.enabled:
            self.limits.take(self._counts(), allowance)

    def check_history(self: _Session) -> None:
        """Raise `RateLimited` if this connection has spent its history budget: a history
        request is then refused rather than answered."""
        if self.limits.enabled:
            self.limits.check_budget(self._counts(), self.limits.history_data)

    def _spend_history(self: _Session, data: bytes) -> bytes:
        """`data`, a frame of history, charged to this connection's history budget."""
        if self.limits.enabled:
            self.limits.spend(self._counts(), self.limits.history_data, len(data))
        return data

    def _counts(self: _Session) -> array[float]:
        if self._frame_counts is None:
            self._frame_counts = self.limits.new_state()
        return self._frame_counts

    async def after_refusal(self: _Session, error: ChatError) -> None:
        """Called by a dialect once it has answered a frame with an error frame saying
        `error`. A rate-limit refusal counts: a client that keeps going past a limit is
        closed with 1008 (after that frame). Any other error but a database outage (which
        is nobody's fault) means the frame was invalid (`after_invalid`)."""
        if isinstance(error, RateLimited):
            if self._count_refusal():
                await self.close(CLOSE_POLICY_VIOLATION, _flood_reason(error))
        elif not isinstance(error, Unavailable):
            await self.after_invalid()

    async def after_invalid(self: _Session) -> None:
        """Called by a dialect once it has answered an invalid frame with its error frame:
        past the connection's allowance of invalid frames, each counts as a rate-limit
        refusal (`after_refusal`)."""
        if not self.limits.enabled:
            return
        try:
            self.limits.take(self._counts(), self.limits.invalid_frames)
        except RateLimited as error:
            await self.after_refusal(error)

    def ping_allowed(self: _Session) -> bool:
        """Whether to answer a WebSocket ping frame with a pong (asked by
        `chat.ws.transport.ServerConnection`, in the receive loop, so synchronous). Past
        the connection's allowance of pings, no: the client gets its dialect's error frame
        instead (RFC 6455 5.5.3 lets a pong answer only the latest of several pings), and
        the refusal counts, as in `after_refusal`."""
        if not self.limits.enabled:
            return True
        try:
            self.limits.take(self._counts(), self.limits.pings)
        except RateLimited as error:
            if self._count_refusal():
                self.close_nowait(CLOSE_POLICY_VIOLATION, _flood_reason(error))
            elif self._handler is not None:
                self.send_nowait(self._handler.refusal_frame(error))
            return False
        return True

    def _count_refusal(self: _Session) -> bool:
        """Note a rate-limit refusal; True once there have been more than `MAX_REFUSALS`
        within `REFUSAL_WINDOW_S`: the client is not slowing down."""
        now = trio.current_time()
        recent = [t for t in self._refusals or () if now - t < REFUSAL_WINDOW_S]
        recent.append(now)
        self._refusals = recent
        return len(recent) > MAX_REFUSALS
