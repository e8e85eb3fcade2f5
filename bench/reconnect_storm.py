"""A reconnection storm: 10,000 clients of the room protocol in 100
rooms on one instance of a two-instance cluster; the instance is killed (SIGKILL) while
messages keep flowing; every client reconnects, to the other instance or to the killed
one restarted, after a jittered back-off, and resumes with SinceID = the last message it
saw. Reports the time until every client is live again, each client's time from the
cut to live, refused attempts and errors, the database's CPU and the history queries
during the storm, and checks that every client has every message of its room exactly
once, in order, across the kill (against the table).

    python bench/reconnect_storm.py [--reconnect-to other|restarted] [--shared-reads off]
        [--profile DIR | --cpu-profile DIR]

See bench/README.md ("The reconnection storm") for what runs where, and
docs/PERFORMANCE.md ("Reconnect storm") for the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from capacity import cpu_profile_servers
from message_runs import py_spy_record
from search_load import migrate
from targets import (
    FD_HEADROOM,
    LOADGEN_CPU,
    SECRET,
    SERVER_CPU,
    DatabaseCpu,
    Target,
    build_loadgen,
    chat_target,
    postgres_schema,
    process_cpu_seconds,
    raise_fd_limit,
)

from chat.app.accounts.auth import Tokens
from chat.core.config import Config
from chat.store.accounts import name_keys

#: The longest the whole storm may take once the clients are connected.
RUN_TIMEOUT_S = 300.0
_MASK = (1 << 64) - 1


async def _load(url: str, rooms: int, members: int) -> tuple[list[tuple[int, str]], list[int]]:
    """Users storm0..N-1, rooms storm-room-0..R-1 with `members` each, in bulk; the
    users' ids and names, and the rooms' ids."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            users = []
            rows = []
            for i in range(rooms * members):
                name = f"storm{i}"
                keys = name_keys(name)
                rows.append((name, keys["name_key"], keys["look_key"], "!bench: no login"))
            await conn.executemany(
                "INSERT INTO users (name, name_key, look_key, password_hash)"
                " VALUES ($1, $2, $3, $4)",
                rows,
            )
            for uid, name in await conn.fetch(
                "SELECT id, name FROM users WHERE name LIKE 'storm%' ORDER BY id"
            ):
                users.append((uid, name))
            room_ids = []
            for k in range(rooms):
                room_ids.append(
                    await conn.fetchval(
                        "INSERT INTO rooms (name, kind, is_private, creator_id)"
                        " VALUES ($1, 'group', false, $2) RETURNING id",
                        f"storm-room-{k}",
                        users[k * members][0],
                    )
                )
            await conn.executemany(
                "INSERT INTO room_members (room_id, user_id) VALUES ($1, $2)",
                [(room_ids[i // members], uid) for i, (uid, _name) in enumerate(users)],
            )
        return users, room_ids
    finally:
        await conn.close()


async def _room_ids_after(url: str, room_ids: list[int], base: int) -> dict[int, list[int]]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT room_id, id FROM messages WHERE id > $1 AND room_id = ANY($2::bigint[])"
            " ORDER BY id",
            base,
            room_ids,
        )
    finally:
        await conn.close()
    by_room: dict[int, list[int]] = {room: [] for room in room_ids}
    for room, message_id in rows:
        by_room[room].append(message_id)
    return by_room


async def _newest(url: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM messages"))
    finally:
        await conn.close()


def _hash(ids: list[int]) -> int:
    h = 0
    for message_id in ids:
        h = (h * 1000003 + message_id) & _MASK
    return h


_SAMPLE = re.compile(
    r"^(chat_history_seconds_count|chat_shared_reads_total\S*|chat_history_cache_\w+_total\S*"
    r"|chat_batched_reads_\w+_total\S*)"
    r" (\S+)$",
    re.M,
)


def _counters(port: int) -> dict[str, float]:
    """The history queries and shared reads an instance counted (its /metrics)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as answer:
        text = answer.read().decode()
    return {name: float(value) for name, value in _SAMPLE.findall(text)}


def _delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0)}


def _cpu(database: DatabaseCpu, before: dict[int, float] | None) -> float | None:
    after = database.snapshot()
    if before is None or after is None:
        return None
    return round(sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items()), 2)


def _read_line(process: subprocess.Popen, deadline: float) -> dict:
    """The load generator's next JSON line (it prints one per phase); other lines (a
    debugger's, with STORM_WRAP) go to stderr."""
    while True:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"loadgen ended early (exit {process.wait()})")
        if time.monotonic() > deadline:
            raise RuntimeError("the storm took too long")
        if line.startswith("{"):
            return json.loads(line)
        print(line, end="", file=sys.stderr)


def _spy(directory: Path | None, target: Target, phase: str) -> subprocess.Popen | None:
    """py-spy recording `target` into DIR/storm-<phase>.txt (raw, for flame graphs), if
    a profile was asked for; `_stop_spy` ends it and waits for the file."""
    if directory is None or target.process is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    return py_spy_record(target.process.pid, directory / f"storm-{phase}.txt", RUN_TIMEOUT_S)


def _stop_spy(spy: subprocess.Popen | None) -> None:
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # py-spy writes what it recorded, then exits
        spy.wait(60)


def storm(args: argparse.Namespace) -> dict:
    """One storm on a fresh schema; the results, checked against the table."""
    members = args.clients // args.rooms
    loadgen = build_loadgen()
    with (
        tempfile.TemporaryDirectory(prefix="chat-storm-") as tmp_name,
        postgres_schema(args.database_url) as (url, database),
    ):
        tmp = Path(tmp_name)
        a = chat_target(tmp, "postgres", url, SERVER_CPU, "storm-a")
        b = chat_target(tmp, "postgres", url, SERVER_CPU, "storm-b")
        for target in (a, b):
            target.env["CHAT_SHARED_READS"] = args.shared_reads
            if args.max_handshakes is not None:
                target.env["CHAT_MAX_HANDSHAKES"] = str(args.max_handshakes)
        migrate(a.env)
        started = time.monotonic()
        users, room_ids = asyncio.run(_load(url, args.rooms, members))
        tokens = Tokens(SECRET, 24 * 3600)
        token_file, room_file = tmp / "tokens.txt", tmp / "rooms.txt"
        token_file.write_text("".join(f"{tokens.issue(uid, n, 0)}\n" for uid, n in users))
        room_file.write_text("".join(f"{room}\n" for room in room_ids))
        load_s = time.monotonic() - started
        a.start()
        b.start()
        try:
            return _run(args, a, b, database, url, loadgen, token_file, room_file, room_ids, load_s)
        finally:
            a.stop()
            b.stop()
            if os.environ.get("STORM_LOGS"):  # the instances' logs, for a diagnosis
                for target in (a, b):
                    target.log.seek(0)
                    print(target.log.read().decode(errors="replace"), file=sys.stderr)


def _run(
    args: argparse.Namespace,
    a: Target,
    b: Target,
    database: DatabaseCpu,
    url: str,
    loadgen: Path,
    token_file: Path,
    room_file: Path,
    room_ids: list[int],
    load_s: float,
) -> dict:
    members = args.clients // args.rooms
    base = asyncio.run(_newest(url))
    # STORM_WRAP: a debugger to run it under ("gdb -batch -ex run -ex bt --args").
    wrap = os.environ.get("STORM_WRAP", "").split()
    command = ["taskset", "-c", LOADGEN_CPU, *wrap, str(loadgen), "storm", "127.0.0.1"]
    command += [f"{a.port},{b.port}", str(args.rooms), str(members), str(args.rate)]
    command += [str(args.seconds), str(token_file), str(room_file)]
    command += ["1" if args.reconnect_to == "other" else "0", str(base)]
    # With --profile DIR: py-spy on instance b while the clients connect, then on the
    # survivor from the kill until every client is live again.
    spy = _spy(args.profile, b, "setup")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S + 180
        ready = _read_line(process, deadline)
        _stop_spy(spy)
        print(f"  {ready['connections']} connected in {ready['setup_seconds']} s", file=sys.stderr)
        time.sleep(args.kill_after)
        survivor = b if args.reconnect_to == "other" else a
        counters = _counters(b.port) if args.reconnect_to == "other" else {}
        db_before = database.snapshot()
        b_cpu_before = b.cpu_seconds()
        gen_before = process_cpu_seconds(process.pid)
        a.process.kill()  # SIGKILL: no drain, no close frames; the kernel resets them
        a.process.wait()
        killed_at = time.monotonic()
        print(f"  killed {a.label}", file=sys.stderr)
        if args.reconnect_to == "restarted":
            a.start()  # same port; its clients' attempts are refused until it listens
            print(f"  restarted in {time.monotonic() - killed_at:.2f} s", file=sys.stderr)
        serving = survivor if args.reconnect_to == "other" else a
        spy = _spy(args.profile, serving, "storm")
        if args.cpu_profile:
            os.kill(serving.process.pid, signal.SIGUSR1)  # bench/cpu_profile: sample from now
        live = _read_line(process, deadline)  # every client cut off is live again
        _stop_spy(spy)
        if args.cpu_profile:
            os.kill(serving.process.pid, signal.SIGUSR2)  # to here: not the goodbyes
        live_wall = time.monotonic() - killed_at
        db_cpu = _cpu(database, db_before)
        reads = _delta(_counters(survivor.port), counters)
        server_cpu = b.cpu_seconds() - b_cpu_before
        if args.reconnect_to == "restarted":
            server_cpu = a.cpu_seconds()  # the restarted process: all of its CPU
        gen_cpu = process_cpu_seconds(process.pid) - gen_before
        # Without an "all live" line (not everyone came back), that was the result.
        result = live if "mode" in live else _read_line(process, deadline)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    table = asyncio.run(_room_ids_after(url, room_ids, base))
    lost = duplicated = wrong = 0
    for i, (count, hash_text, _last) in enumerate(result.pop("seen")):
        expected = table[room_ids[i // members]]
        if count == len(expected) and int(hash_text) == _hash(expected):
            continue
        wrong += 1
        lost += max(0, len(expected) - count)
        duplicated += max(0, count - len(expected))
    result.update(
        reconnect_to=args.reconnect_to,
        shared_reads=args.shared_reads,
        max_handshakes=(
            Config().max_handshakes if args.max_handshakes is None else args.max_handshakes
        ),
        load_seconds=round(load_s, 1),
        all_live_wall_seconds=round(live_wall, 3),
        # None when nobody printed "all live" (the final line is then `result` itself).
        all_live_line=None if result is live else live,
        server_cpu_seconds=round(server_cpu, 2),
        database_cpu_seconds=db_cpu,
        loadgen_cpu_seconds=round(gen_cpu, 2),
        reads=reads,
        stored=sum(len(ids) for ids in table.values()),
        clients_wrong=wrong,
        messages_lost=lost,
        messages_extra=duplicated,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--rate", type=float, default=50.0, help="messages/s in all")
    parser.add_argument(
        "--seconds", type=float, default=15.0, help="the flow's shortest length (default 15)"
    )
    parser.add_argument("--kill-after", type=float, default=4.0, help="seconds of flow first")
    parser.add_argument("--reconnect-to", choices=["other", "restarted"], default="other")
    parser.add_argument("--shared-reads", choices=["on", "off"], default="on")
    parser.add_argument(
        "--max-handshakes",
        type=int,
        default=None,
        help="the instances' CHAT_MAX_HANDSHAKES (0: no bound, every upgrade let in;"
        " default: the server's)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="py-spy the clients' set-up and the storm into DIR (raw stacks)",
    )
    parser.add_argument(
        "--cpu-profile",
        type=Path,
        metavar="DIR",
        help="CPU-time samples of the instance the clients come back to, from the kill until"
        " all are live (bench/cpu_profile)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CHAT_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/test"),
    )
    args = parser.parse_args()
    if args.clients % args.rooms:
        sys.exit("bench: --clients must be a multiple of --rooms")
    if raise_fd_limit() < args.clients + args.rooms + FD_HEADROOM:
        sys.exit(f"bench: {args.clients} clients need more open files (`ulimit -Hn`)")
    if args.cpu_profile:
        cpu_profile_servers(args.cpu_profile)
    result = storm(args)
    out_dir = Path(__file__).resolve().parent / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = out_dir / f"storm-{stamp}.json"
    path.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(f"(raw results: bench/results/{path.name})")


if __name__ == "__main__":
    main()
