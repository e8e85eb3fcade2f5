"""Per-connection limits on the frames a WebSocket client sends.

Chat messages are limited per user, over every connection and instance
(`chat.app.limits.rate_limits`). Every other kind of frame a client can send is limited here, per
connection, so that one connection cannot make the server work (or send) without bound:

- *room changes*: ``enter`` on ``/ws`` (leaving, ``"RoomID": 0``, and resumes included):
  each one is a database read and a presence change the room hears of;
- *read markers*: ``read`` on ``/ws``, a database write and a notice on the bus;
- *history requests*: ``history N`` on ``/``, resumes (``enter`` with ``SinceID``) and
  pages (``enter`` with ``Page``);
- *history data*: the bytes those requests, and the support thread a ``message.auth``
  answers with, send back (`spend`): a full resume is a thousand messages;
- *pings*: the text frame ``ping`` and WebSocket ping control frames, both answered;
- *typing*: ``typing`` on ``/ws`` (presence passes on 3 per 2 s per user whatever this
  says, and drops the rest silently; this stops a connection that sends nothing else);
- *authentications*: ``auth <token>`` on ``/`` and ``message.auth``, each a token check;
- *invalid frames*: frames answered with an error (not JSON, an unknown ``Type``, a
  missing field, a room one is not in, ...), which a client in working order seldom sends.

Past a limit the frame is refused with the dialect's error frame (``too many room changes:
try again in 2 s``) and counts as a refusal (`chat.ws.session.limits.MAX_REFUSALS`): a client
that keeps going is closed with 1008, as for messages. An invalid frame past its limit gets its
usual error and counts as a refusal. ``CHAT_RATE_LIMITS=off`` turns them all off. The
defaults are far above what the browser client sends (chat/static/: a ``read`` at
most every 0.5 s, a ``typing`` at most every 2 s, an ``enter`` per click and one resume
per connection).

Counting: the generic cell rate algorithm (GCRA), a token bucket kept as one number per
kind: the time at which the connection's allowance will be whole again. An allowance of
N per period lets N frames through at once, then one every period / N. History data is
a budget of bytes per minute: a request is refused while the budget is spent, and what a
request sent is charged once it is sent, so a connection gets at most the budget and one
answer per minute.

Memory: a connection that sends nothing (most of them, in a big chat) holds nothing
here; its first counted frame creates its state, one array of doubles (144 bytes).
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from chat.core.errors import RateLimited
from chat.core.sliding_window import parse_rate

if TYPE_CHECKING:
    from chat.core.config import Config

#: The allowances that are not settings: what a connection may do, whatever the server.
TYPING = "60/minute"
AUTHENTICATIONS = "10/minute"
INVALID_FRAMES = "60/minute"


@dataclass(frozen=True, slots=True)
class Allowance:
    """`count` frames (or bytes) of one kind per `period` seconds, on one connection."""

    #: Its place in a connection's state (`FrameLimits.new_state`).
    index: int
    #: Its name in the metrics (`chat_rate_limit_refusals_total{limit="room-changes"}`).
    name: str
    #: What a refusal says: "too many room changes" (then ": try again in 2 s").
    what: str
    count: int
    period: float

    @property
    def interval(self) -> float:
        """The time one frame (or byte) of the allowance takes to come back."""
        return self.period / self.count

    def refusal(self, wait: float) -> RateLimited:
        seconds = max(1, math.ceil(wait))
        return RateLimited(f"{self.what}: try again in {seconds} s", retry_after=seconds)


class FrameLimits:
    """The allowances of one server, shared by all its connections; each connection keeps
    its own counts (`new_state`), which these methods read and update."""

    def __init__(self, config: Config) -> None:
        self.enabled = config.rate_limits
        rates = [
            ("room-changes", "too many room changes", config.rate_room_changes),
            ("read-markers", "too many read markers", config.rate_read_markers),
            ("history-requests", "too many history requests", config.rate_history),
            ("pings", "too many pings", config.rate_pings),
            ("typing", "too many typing frames", TYPING),
            ("authentications", "too many authentications", AUTHENTICATIONS),
            ("invalid-frames", "too many invalid frames", INVALID_FRAMES),
        ]
        made = [
            Allowance(i, name, what, *parse_rate(rate))
            for i, (name, what, rate) in enumerate(rates)
        ]
        (
            self.room_changes,
            self.read_markers,
            self.history_requests,
            self.pings,
            self.typing,
            self.authentications,
            self.invalid_frames,
        ) = made
        self.history_data = Allowance(
            len(made), "history-bytes", "too much history sent", config.rate_history_bytes, 60.0
        )
        self._kinds = len(made) + 1
        #: Frames refused, by allowance name, over every connection (read by `chat.app.metrics`).
        self.refusals = dict.fromkeys([a.name for a in made] + [self.history_data.name], 0)

    def new_state(self) -> array[float]:
        """A connection's counts, for its first counted frame: for each allowance, when it
        will be whole again (GCRA's "theoretical arrival time"); never, so far."""
        return array("d", [-math.inf]) * self._kinds

    def take(self, state: array[float], allowance: Allowance) -> None:
        """Count one frame under `allowance`, or raise `RateLimited` (counting nothing) if
        the connection has used it up."""
        now = trio.current_time()
        whole_at = max(state[allowance.index], now) + allowance.interval
        if whole_at - now > allowance.period:
            raise self._refusal(allowance, whole_at - now - allowance.period)
        state[allowance.index] = whole_at

    def check_budget(self, state: array[float], allowance: Allowance) -> None:
        """Raise `RateLimited` if the budget of `allowance` is spent (`spend`)."""
        now = trio.current_time()
        left_at = state[allowance.index] - allowance.period
        if left_at > now:
            raise self._refusal(allowance, left_at - now)

    def _refusal(self, allowance: Allowance, wait: float) -> RateLimited:
        self.refusals[allowance.name] += 1
        return allowance.refusal(wait)

    @staticmethod
    def spend(state: array[float], allowance: Allowance, amount: int) -> None:
        """Charge `amount` (bytes already sent) to the budget of `allowance`, which may go
        into debt: the next `check_budget` refuses until it is paid back."""
        now = trio.current_time()
        state[allowance.index] = max(state[allowance.index], now) + amount * allowance.interval
