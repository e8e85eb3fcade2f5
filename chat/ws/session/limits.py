"""One connection's frames counted against the server's frame limits.

`chat.ws.session.frame_limits` says what a connection may send (its allowances, the
history budget), one object for the whole server. `FrameAllowances` is what one
connection has spent of them, and the refusals it has collected: a client that keeps
going past a limit is not slowing down, and is closed (1008).

It decides and does not act: a refusal's consequence (close the connection, or answer
with the dialect's error frame) comes back as a return value, and the session acts on it
(`chat.ws.session.client_session.ClientSession.after_refusal`, `ping_allowed`). So it
holds nothing of the session's and is tested alone (tests/test_session_parts.py).

Memory: the session makes it with the first frame it counts while the limits are on, or
with the first refusal; a connection that sends nothing counted (most of them, in a big
chat) has none. Its counts are one array of doubles (144 bytes), made with the first
frame counted.
"""

from __future__ import annotations

from array import array

import trio

from chat.core.errors import ChatError, RateLimited, Unavailable
from chat.ws.session.frame_limits import Allowance, FrameLimits

#: A connection that collects more rate-limit refusals than this within
#: `REFUSAL_WINDOW_S` is closed (1008): it is not slowing down.
MAX_REFUSALS = 10
REFUSAL_WINDOW_S = 60.0


def flood_reason(error: RateLimited) -> str:
    """The close reason for a client that kept going past a limit: "rate limit exceeded:
    too many room changes" (the refusal's text without its "try again")."""
    return f"rate limit exceeded: {str(error).partition(':')[0]}"


class FrameAllowances:
    """What one connection has spent of the server's `FrameLimits`, and its refusals.

    Every method is synchronous: the receive loop asks about pings (`refuse_ping`), and
    a cancellation can never leave a count half-made.
    """

    __slots__ = ("_counts", "_limits", "_refusals")

    def __init__(self, limits: FrameLimits) -> None:
        self._limits = limits  # the server's, shared by every connection
        # For each allowance, when it will be whole again (`FrameLimits.new_state`); made
        # with the first frame counted (a connection made this for a refusal of its
        # messages, counted per user elsewhere, may never count a frame here).
        self._counts: array[float] | None = None
        # When rate limits refused this connection's frames lately (`REFUSAL_WINDOW_S`).
        self._refusals: list[float] | None = None

    def take(self, allowance: Allowance) -> None:
        """Count one frame of `allowance`'s kind, or raise `RateLimited` (counting
        nothing) past it."""
        if self._limits.enabled:
            self._limits.take(self._state(), allowance)

    def check_history(self) -> None:
        """Raise `RateLimited` if this connection has spent its history budget: a history
        request is then refused rather than answered."""
        if self._limits.enabled:
            self._limits.check_budget(self._state(), self._limits.history_data)

    def spend_history(self, size: int) -> None:
        """Charge `size` bytes of history, already sent, to the budget (it may go into
        debt: `check_history` refuses until it is paid back)."""
        if self._limits.enabled:
            self._limits.spend(self._state(), self._limits.history_data, size)

    def after_refusal(self, error: ChatError) -> str | None:
        """A frame was answered with an error frame saying `error`: the reason to close
        the connection with (1008) if that was one refusal too many, else None.

        A rate-limit refusal counts. Any other error but a database outage (which is
        nobody's fault) means the frame was invalid (`after_invalid`)."""
        if isinstance(error, RateLimited):
            return flood_reason(error) if self._count_refusal() else None
        if isinstance(error, Unavailable):
            return None
        return self.after_invalid()

    def after_invalid(self) -> str | None:
        """An invalid frame was answered with an error frame: past the allowance of
        invalid frames each counts as a refusal (`after_refusal`). The close reason, or
        None."""
        if not self._limits.enabled:
            return None
        try:
            self._limits.take(self._state(), self._limits.invalid_frames)
        except RateLimited as error:
            return self.after_refusal(error)
        return None

    def refuse_ping(self) -> RateLimited | None:
        """None if a WebSocket ping may be answered with a pong; else its refusal, not
        counted as one yet (`after_refusal` does: the caller then answers the ping with
        its dialect's error frame, or closes the connection)."""
        if not self._limits.enabled:
            return None
        try:
            self._limits.take(self._state(), self._limits.pings)
        except RateLimited as error:
            return error
        return None

    def _state(self) -> array[float]:
        if self._counts is None:
            self._counts = self._limits.new_state()
        return self._counts

    def _count_refusal(self) -> bool:
        """Note a rate-limit refusal; True once there have been more than `MAX_REFUSALS`
        within `REFUSAL_WINDOW_S`: the client is not slowing down."""
        now = trio.current_time()
        recent = [t for t in self._refusals or () if now - t < REFUSAL_WINDOW_S]
        recent.append(now)
        self._refusals = recent
        return len(recent) > MAX_REFUSALS
