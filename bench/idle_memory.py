"""Where an idle connection's memory goes: a breakdown for docs/PERFORMANCE.md.

    python bench/idle_memory.py [--connections 2000] [--database-url URL]
        [--dialect rooms|tokentalker]

Starts chat in this process (SQLite in a temporary directory, or PostgreSQL at URL),
opens CONNECTIONS idle WebSocket connections to it with the load generator, and prints
what they added, per connection: Python objects by type (`gc`), and allocations by the
line of code that made them (`tracemalloc`). RSS is not what this measures (tracing
costs memory of its own): `bench/run.py`'s idle scenarios are the figure of record.

Without --dialect the connections are `idle-10000`'s: opened on "/" and nothing said.
With it they are `idle-100000`'s (the load generator's crowd mode): authenticated and
in the lobby, on /ws (``rooms``: entered, without presence frames) or on "/"
(``tokentalker``: after ``auth <token>``), ten users' tokens shared among them.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import tracemalloc
import urllib.request
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from targets import LOADGEN_CPU, build_loadgen, raise_fd_limit

from chat.core.config import Config
from chat.server.memory_snapshots import objects_by_type
from chat.server.serving import serve

#: Users whose tokens the connections share (--dialect): a user's connections are
#: filed together in the presence and revocation registries, as in `idle-100000`.
USERS = 10


def register(port: int, count: int) -> tuple[list[str], int]:
    """Tokens of `count` new users, and the lobby's id (blocking: run it in a thread)."""
    tokens = []
    for i in range(count):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/reg",
            data=json.dumps({"username": f"crowd{i}", "password": "bench-password"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            tokens.append(json.loads(response.read())["token"])
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/rooms", headers={"Authorization": f"Bearer {tokens[0]}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        lobby = json.loads(response.read())[0]  # the lobby comes first
    return tokens, lobby


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
    for stat in diff[:80]:
        if stat.size_diff / n < 16:
            break
        frame = stat.traceback[0]
        where = f"{'/'.join(Path(frame.filename).parts[-2:])}:{frame.lineno}"
        print(f"| {where} | {stat.size_diff / n:.0f} | {stat.count_diff / n:.2f} |")
    grown = sum(s.size_diff for s in diff)
    print(f"| all (tracemalloc) | {grown / n:.0f} | |")


async def main(
    connections: int, database_url: str | None, data_dir: Path, dialect: str | None
) -> None:
    config = Config(
        host="127.0.0.1",
        port=0,
        database_url=database_url,
        data_dir=data_dir,
        jwt_secret="x" * 48,
        rate_limits=False,
        bcrypt_cost=4,
    )
    loadgen = build_loadgen()
    async with trio.open_nursery() as nursery:
        _host, port = await nursery.start(serve, config)
        command = ["taskset", "-c", LOADGEN_CPU, str(loadgen)]
        if dialect is None:
            command += ["idle", "127.0.0.1", str(port), str(connections), "120"]
        else:
            tokens, lobby = await trio.to_thread.run_sync(register, port, USERS)
            token_file = data_dir / "tokens.txt"
            token_file.write_text("\n".join(tokens) + "\n")
            command += ["crowd", "127.0.0.1", str(port), str(connections), dialect]
            command += [str(token_file), str(lobby), "0"]  # FIRST: it holds them all
        await trio.sleep(1)
        gc.collect()
        before, snap_before = objects_by_type(), tracemalloc.take_snapshot()
        process = await trio.to_thread.run_sync(
            lambda: subprocess.Popen(
                command,
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
    parser.add_argument(
        "--dialect",
        choices=("rooms", "tokentalker"),
        default=None,
        help="authenticated connections in the lobby, as idle-100000's (default: idle-10000's)",
    )
    args = parser.parse_args()
    raise_fd_limit()
    tracemalloc.start(1)
    with tempfile.TemporaryDirectory(prefix="chat-idle-") as tmp:
        trio.run(main, args.connections, args.database_url, Path(tmp), args.dialect)
