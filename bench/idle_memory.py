"""Where an idle connection's memory goes: a breakdown for docs/PERFORMANCE.md.

    python bench/idle_memory.py [--connections 2000] [--database-url URL]

Starts chat in this process (SQLite in a temporary directory, or PostgreSQL at URL),
opens CONNECTIONS idle WebSocket connections to it with the load generator, and prints
what they added, per connection: Python objects by type (`gc`), and allocations by the
line of code that made them (`tracemalloc`). RSS is not what this measures (tracing
costs memory of its own): `bench/run.py`'s idle scenarios are the figure of record.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import tracemalloc
from collections import Counter
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import LOADGEN_CPU, build_loadgen, raise_fd_limit

from chat.config import Config
from chat.server import serve


def objects_by_type() -> tuple[Counter[str], Counter[str]]:
    """How many objects of each type the collector tracks, and their shallow sizes."""
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    for obj in gc.get_objects():
        name = type(obj).__qualname__
        counts[name] += 1
        sizes[name] += sys.getsizeof(obj)
    return counts, sizes


def report(before, after, snap_before, snap_after, n: int) -> None:
    (count0, size0), (count1, size1) = before, after
    print(f"\nPython objects tracked by gc, per connection (of {n}):")
    print("| type | objects | shallow bytes |")
    print("| --- | --- | --- |")
    rows = sorted(size1, key=lambda t: size0[t] - size1[t])
    for name in rows[:40]:
        grown = (size1[name] - size0[name]) / n
        if grown < 8:
            break
        print(f"| {name} | {(count1[name] - count0[name]) / n:.2f} | {grown:.0f} |")
    total = sum(size1.values()) - sum(size0.values())
    print(f"| all tracked objects | | {total / n:.0f} |")
    diff = snap_after.compare_to(snap_before, "lineno")
    print(f"\nAllocations by line, bytes per connection (of {n}):")
    print("| where | bytes | blocks |")
    print("| --- | --- | --- |")
    for stat in diff[:40]:
        if stat.size_diff / n < 16:
            break
        frame = stat.traceback[0]
        where = f"{'/'.join(Path(frame.filename).parts[-2:])}:{frame.lineno}"
        print(f"| {where} | {stat.size_diff / n:.0f} | {stat.count_diff / n:.2f} |")
    grown = sum(s.size_diff for s in diff)
    print(f"| all (tracemalloc) | {grown / n:.0f} | |")


async def main(connections: int, database_url: str | None, data_dir: Path) -> None:
    config = Config(
        host="127.0.0.1",
        port=0,
        database_url=database_url,
        data_dir=data_dir,
        jwt_secret="x" * 48,
        rate_limits=False,
    )
    loadgen = build_loadgen()
    async with trio.open_nursery() as nursery:
        _host, port = await nursery.start(serve, config)
        await trio.sleep(1)
        gc.collect()
        before, snap_before = objects_by_type(), tracemalloc.take_snapshot()
        command = ["taskset", "-c", LOADGEN_CPU, str(loadgen), "idle", "127.0.0.1", str(port)]
        process = await trio.to_thread.run_sync(
            lambda: subprocess.Popen(
                [*command, str(connections), "120"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
        line = await trio.to_thread.run_sync(process.stdout.readline)
        print(json.loads(line), file=sys.stderr)
        await trio.sleep(2)
        gc.collect()
        after, snap_after = objects_by_type(), tracemalloc.take_snapshot()
        process.stdin.close()
        await trio.to_thread.run_sync(process.wait)
        report(before, after, snap_before, snap_after, connections)
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--database-url", default=None, help="PostgreSQL (default: SQLite)")
    args = parser.parse_args()
    raise_fd_limit()
    tracemalloc.start(1)
    with tempfile.TemporaryDirectory(prefix="chat-idle-") as tmp:
        trio.run(main, args.connections, args.database_url, Path(tmp))
