"""When the writer waits a moment for more messages before it commits (`MessageWriter`).

Most of a batch's cost is paid once a batch, whatever its size: the commit and its trip
to the database, the notification to the other instances (and, on each of them, its
receipt and decoding), waking the fan-out, and a write to each receiver's socket. A busy
writer gathers without trying: what arrives while it commits is the next batch. An idle
one commits each message alone the moment it arrives, and at a few hundred messages a
second that is most of the server's CPU.

`Gathering` decides, when an idle writer is handed a lone message (or a few), whether to
wait `window` seconds for more: only when messages have been arriving fast enough that
at least one more is expected within the window (PostgreSQL's ``commit_delay`` with its
``commit_siblings``, Kafka's ``linger.ms``). A quiet room's message is never held: at
50 messages a second a window of 5 ms expects a quarter of one more and commits at once.
A held message waits at most `window`, and is still committed before anyone receives it.
"""

from __future__ import annotations

#: How long the arrival rate is counted before it is renewed.
RATE_PERIOD_S = 0.25
#: The window when `CHAT_GATHER_MS` is unset and nothing caps the process's CPU.
DEFAULT_WINDOW_S = 0.005
#: The widest a CPU quota makes that default.
MAX_DEFAULT_WINDOW_S = 0.025


def default_window(cpus: float | None) -> float:
    """The window for a process that may use `cpus` CPUs (None: no quota): what a step
    saves is CPU, so the window is `DEFAULT_WINDOW_S` of a whole CPU's time. A third of
    a CPU waits three times as long (at most `MAX_DEFAULT_WINDOW_S`): a step's writes
    cost the same CPU whatever the quota, and with 5 ms a box of 0.3 CPU spent all of it
    at 250 messages a second to a room of 100."""
    if cpus is None or cpus >= 1:
        return DEFAULT_WINDOW_S
    return min(MAX_DEFAULT_WINDOW_S, DEFAULT_WINDOW_S / cpus)


class Gathering:
    """The arrival rate of messages, and whether a small batch should wait for more."""

    def __init__(self, window: float) -> None:
        if window < 0:
            raise ValueError("a gathering window is not negative")
        #: The most a message is held for others to join it, in seconds (0: never).
        self.window = window
        self._rate = 0.0  # messages a second over the last full period
        self._count = 0  # messages arrived since `_since`
        self._since: float | None = None
        #: Batches held (a plain count read by `chat.app.metrics`).
        self.held = 0

    def arrived(self, messages: int, now: float) -> None:
        """`messages` were taken from the queue at `now` (Trio time)."""
        if self._since is None:
            self._since = now
        self._count += messages
        elapsed = now - self._since
        if elapsed >= RATE_PERIOD_S:
            self._rate = self._count / elapsed
            self._count = 0
            self._since = now

    def hold_until(self, messages: int, now: float) -> float | None:
        """When to commit a batch of `messages` an idle writer was just handed, if it
        should wait for more (Trio time); None to commit it now."""
        if self.window <= 0 or messages <= 0:
            return None
        expected = self._rate * self.window
        if expected < 1 or messages >= expected:
            return None
        self.held += 1
        return now + self.window
