"""How the scenarios in which messages flow are measured (fanout, fanout beside rooms,
rooms, threads): the load generator run, and the server's and its database's CPU counted
from the moment every client is connected, with py-spy on the servers under --profile
(and their CPU-time samples started, under bench/capacity.py's --cpu-profile).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import room_members
from targets import IDLE_CONNECT_TIMEOUT_S, LOADGEN_CPU, PASSWORD, Cluster, Target, commit_totals


def run_loadgen(
    loadgen: Path, args: list[str], timeout: float, on_ready: Callable[[], None] | None = None
) -> dict:
    """Run the load generator pinned to LOADGEN_CPU; its JSON result (its last line),
    plus the CPU time it used per wall second (at full rate it spins, so see its own
    "busy" for how much of that was work: near 1.0 would mean it, not the server, set
    the pace). `on_ready` is called when fanout's clients are all connected, just
    before its first message (its "ready" line): the moment to start measuring."""
    import resource
    import select

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    process = subprocess.Popen(
        ["taskset", "-c", LOADGEN_CPU, str(loadgen), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        if on_ready is not None:
            # Bounded: a server that stops accepting must not hang the run. The report
            # comes seconds after the ready line, so this read cannot swallow it.
            readable, _, _ = select.select([process.stdout], [], [], timeout)
            lines.append(process.stdout.readline() if readable else "")
            if '"ready"' in lines[0]:
                on_ready()
        # The report is one short line and stderr a few: neither fills its pipe.
        process.wait(max(1.0, timeout - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise RuntimeError(f"loadgen {' '.join(args)}: no result after {timeout:.0f} s") from None
    except BaseException:  # interrupted (Ctrl-C, capacity's SIGTERM): no load left behind
        process.kill()
        process.wait()
        raise
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines += process.stdout.read().splitlines()
    if process.returncode != 0:
        raise RuntimeError(f"loadgen {' '.join(args)} failed: {process.stderr.read()}")
    report = json.loads(lines[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    report["loadgen_cpu_busy"] = round(cpu / wall, 3)
    return report


#: Where `--profile` writes py-spy's samples of each server process (None: no profile):
#: bench/run.py sets it from its option before any scenario runs.
PROFILE_DIR: Path | None = None


def py_spy_record(pid: int, out: Path, seconds: float, rate: int = 100) -> subprocess.Popen:
    """py-spy sampling process `pid` `rate` times a second for `seconds` (at least one),
    its raw stacks written to `out` when it ends (or is sent SIGINT): for `py-spy`'s or
    any flame graph's tools. Every benchmark's `--profile` starts it here."""
    # The bench extra installs py-spy beside this interpreter (maybe not on PATH).
    beside = Path(sys.executable).with_name("py-spy")
    spy = str(beside) if beside.exists() else "py-spy"
    command = [spy, "record", "--nonblocking", "-r", str(rate), "-f", "raw", "-o", str(out)]
    command += ["-d", str(max(1, int(seconds))), "-p", str(pid)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_cpu_profiles(target: Target | Cluster) -> None:
    """Tell every server of `target` to start sampling its CPU time now, its samples
    so far dropped (bench/cpu_profile: the servers were started with it)."""
    for member in target.members:
        if member.process is not None:
            os.kill(member.process.pid, signal.SIGUSR1)


def profile(target: Target | Cluster, scenario: str, seconds: float) -> list[subprocess.Popen]:
    """py-spy on every process of `target` for `seconds` (`--profile DIR`): one file of
    raw stacks each, ``<scenario>-<label>.txt``. Nothing when no directory was given."""
    if PROFILE_DIR is None:
        return []
    return [
        py_spy_record(member.process.pid, PROFILE_DIR / f"{scenario}-{member.label}.txt", seconds)
        for member in target.members
        if member.process is not None
    ]


def measured(
    target: Target | Cluster,
    loadgen: Path,
    args: list[str],
    timeout: float,
    profile_seconds: float | None = None,
    label: str | None = None,
) -> dict:
    """Run the load generator (fanout or rooms) and add the CPU time the server (each
    instance of a cluster) and its database backends used from its ready line on; with
    `--profile`, sample the server for `profile_seconds` from there (its files named
    after `label`, else the load generator's mode)."""
    before: dict = {}
    spies: list[subprocess.Popen] = []

    def ready() -> None:
        # Once every client is connected: the CPU counted is the deliveries', not the
        # handshakes' (which dominate at 10,000 receivers).
        before["cpu"] = target.cpu_seconds()
        before["each"] = target.cpu_seconds_each() if isinstance(target, Cluster) else None
        before["database"] = target.database.snapshot() if target.database else None
        before["commits"] = commit_totals(target)
        if profile_seconds is not None:
            scenario = (label or args[0]) + f"-{len(target.ports)}"
            spies.extend(profile(target, scenario, profile_seconds))
        if os.environ.get("CHAT_BENCH_CPU_PROFILE"):
            start_cpu_profiles(target)

    try:
        result = run_loadgen(loadgen, args, timeout=timeout, on_ready=ready)
    finally:
        for spy in spies:
            try:
                spy.wait((profile_seconds or 0) + 30)
            except subprocess.TimeoutExpired:
                spy.kill()
    if not before:
        raise RuntimeError(f"loadgen {args[0]}: no ready line")
    cpu_before, each_before, database_before = before["cpu"], before["each"], before["database"]
    cpu = target.cpu_seconds() - cpu_before
    result["server_cpu_seconds"] = round(cpu, 3)
    if result["deliveries"]:
        result["server_cpu_us_per_delivery"] = round(cpu * 1e6 / result["deliveries"], 3)
    if each_before is not None:
        result["instances"] = len(each_before)
        result["server_cpus"] = target.cpu
        result["bus"] = target.bus
        result["server_cpu_seconds_each"] = [
            round(after - before, 3)
            for before, after in zip(each_before, target.cpu_seconds_each(), strict=True)
        ]
    if isinstance(target, Cluster):
        result["bus_counters"] = target.bus_counters()
    commits_after = commit_totals(target)
    if before["commits"] is not None and commits_after is not None:
        # Batches per message: what the database's work per delivery follows.
        commits = commits_after["count"] - before["commits"]["count"]
        result["commits"] = int(commits)
        if commits:
            seconds = commits_after["sum"] - before["commits"]["sum"]
            result["commit_ms_mean"] = round(seconds * 1e3 / commits, 3)
            result["messages_per_commit"] = round(result["completed"] / commits, 2)
    database_after = target.database.snapshot() if target.database else None
    if database_before is not None and database_after is not None:
        # Backends opened during the run (the pool grows on demand) count in full.
        database = sum(t - database_before.get(pid, 0.0) for pid, t in database_after.items())
        result["database_cpu_seconds"] = round(database, 3)
        if result["deliveries"]:
            result["database_cpu_us_per_delivery"] = round(database * 1e6 / result["deliveries"], 3)
    return result


def fanout(target: Target | Cluster, loadgen: Path, tokens: Path, a: dict) -> dict:
    args = [
        "fanout",
        "127.0.0.1",
        ",".join(map(str, target.ports)),  # several: spread round-robin
        str(a["receivers"]),
        str(a["senders"]),
        str(a["rate"]),
        str(a["window"]),
        str(a["seconds"]),
        str(tokens),
    ]
    # Connecting is bounded like the idle scenarios' (10,000 receivers take a while).
    timeout = a["seconds"] + 120 + (IDLE_CONNECT_TIMEOUT_S if a["receivers"] > 2000 else 0)
    return measured(target, loadgen, args, timeout, profile_seconds=a["seconds"] - 1)


def fanout_beside_rooms(
    target: Target, loadgen: Path, tokens: Path, tmp: Path, name: str, a: dict
) -> dict:
    """fanout-100 in the lobby while `rooms` x `members` users of the room protocol sit
    in rooms of their own (their rooms' first members sending 1 message/s in all): each
    of them hears the lobby's messages as activity frames, so this is what a lobby
    message costs per /ws user connected elsewhere. The room users' load generator
    runs beside the fanout one, on the same CPU."""
    token_file, room_file, setup_s = _room_files(target, tmp, name, a)
    rooms_args = [a["rooms"], a["members"], 1, 10, a["seconds"] + 150, token_file, room_file]
    process = subprocess.Popen(
        ["taskset", "-c", LOADGEN_CPU, str(loadgen), "rooms", "127.0.0.1", str(target.port)]
        + [str(arg) for arg in rooms_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        import select

        readable, _, _ = select.select([process.stdout], [], [], IDLE_CONNECT_TIMEOUT_S)
        line = process.stdout.readline() if readable else ""
        if '"ready"' not in line:
            raise RuntimeError(f"loadgen rooms: not in their rooms: {line!r}")
        result = fanout(target, loadgen, tokens, a)
    finally:
        process.kill()
        process.wait()
    result["ws_users_elsewhere"] = a["rooms"] * a["members"]
    result["setup_seconds"] = round(setup_s, 1)
    return result


#: The longest the rooms scenarios' users, rooms and memberships may take to make.
ROOMS_SETUP_TIMEOUT_S = 120.0


def _room_files(target: Target, tmp: Path, name: str, a: dict) -> tuple[Path, Path, float]:
    """Make the rooms scenario's users, rooms and joins; the load generator's token and
    room files, and how long it took."""
    started = time.monotonic()
    tokens, room_ids = room_members.populate(
        target.port, a["rooms"], a["members"], a["others"], name, PASSWORD
    )
    setup_s = time.monotonic() - started
    if setup_s > ROOMS_SETUP_TIMEOUT_S:
        raise RuntimeError(f"{name}: set-up took {setup_s:.0f} s")
    token_file, room_file = tmp / f"tokens-{name}.txt", tmp / f"rooms-{name}.txt"
    token_file.write_text("\n".join(tokens) + "\n")
    room_file.write_text("\n".join(map(str, room_ids)) + "\n")
    return token_file, room_file, setup_s


def _thread_roots(
    target: Target, tmp: Path, name: str, token_file: Path, room_file: Path, members: int
) -> Path:
    """A root message in each room, sent by its first member (who then replies in its
    thread); the load generator's thread file."""
    tokens = token_file.read_text().split()
    roots = []
    for k, room_id in enumerate(room_file.read_text().split()):
        status, body = room_members.call(
            target.port, "POST", f"/messages/{room_id}", {"Text": "root"}, tokens[k * members]
        )
        if status != 201:
            raise RuntimeError(f"{name}: could not post a thread root: {status} {body}")
        roots.append(str(body["MessageID"]))
    thread_file = tmp / f"threads-{name}.txt"
    thread_file.write_text("\n".join(roots) + "\n")
    return thread_file


def rooms(target: Target, loadgen: Path, tmp: Path, name: str, a: dict) -> dict:
    """Users of the room protocol in their rooms (bench/room_members.py makes them), the
    rooms' first members sending at a fixed rate: the server's CPU per message, and the
    activity frames the members of other rooms heard."""
    token_file, room_file, setup_s = _room_files(target, tmp, name, a)
    if a.get("thread"):
        thread_file = _thread_roots(target, tmp, name, token_file, room_file, a["members"])
    args = [
        "rooms",
        "127.0.0.1",
        str(target.port),
        str(a["rooms"]),
        str(a["members"]),
        str(a["rate"]),
        str(a["window"]),
        str(a["seconds"]),
        str(token_file),
        str(room_file),
        *([str(thread_file)] if a.get("thread") else []),
    ]
    result = measured(
        target, loadgen, args, a["seconds"] + 120, profile_seconds=a["seconds"] - 1, label=name
    )
    cpu = result["server_cpu_seconds"]
    result["others"] = a["others"]
    result["setup_seconds"] = round(setup_s, 1)
    if result["sent"]:
        result["server_cpu_us_per_message"] = round(cpu * 1e6 / result["sent"], 1)
        result["activity_frames_per_message"] = round(result["activity_frames"] / result["sent"], 2)
    frames = result["deliveries"] + result["activity_frames"]
    if frames:
        result["server_cpu_us_per_frame"] = round(cpu * 1e6 / frames, 2)
    return result
