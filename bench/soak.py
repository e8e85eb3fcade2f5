"""A memory soak: many short client lives against chat, and each instance's RSS over time.

    python bench/soak.py                          # 10 minutes, two instances on PostgreSQL
    python bench/soak.py --minutes 1              # a short trial
    python bench/soak.py --backend sqlite         # one instance on SQLite
    python bench/soak.py --tracemalloc            # also where the memory went (slower)

What it checks: a server that lives through connections coming and going must not keep
what they left behind. CLIENTS clients (40) each live short lives in a loop until the
time is up: connect to ``/ws?token=...`` (client i to instance i % n), enter the lobby,
send a message with a ``ClientMsgID`` and wait for its confirmation, send ``typing``,
set the read marker to that message and wait for its echo, close. Every client sees
the others' messages, presence and typing while it is in the lobby. An error frame, a
refused or broken connection, or a life that does not end within 10 s is an error; a
message sent but never confirmed is lost. The run checks 0 of each.

The servers start as `bench/run.py` starts them (`chat serve` pinned to CPU 0 with
taskset, CHAT_RATE_LIMITS=off, a throwaway PostgreSQL schema, users registered over
HTTP); the clients run here, in one Trio process pinned to CPU 1 (taskset). Each
instance's RSS is read from /proc every --sample seconds, and the curve is printed per
minute with the target's check: RSS at the end at most 1.3x RSS after the first minute.

With --tracemalloc the servers trace their allocations (CHAT_TRACEMALLOC, chat/core/config.py)
and write a snapshot when sent SIGUSR2; the run asks for one after the first minute and
one at the end, and prints what grew between them by allocating line and by object
type. Tracing slows the server and costs memory of its own: its RSS is not the figure
of record.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import trio
from trio_websocket import ConnectionClosed, HandshakeError, open_websocket_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from targets import (
    LOADGEN_CPU,
    Cluster,
    Target,
    chat_target,
    cluster_target,
    postgres_schema,
    tokens_for,
)

#: The lobby's room id (the first migration makes it).
LOBBY = 1
#: The longest one life may take (connect to close) before it counts as an error.
LIFE_TIMEOUT_S = 10.0
#: Users are registered at this bcrypt cost: the soak measures no logins.
SOAK_ENV = {"CHAT_BCRYPT_COST": "4"}
#: The target: RSS at the end at most this times RSS after the first minute.
TARGET_RATIO = 1.3


@dataclass
class Tally:
    """What the clients did, all together."""

    lives: int = 0
    sent: int = 0
    confirmed: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def lost(self) -> int:
        return self.sent - self.confirmed


async def _until(ws, wanted) -> dict:  # type: ignore[no-untyped-def]
    """Frames until one for which `wanted(frame)` holds; an error frame raises."""
    while True:
        frame = json.loads(await ws.get_message())
        if frame.get("Type") == "error":
            raise RuntimeError(f"error frame: {frame.get('Error')}")
        if wanted(frame):
            return frame


async def life(url: str, tally: Tally, client: int) -> None:
    """One short life: connect, enter, send with ClientMsgID, typing, read marker, close."""
    async with open_websocket_url(url) as ws:
        await ws.send_message(json.dumps({"Type": "enter", "RoomID": LOBBY}))
        await _until(ws, lambda f: f.get("Type") == "entered")
        client_msg_id = f"{client}-{uuid.uuid4().hex}"
        text = f"soak {client} {tally.lives}"
        await ws.send_message(
            json.dumps({"Type": "message", "Text": text, "ClientMsgID": client_msg_id})
        )
        tally.sent += 1
        mine = await _until(
            ws, lambda f: f.get("Type") == "message" and f.get("ClientMsgID") == client_msg_id
        )
        tally.confirmed += 1
        await ws.send_message(json.dumps({"Type": "typing"}))
        marker = {"Type": "read", "RoomID": LOBBY, "MessageID": mine["MessageID"]}
        await ws.send_message(json.dumps(marker))
        # The echo carries the marker as stored: this message, or a later one of ours
        # another client's read moved it to (markers never move back).
        await _until(
            ws,
            lambda f: f.get("Type") == "read" and f.get("MessageID", 0) >= mine["MessageID"],
        )


async def client_loop(urls: list[str], tally: Tally, client: int, deadline: float) -> None:
    """Live short lives until `deadline` (trio time)."""
    while trio.current_time() < deadline:
        try:
            with trio.fail_after(LIFE_TIMEOUT_S):
                await life(urls[client % len(urls)], tally, client)
            tally.lives += 1
        except trio.TooSlowError:
            tally.errors["life took over 10 s"] += 1
        except (HandshakeError, ConnectionClosed, OSError, RuntimeError, ValueError) as error:
            tally.errors[f"{type(error).__name__}: {str(error)[:80]}"] += 1
            await trio.sleep(0.1)  # a refused server must not become a busy loop


@dataclass
class Curve:
    """Each instance's RSS (KiB) at each sample, with the seconds since the start."""

    labels: list[str]
    samples: list[tuple[float, list[int], int]] = field(default_factory=list)  # t, rss, lives


async def sample_rss(
    targets: list[Target], curve: Curve, tally: Tally, every: float, started: float
) -> None:
    """Read every instance's RSS every `every` seconds. Runs until cancelled."""
    while True:
        now = trio.current_time() - started
        curve.samples.append((now, [t.rss_kib() for t in targets], tally.lives))
        await trio.sleep(every)


def _written(directory: Path, pid: int) -> set[Path]:
    return set(directory.glob(f"tracemalloc-{pid}-*.pickle"))


async def take_snapshots(targets: list[Target], directory: Path, name: str) -> list[Path]:
    """Ask each instance for a tracemalloc snapshot (SIGUSR2) and wait until it is written."""
    paths = []
    for target in targets:
        assert target.process is not None
        pid = target.process.pid
        before = await trio.to_thread.run_sync(_written, directory, pid)
        os.kill(pid, signal.SIGUSR2)
        # Another process writes the file: there is nothing to wait on but the directory.
        with trio.fail_after(300):
            while not (new := await trio.to_thread.run_sync(_written, directory, pid) - before):  # noqa: ASYNC110
                await trio.sleep(0.5)
        paths.append(max(new).rename(directory / f"{name}-{target.label}.pickle"))
    return paths


def grown(first: Path, last: Path, label: str, top: int = 25) -> str:
    """What grew between two snapshots of one instance: by line, and by traceback's type."""
    before, after = tracemalloc.Snapshot.load(str(first)), tracemalloc.Snapshot.load(str(last))
    lines = [f"\n{label}: what grew from minute 1 to the end, by allocating line (KiB)"]
    lines += ["| where | KiB | blocks |", "| --- | --- | --- |"]
    diff = after.compare_to(before, "lineno")
    for stat in diff[:top]:
        frame = stat.traceback[0]
        where = f"{'/'.join(Path(frame.filename).parts[-3:])}:{frame.lineno}"
        lines.append(f"| {where} | {stat.size_diff / 1024:,.0f} | {stat.count_diff:+,} |")
    total = sum(s.size_diff for s in diff)
    lines.append(f"| all (tracemalloc) | {total / 1024:,.0f} | |")
    lines += [f"\n{label}: by allocating traceback (the {min(top, 8)} largest)"]
    for stat in after.compare_to(before, "traceback")[: min(top, 8)]:
        lines.append(f"{stat.size_diff / 1024:,.0f} KiB in {stat.count_diff:+,} blocks:")
        lines += [f"    {frame}" for frame in stat.traceback.format(limit=8)]
    return "\n".join(lines)


def curve_table(curve: Curve) -> str:
    """RSS per instance at the first sample of each minute (and at the end), in MiB."""
    rows = ["| minute | lives | " + " | ".join(f"{label} RSS MiB" for label in curve.labels) + " |"]
    rows.append("| --- | --- | " + " | ".join("---" for _ in curve.labels) + " |")
    shown: list[tuple[float, list[int], int]] = []
    minute = 0
    for sample in curve.samples:
        if sample[0] >= minute * 60 - 0.5:
            shown.append(sample)
            minute = int(sample[0] // 60) + 1
    if curve.samples and shown[-1] is not curve.samples[-1]:
        shown.append(curve.samples[-1])
    for t, rss, lives in shown:
        sizes = " | ".join(f"{kib / 1024:.1f}" for kib in rss)
        rows.append(f"| {t / 60:.1f} | {lives:,} | {sizes} |")
    return "\n".join(rows)


def at(curve: Curve, seconds: float) -> list[int]:
    """Each instance's RSS at the first sample at or after `seconds`."""
    for t, rss, _ in curve.samples:
        if t >= seconds:
            return rss
    return curve.samples[-1][1]


async def soak(
    targets: list[Target], tokens: list[str], args: argparse.Namespace, snapshots: Path | None
) -> tuple[Tally, Curve, list[str]]:
    """Run the clients for `args.minutes`, sampling RSS; the tally, the curve, and the
    tracemalloc reports (if asked)."""
    urls = [f"ws://127.0.0.1:{t.port}/ws?token=" for t in targets]
    tally, curve, reports = Tally(), Curve([t.label for t in targets]), []
    started = trio.current_time()
    deadline = started + args.minutes * 60
    async with trio.open_nursery() as nursery:
        # Holds the RSS sampler until the clients are done, then is cancelled.
        nursery.start_soon(sample_rss, targets, curve, tally, args.sample, started)
        async with trio.open_nursery() as clients:
            # Holds the clients; each ends at the deadline, after its current life.
            for i in range(args.clients):
                client_urls = [url + tokens[i] for url in urls]
                clients.start_soon(client_loop, client_urls, tally, i, deadline)
            if snapshots is not None:
                await trio.sleep_until(started + min(60, args.minutes * 60 / 2))
                first = await take_snapshots(targets, snapshots, "minute-1")
            # With --clients 0 the run still lasts its minutes: an idle baseline.
            await trio.sleep_until(deadline)
        await trio.sleep(args.sample)  # one sample after the last life
        curve.samples.append(
            (trio.current_time() - started, [t.rss_kib() for t in targets], tally.lives)
        )
        if snapshots is not None:
            last = await take_snapshots(targets, snapshots, "end")
            reports = [grown(a, b, t.label) for a, b, t in zip(first, last, targets, strict=True)]
        nursery.cancel_scope.cancel()
    return tally, curve, reports


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CHAT_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/test"),
        help="PostgreSQL server (a throwaway schema is created and dropped)",
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the soak")
    parser.add_argument("--clients", type=int, default=40, help="clients living at once")
    parser.add_argument(
        "--instances", type=int, default=2, help="chat serve processes (PostgreSQL)"
    )
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="snapshots at minute 1 and the end"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting added to every instance's environment (e.g. MALLOC_ARENA_MAX=2)",
    )
    args = parser.parse_args()
    if args.minutes <= 0 or args.minutes > 60:
        sys.exit("soak: --minutes is between 0 and 60")
    # The clients on the load generator's CPU, as run.py's load generator.
    os.sched_setaffinity(0, {int(LOADGEN_CPU)})
    env = dict(SOAK_ENV, **dict(item.split("=", 1) for item in args.env))
    with tempfile.TemporaryDirectory(prefix="chat-soak-") as tmp_name:
        tmp = Path(tmp_name)
        snapshots = tmp / "snapshots" if args.tracemalloc else None
        if snapshots is not None:
            snapshots.mkdir()
            env["CHAT_TRACEMALLOC"] = str(snapshots)
        if args.backend == "sqlite":
            run_on(chat_target(tmp, "sqlite", None), env, tmp, args, snapshots)
        else:
            with postgres_schema(args.database_url) as (url, _database):
                cluster = cluster_target(tmp, url, ["0"] * args.instances)
                run_on(cluster, env, tmp, args, snapshots)


def run_on(
    server: Target | Cluster,
    env: dict[str, str],
    tmp: Path,
    args: argparse.Namespace,
    snapshots: Path | None,
) -> None:
    """Start `server`, register the clients' users, soak, stop it; print and save it all."""
    targets = server.members
    with server.running(env):
        first = targets[0]
        tokens = tokens_for(first, args.clients, tmp).read_text().split()
        started = time.monotonic()
        tally, curve, reports = trio.run(soak, targets, tokens, args, snapshots)
        wall = time.monotonic() - started
    print(curve_table(curve))
    one = at(curve, 60)
    end = curve.samples[-1][1]
    ratios = [e / o for e, o in zip(end, one, strict=True)]
    print(
        f"\nlives: {tally.lives:,} ({tally.lives / wall:.0f}/s), messages sent "
        f"{tally.sent:,}, confirmed {tally.confirmed:,}, lost {tally.lost}, "
        f"errors {sum(tally.errors.values())}"
    )
    for error, count in tally.errors.most_common(10):
        print(f"  {count} x {error}")
    ratio_text = ", ".join(f"{r:.2f}x" for r in ratios)
    met = all(r <= TARGET_RATIO for r in ratios) and not tally.errors and not tally.lost
    print(
        f"RSS at the end / after minute 1: {ratio_text} (target at most {TARGET_RATIO}x): "
        + ("met" if met else "NOT met")
    )
    for report in reports:
        print(report)
    out_dir = Path(__file__).resolve().parent / "results"
    out_dir.mkdir(exist_ok=True)
    out = out_dir / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {
                "backend": args.backend,
                "instances": len(targets),
                "clients": args.clients,
                "minutes": args.minutes,
                "env": args.env,
                "lives": tally.lives,
                "sent": tally.sent,
                "lost": tally.lost,
                "errors": dict(tally.errors),
                "labels": curve.labels,
                "samples": curve.samples,
                "ratios": ratios,
            },
            indent=1,
        )
    )
    print(f"\n(raw results: bench/results/{out.name})")
    if not met:
        sys.exit(1)


if __name__ == "__main__":
    main()
