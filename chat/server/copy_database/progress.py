"""How far `chat copy-database` has got, shown to the operator.

On a terminal, one line per table redrawn in place: the table, a bar, rows copied of
rows in total. Elsewhere (a log file, a pipe, CI), plain lines: one every few seconds
while a big table is copied, one when each is done.
"""

from __future__ import annotations

import time
from typing import TextIO

_BAR_WIDTH = 30
#: Fewest seconds between two redraws on a terminal, and between two plain lines.
_REDRAW_S = 0.1
_PLAIN_EVERY_S = 5.0


class Progress:
    """Reports one table at a time: `start`, any number of `advance`, `finish`."""

    def __init__(self, out: TextIO, *, terminal: bool) -> None:
        self._out = out
        self._terminal = terminal
        self._table = ""
        self._total = 0
        self._done = 0
        self._shown_at = 0.0
        self._mid_line = False

    def say(self, line: str) -> None:
        self.close()
        self._out.write(line + "\n")
        self._out.flush()

    def start(self, table: str, total: int) -> None:
        self._table, self._total, self._done = table, total, 0
        self._shown_at = time.monotonic()
        if self._terminal:
            self._draw()

    def advance(self, rows: int) -> None:
        self._done += rows
        now = time.monotonic()
        if self._terminal and now - self._shown_at >= _REDRAW_S:
            self._shown_at = now
            self._draw()
        elif not self._terminal and now - self._shown_at >= _PLAIN_EVERY_S:
            self._shown_at = now
            self.say(f"copying {self._table}: {self._done}/{self._total} rows")

    def finish(self) -> None:
        if self._terminal:
            self._draw()
            self.close()
        else:
            self.say(f"copied {self._table}: {self._done}/{self._total} rows")

    def close(self) -> None:
        """End the line a bar is drawn on, if one is."""
        if self._mid_line:
            self._mid_line = False
            self._out.write("\n")
            self._out.flush()

    def _draw(self) -> None:
        fraction = 1.0 if self._total == 0 else min(1.0, self._done / self._total)
        filled = round(fraction * _BAR_WIDTH)
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        # Carriage return and erase-line: the same line is drawn again, not a new one.
        self._out.write(
            f"\r\x1b[K{self._table:<24} [{bar}] {self._done}/{self._total} rows {fraction:4.0%}"
        )
        self._mid_line = True
        self._out.flush()
