"""Where each server's CPU went, by part of the server, from bench/cpu_profile's samples:
microseconds of CPU a message, each part the first in `PARTS` that a sample's stack
matches.

    python bench/cpu_profile_summary.py DIR [bench/results/capacity-<time>.json]

With a capacity report (`capacity.py --at RATE --cpu-profile DIR`), one line per
instance count and server, per message sent in its rung; without one, per file, in
microseconds. docs/PERFORMANCE.md ("Capacity per box") quotes these lines.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

#: The parts of the server, in the order a stack is matched against them (the first
#: match takes it): a pattern over the whole stack of "function (file)" frames.
PARTS = (
    ("waiting in epoll (other threads' CPU)", r"get_events \(trio/_core/_io_epoll\.py\)$"),
    ("deliveries", r"app/messages/broadcaster\.py"),
    ("publishing, carried items received", r"on_notified_event|publisher\.py|bus/carried\.py"),
    ("payloads packed and sent", r"bus/carrier\.py|_notify \(chat/store/messages\.py\)"),
    ("commits", r"messages/writer\.py|store/message_batches\.py"),
    ("trio-asyncio and asyncpg, the rest", r"trio_asyncio/|asyncpg/"),
    ("frames in, sessions", r"chat/ws/"),
    ("HTTP", r"quart/|hypercorn/"),
    ("Trio's scheduler and the rest", r""),
)


def parts_of(samples: Path) -> Counter[str]:
    """Microseconds of CPU by part, from one collapsed-stacks file."""
    by_part: Counter[str] = Counter()
    for line in samples.read_text().splitlines():
        stack, _, microseconds = line.rpartition(" ")
        part = next(name for name, pattern in PARTS if re.search(pattern, stack))
        by_part[part] += int(microseconds)
    return by_part


def line_of(by_part: Counter[str], per: float) -> str:
    total = sum(by_part.values()) / per
    shares = "; ".join(f"{part} {us / per:.0f}" for part, us in by_part.most_common())
    return f"{total:.0f} us: {shares}"


def main() -> None:
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    directory = Path(sys.argv[1])
    if len(sys.argv) == 2:
        for samples in sorted(directory.glob("cpu-*.txt")):
            print(f"{samples.name}: {line_of(parts_of(samples), 1)}")
        return
    report = json.loads(Path(sys.argv[2]).read_text())
    for count, run in report["runs"].items():
        sent = run["steps"][-1]["sent"] or 1
        for pid in run["pids"]:
            samples = directory / f"cpu-{pid}.txt"
            if samples.exists():
                shares = line_of(parts_of(samples), sent)
                print(f"{count} instance(s), pid {pid}, a message: {shares}")


if __name__ == "__main__":
    main()
