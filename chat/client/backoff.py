"""How long to wait before connecting again: exponential backoff with jitter, capped.

The n-th wait in a row is drawn from [d/2, d] where d = min(cap, initial * 2**n): it
grows quickly while the server stays away, never passes ``cap``, and the random half
spreads a crowd of clients that lost the same server so that they do not come back in
the same instant. A connection that worked resets it (`reset`)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    initial: float = 0.5
    cap: float = 30.0
    attempts: int = 0
    _random: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.cap:
            raise ValueError("a backoff needs 0 < initial <= cap")

    def next_delay(self, at_least: float = 0.0) -> float:
        """The next wait, in seconds; ``at_least`` (a server's ``Retry-After``) raises
        it, up to the cap."""
        ceiling = min(self.cap, self.initial * 2 ** min(self.attempts, 32))
        self.attempts += 1
        delay = self._random.uniform(ceiling / 2, ceiling)
        return min(self.cap, max(delay, at_least))

    def reset(self) -> None:
        self.attempts = 0
