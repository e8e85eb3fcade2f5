"""idle-100000's clients as several load generators (`loadgen crowd`), one range each.

A process may hold only as many sockets as its open-files limit allows (20,000 on
machines without CAP_SYS_RESOURCE), so a crowd larger than that is several `loadgen
crowd` processes, each holding its own range of clients (`FIRST`, `CONNECTIONS`). They
speak to this runner in lines: each says `{"ready":...}` once its clients are in; the
runner says `send K` to the one holding client 0 and waits for `{"done":K,...}` from
every one of them (each times its own deliveries against the send time the message
carries: CLOCK_MONOTONIC is one clock for the machine); `report N` makes each print the
latency of every delivery and what was lost. Closing their stdin ends them.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO


@dataclass
class Shard:
    """One `loadgen crowd` process and the lines it has said."""

    first: int
    connections: int
    process: subprocess.Popen
    pending: str = ""  # what it wrote after its last complete line
    lines: list[dict] = field(default_factory=list)
    ended: bool = False  # its stdout closed

    @property
    def stdout(self) -> IO[str]:
        assert self.process.stdout is not None
        return self.process.stdout

    def read(self) -> None:
        """What the shard wrote since the last read, split into lines (read from the
        pipe itself, not through a buffer that select cannot see)."""
        chunk = os.read(self.stdout.fileno(), 1 << 20)
        if not chunk:
            self.ended = True
        self.pending += chunk.decode()
        *complete, self.pending = self.pending.split("\n")
        self.lines.extend(json.loads(line) for line in complete if line)

    def say(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()


class CrowdShards:
    """`connections` clients split over as few load generators as `per_process` allows,
    started together; a context manager that ends them (stdin closed, then killed if they
    linger)."""

    def __init__(
        self, start: list[str], then: list[str], connections: int, per_process: int
    ) -> None:
        """Each shard runs `start` (up to `loadgen crowd HOST PORTS`, behind `taskset`
        if wanted), its CONNECTIONS, `then` (DIALECT TOKENFILE ROOM) and its FIRST."""
        count = -(-connections // per_process)
        base, extra = divmod(connections, count)
        self.shards: list[Shard] = []
        first = 0
        for i in range(count):
            size = base + (i < extra)
            process = subprocess.Popen(
                [*start, str(size), *then, str(first)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            self.shards.append(Shard(first, size, process))
            first += size

    def __enter__(self) -> CrowdShards:
        return self

    def __exit__(self, *_: object) -> None:
        for shard in self.shards:
            if shard.process.stdin is not None and not shard.process.stdin.closed:
                with contextlib.suppress(BrokenPipeError):  # it ended already
                    shard.process.stdin.close()
        for shard in self.shards:
            try:
                shard.process.wait(60)
            except subprocess.TimeoutExpired:
                shard.process.kill()
                shard.process.wait()

    def _failure(self, what: str) -> RuntimeError:
        """What went wrong, with the stderr of every shard that has ended."""
        said = [
            f"shard from {shard.first}: {shard.process.stderr.read().strip()}"
            for shard in self.shards
            if shard.process.poll() is not None and shard.process.stderr is not None
        ]
        return RuntimeError("; ".join([f"loadgen crowd: {what}", *said]))

    def _read_until(
        self, wanted: dict[int, Callable[[dict], bool]], deadline: float
    ) -> dict[int, dict]:
        """The first line of each shard in `wanted` (index -> what the line must be),
        read from all of them at once until `deadline`; other lines are kept."""
        found: dict[int, dict] = {}
        while True:
            for index, matches in wanted.items():
                shard = self.shards[index]
                line = next((line for line in shard.lines if matches(line)), None)
                if index not in found and line is not None:
                    shard.lines.remove(line)
                    found[index] = line
            if len(found) == len(wanted):
                return found
            waiting = [self.shards[i].stdout for i in wanted if i not in found]
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select(waiting, [], [], left)
            for shard in self.shards:
                if shard.stdout in ready:
                    shard.read()
                    if shard.ended:
                        raise self._failure("a load generator ended early")

    def ready(self, timeout: float) -> list[dict]:
        """Each shard's `ready` line, once every client of every shard is in."""
        try:
            found = self._read_until(
                {i: lambda line: "ready" in line for i in range(len(self.shards))},
                time.monotonic() + timeout,
            )
        except TimeoutError:
            raise self._failure(f"not all in after {timeout:.0f} s") from None
        return [found[i] for i in range(len(self.shards))]

    def send(self, k: int, timeout: float) -> float | None:
        """Message `k` from client 0; the ms until every shard had it everywhere (the
        slowest shard's), or None if some had not within `timeout` s."""
        self.shards[0].say(f"send {k}")
        deadline = time.monotonic() + timeout
        wanted = {i: (lambda line: line.get("done") == k) for i in range(len(self.shards))}
        try:
            found = self._read_until(wanted, deadline)
        except TimeoutError:
            return None
        return max(line["ms"] for line in found.values())

    def report(self, messages: int) -> dict:
        """Every shard's deliveries of messages 0..`messages`-1, merged: latency
        percentiles over all of them, what was lost and what was stray."""
        for shard in self.shards:
            shard.say(f"report {messages}")
        try:
            found = self._read_until(
                {i: lambda line: "latencies_us" in line for i in range(len(self.shards))},
                time.monotonic() + 60,
            )
        except TimeoutError:
            raise self._failure("no report within 60 s") from None
        latencies = sorted(us for line in found.values() for us in line["latencies_us"])

        def percentile(p: float) -> int:
            return latencies[int(p * (len(latencies) - 1))] if latencies else -1

        return {
            "expected_per_message": sum(line["expected_per_message"] for line in found.values()),
            "lost": sum(line["lost"] for line in found.values()),
            "stray": sum(line["stray"] for line in found.values()),
            "latency_us": {
                "p50": percentile(0.5),
                "p90": percentile(0.9),
                "p99": percentile(0.99),
                "max": percentile(1.0),
            },
        }
