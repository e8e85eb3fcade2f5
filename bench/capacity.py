"""Capacity per box: does a second (and a third) instance add capacity?

Each instance gets a box of its own, a CPU cgroup with a quota (`--instance-cpu`, 0.3 of a
CPU by default), and PostgreSQL one too (`--database-cpu`, 0.5): a server of this run's
own, started from the Debian binaries in a temporary directory, so that the shared
one's other users neither slow it nor are slowed. Each instance also gets a network
namespace of its own, linked to the root one by a veth pair (bench/network_boxes.py;
`--shared-loopback` leaves them all on loopback). The load generator runs outside the
groups, in the root namespace, on what is left. For 1, 2 and 3 instances, fanout-100
(100 receivers spread over the instances, round-robin; 10 senders) climbs a ladder of
message rates, and the highest rate whose p99 stays under `P99_LIMIT_MS` with nothing
lost is the instances' capacity. Reports, for each count: that rate, the server CPU per
delivery (each instance's, and their mean), the database's CPU per message, and how
long each group was throttled (which box stopped the line).

    sudo python bench/capacity.py [--instances 1,2,3] [--seconds 10]

Root only (cgroups, namespaces, and PostgreSQL run as its own user). The groups and
namespaces are removed, and the database stopped, however the run ends. See
bench/README.md ("Capacity per box") and docs/PERFORMANCE.md ("Capacity per box").
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from message_runs import measured
from network_boxes import NETWORK, NetworkBox, network_boxes
from scenarios import FANOUT_100, SENDERS
from targets import (
    BENCH,
    Cluster,
    Target,
    build_loadgen,
    chat_target,
    free_port,
    postgres_schema,
    raise_fd_limit,
    tokens_for,
)

#: The p99 latency a rate must keep to count as held.
P99_LIMIT_MS = 100.0
#: The CFS period of every group: short, so that a group out of quota waits at most this
#: long (with the kernel's 100 ms default, a throttled instance stalls up to 70 ms).
PERIOD_US = 20_000
#: The ladder: from FIRST_RATE, each rung STEP times the one below, at most RUNGS.
FIRST_RATE, STEP, RUNGS = 250, 1.4, 14
#: Messages in flight at most (all senders): wide enough that the window never sets the
#: pace below the latency limit (a closed loop of W in flight at latency L sends at most
#: W / L: fanout-100's window of 100 capped every rate near 2,900/s at 35 ms).
WINDOW = 2000
#: Halvings of the gap between the last rate held and the first refused.
REFINEMENTS = 2
#: Seconds at FIRST_RATE before each count's first rung, not counted: instances just
#: started on a database just made stalled that rung (p99 0.1-0.9 s at 250/s, where the
#: same box then held 1,882/s).
WARM_UP_S = 3.0
V1_ROOT = Path("/sys/fs/cgroup/cpu")
V2_ROOT = Path("/sys/fs/cgroup")


@dataclass
class CpuGroup:
    """One box: a cgroup with a CPU quota. `join` is a command prefix that puts the
    command's process (and all it starts) in the group before it runs."""

    path: Path
    version: int

    @property
    def join(self) -> list[str]:
        procs = str(self.path / "cgroup.procs")
        return ["sh", "-c", 'echo $$ > "$0" && exec "$@"', procs]

    def throttled_seconds(self) -> float:
        """How long the group's tasks have waited for quota so far."""
        stats = dict(
            line.split() for line in (self.path / "cpu.stat").read_text().splitlines() if line
        )
        if self.version == 1:
            return int(stats.get("throttled_time", 0)) / 1e9  # nanoseconds
        return int(stats.get("throttled_usec", 0)) / 1e6

    def members(self) -> list[int]:
        return [int(pid) for pid in (self.path / "cgroup.procs").read_text().split()]


def cpu_controller_writable() -> bool:
    """Whether `cpu_groups` can make groups here: root, and cgroup v1's cpu controller
    writable or v2's cpu controller offered."""
    if os.geteuid() != 0:
        return False
    if (V1_ROOT / "cpu.cfs_quota_us").exists():
        return os.access(V1_ROOT, os.W_OK)
    controllers = V2_ROOT / "cgroup.controllers"
    return controllers.exists() and "cpu" in controllers.read_text().split()


@contextlib.contextmanager
def cpu_groups(quotas: dict[str, float]) -> Iterator[dict[str, CpuGroup]]:
    """A group per name with its quota (CPUs), under a parent of this run's own; all
    removed on the way out, a SIGTERM or SIGHUP included (their processes must have
    ended: a group still holding one is reported, its processes moved to the root, and
    removed anyway)."""
    if (V1_ROOT / "cpu.cfs_quota_us").exists():
        version, root = 1, V1_ROOT
    elif "cpu" in (V2_ROOT / "cgroup.controllers").read_text().split():
        version, root = 2, V2_ROOT
        # The parent must hand the cpu controller down to its children.
        (root / "cgroup.subtree_control").write_text("+cpu")
    else:
        sys.exit("capacity: no writable CPU cgroup controller (v1 cpu or v2 cpu.max)")
    parent = root / f"chat-capacity-{os.getpid()}"
    groups: dict[str, CpuGroup] = {}
    with _terminations_unwind():
        parent.mkdir()
        try:
            if version == 2:
                (parent / "cgroup.subtree_control").write_text("+cpu")
            for name, cpus in quotas.items():
                path = parent / name
                path.mkdir()
                quota = int(cpus * PERIOD_US)
                if version == 1:
                    (path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                    (path / "cpu.cfs_quota_us").write_text(str(quota))
                else:
                    (path / "cpu.max").write_text(f"{quota} {PERIOD_US}")
                groups[name] = CpuGroup(path, version)
            yield groups
        finally:
            for group in groups.values():
                left = group.members()
                if left:
                    print(f"capacity: {group.path.name} still held {left}", file=sys.stderr)
                    for pid in left:
                        with contextlib.suppress(OSError):
                            (root / "cgroup.procs").write_text(str(pid))
                group.path.rmdir()
            parent.rmdir()


@contextlib.contextmanager
def _terminations_unwind() -> Iterator[None]:
    """SIGTERM and SIGHUP (`kill`, `timeout`, a closed terminal) raise SystemExit while
    the boxes exist, so that every `with` of the run unwinds (the groups removed, the
    database stopped) instead of the process ending where it stands, as they would."""

    def unwind(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = {number: signal.signal(number, unwind) for number in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _postgres_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not found:
        sys.exit(f"capacity: no PostgreSQL server binaries ({name}): apt-get install postgresql")
    return str(found[-1])


@contextlib.contextmanager
def private_postgres(group: CpuGroup, links: Sequence[NetworkBox] = ()) -> Iterator[str]:
    """A PostgreSQL server of this run's own, in `group`, on a free port of loopback
    (and of the root end of each box's link in `links`): its URL, on loopback. Run as
    the postgres user (it refuses root), in a directory that user owns; stopped (fast
    shutdown) and removed however the run ends."""
    port = free_port()
    directory = Path(tempfile.mkdtemp(prefix="chat-capacity-pg-"))
    shutil.chown(directory, "postgres", "postgres")
    data = directory / "data"
    as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_postgres, _postgres_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    listen = ",".join(["127.0.0.1", *(link.root_address for link in links)])
    if links:  # initdb's pg_hba.conf trusts loopback only
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {NETWORK} trust\n")
    settings = ["-c", f"listen_addresses={listen}", "-c", "unix_socket_directories="]
    settings += ["-c", "fsync=on", "-c", "max_connections=200", "-p", str(port)]
    # setpriv execs (runuser would fork, and keep the signals sent to it to itself).
    become = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
    server = subprocess.Popen(
        [*group.join, *become, _postgres_bin("postgres"), "-D", str(data), *settings],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        deadline = time.monotonic() + 60
        while subprocess.run(["pg_isready", "-q", "-d", url], check=False).returncode != 0:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("capacity: the private PostgreSQL did not start")
            time.sleep(0.2)
        yield url
    finally:
        server.send_signal(signal.SIGINT)  # fast shutdown: what is committed is kept
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(directory, ignore_errors=True)


def boxed_cluster(
    tmp: Path, url: str, boxes: list[CpuGroup], links: Sequence[NetworkBox] = ()
) -> Cluster:
    """One `chat serve` per box, each started inside its group (free to run on either
    CPU: the quota, not a pinning, is its box) and, given `links`, in its namespace,
    listening on its address and reaching the database at its link's root end."""
    members: list[Target] = []
    for i, box in enumerate(boxes):
        link = links[i] if links else None
        own_url = url.replace("@127.0.0.1:", f"@{link.root_address}:", 1) if link else url
        target = chat_target(tmp, "postgres", own_url, "0,1", f"chat-box-{i + 1}")
        target.command = [*box.join, *(link.join if link else []), *target.command]
        if link:
            target.host = target.env["CHAT_HOST"] = link.address
        members.append(target)
    return Cluster(f"chat-{len(boxes)}-boxes", members)


def fanout_at(cluster: Cluster, loadgen: Path, tokens: Path, rate: int, seconds: float) -> dict:
    """fanout-100 at `rate` messages a second (all senders together) for `seconds`."""
    a = {**FANOUT_100, "rate": rate, "window": WINDOW, "seconds": seconds}
    args = ["fanout", ",".join(cluster.hosts), ",".join(map(str, cluster.ports))]
    args += [str(a[key]) for key in ("receivers", "senders", "rate", "window", "seconds")]
    args.append(str(tokens))
    return measured(cluster, loadgen, args, timeout=seconds + 120)


def held(result: dict, rate: int, seconds: float) -> bool:
    """Whether `result` kept up with `rate`: nothing lost, p99 under the limit, and
    (nearly) every message sent that the rate asked for."""
    p99 = result["latency_us"]["p99"]
    return (
        result["lost"] == 0
        and 0 <= p99 < P99_LIMIT_MS * 1000
        and result["sent"] >= 0.95 * rate * seconds
    )


def summary(
    result: dict, rate: int, seconds: float, boxes: list[CpuGroup], throttled: list[float]
) -> dict:
    """One rung's figures, from the load generator's `result` and the groups' throttled
    time before it (`throttled`, one per box)."""
    deliveries = result["deliveries"] or 1
    each = result.get("server_cpu_seconds_each", [])
    return {
        "rate": rate,
        "held": held(result, rate, seconds),
        "sent": result["sent"],
        "lost": result["lost"],
        "p99_ms": round(result["latency_us"]["p99"] / 1000, 2),
        "deliveries_per_s": result["deliveries_per_s"],
        # Receivers are spread evenly: each instance delivers its share.
        "server_cpu_us_per_delivery_each": [
            round(cpu * 1e6 * len(each) / deliveries, 2) for cpu in each
        ],
        "server_cpu_us_per_delivery": result.get("server_cpu_us_per_delivery"),
        "database_cpu_us_per_message": (
            round(result["database_cpu_seconds"] * 1e6 / result["sent"], 1)
            if "database_cpu_seconds" in result and result["sent"]
            else None
        ),
        "throttled_s": {
            box.path.name: round(box.throttled_seconds() - before, 3)
            for box, before in zip(boxes, throttled, strict=True)
        },
    }


def warm_up(cluster: Cluster, loadgen: Path, tokens: Path) -> None:
    """`WARM_UP_S` at `FIRST_RATE`, its p99 printed and not counted."""
    result = fanout_at(cluster, loadgen, tokens, FIRST_RATE, WARM_UP_S)
    p99_ms = result["latency_us"]["p99"] / 1000
    print(f"    warm-up, {FIRST_RATE}/s: p99 {p99_ms:.1f} ms", file=sys.stderr, flush=True)


def rung(
    cluster: Cluster, loadgen: Path, tokens: Path, boxes: list[CpuGroup], rate: int, seconds: float
) -> dict:
    """fanout-100 at `rate` for `seconds`: its figures (`summary`), printed as it ends."""
    before = [box.throttled_seconds() for box in boxes]
    result = fanout_at(cluster, loadgen, tokens, rate, seconds)
    step = summary(result, rate, seconds, boxes, before)
    print(f"    {rate}/s: {json.dumps(step)}", file=sys.stderr, flush=True)
    return step


def climb(
    cluster: Cluster, loadgen: Path, tokens: Path, boxes: list[CpuGroup], seconds: float
) -> tuple[int, list[dict]]:
    """The ladder, then `REFINEMENTS` halvings: the highest rate held, and every step
    (with how long each of `boxes` waited for quota)."""
    steps: list[dict] = []

    def attempt(rate: int) -> bool:
        # A rate is refused only when it fails twice: one p99 over the limit can be a
        # moment of the shared machine (a checkpoint, the load generator's CPU).
        for _ in range(2):
            step = rung(cluster, loadgen, tokens, boxes, rate, seconds)
            steps.append(step)
            if step["held"]:
                return True
        return False

    best, refused = 0, None
    rate = float(FIRST_RATE)
    for _ in range(RUNGS):
        if not attempt(int(rate)):
            refused = int(rate)
            break
        best = int(rate)
        rate *= STEP
    for _ in range(REFINEMENTS if refused is not None and best else 0):
        middle = (best + refused) // 2
        if middle in (best, refused):
            break
        if attempt(middle):
            best = middle
        else:
            refused = middle
    return best, steps


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    box_options(parser, "1,2,3")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each rung")
    parser.add_argument(
        "--at", type=int, help="one rung at this rate for each count instead of the ladder"
    )
    parser.add_argument(
        "--cpu-profile",
        type=Path,
        help="directory for each server's CPU-time samples of its last rung (bench/cpu_profile)",
    )
    args = parser.parse_args()
    counts, quotas = box_quotas(args)
    if args.cpu_profile:
        cpu_profile_servers(args.cpu_profile)
    raise_fd_limit()
    loadgen = build_loadgen()
    report: dict = {
        "network_namespaces": args.namespaces,
        "instance_cpu": args.instance_cpu,
        "database_cpu": args.database_cpu,
        "period_us": PERIOD_US,
        "p99_limit_ms": P99_LIMIT_MS,
        "seconds": args.seconds,
        "at_rate": args.at,
        "runs": {},
    }
    with (
        tempfile.TemporaryDirectory() as tmp_name,
        cpu_groups(quotas) as groups,
        network_boxes(max(counts) if args.namespaces else 0) as links,
        private_postgres(groups["database"], links) as base_url,
    ):
        tmp = Path(tmp_name)
        for count in counts:
            boxes = [groups[f"instance-{i + 1}"] for i in range(count)]
            with postgres_schema(base_url) as (url, database):
                cluster = boxed_cluster(tmp, url, boxes, links)
                cluster.database = database
                print(f"  {count} instance(s) ...", file=sys.stderr, flush=True)
                with cluster.running():
                    tokens = tokens_for(cluster, SENDERS, tmp)
                    watched = [*boxes, groups["database"]]
                    warm_up(cluster, loadgen, tokens)
                    if args.at:
                        steps = [rung(cluster, loadgen, tokens, watched, args.at, args.seconds)]
                        best = args.at if steps[0]["held"] else 0
                    else:
                        best, steps = climb(cluster, loadgen, tokens, watched, args.seconds)
                    pids = [member.process.pid for member in cluster.members if member.process]
            report["runs"][str(count)] = {"held_rate": best, "steps": steps, "pids": pids}
        report["groups_idle_at_end"] = idle_at_end(groups)
    report_runs(report, "held_rate", "capacity")


def cpu_profile_servers(directory: Path) -> None:
    """Every server this run starts samples its CPU time into `directory` (its
    ``cpu-<pid>.txt``, the pids in the report), from the start of each rung's load
    (`message_runs.measured` signals it) to its exit: bench/cpu_profile."""
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["CHAT_BENCH_CPU_PROFILE"] = str(directory.resolve())
    path = [str(BENCH / "cpu_profile"), os.environ.get("PYTHONPATH", "")]
    os.environ["PYTHONPATH"] = os.pathsep.join(part for part in path if part)


def box_options(parser: argparse.ArgumentParser, instances: str) -> None:
    """The options of the boxes, as every benchmark on them takes them."""
    parser.add_argument("--instances", default=instances, help="instance counts to measure")
    parser.add_argument("--instance-cpu", type=float, default=0.3, help="each instance's quota")
    parser.add_argument("--database-cpu", type=float, default=0.5, help="PostgreSQL's quota")
    parser.add_argument(
        "--shared-loopback",
        dest="namespaces",
        action="store_false",
        help="every instance on the root namespace's loopback (default: a namespace each)",
    )


def box_quotas(args: argparse.Namespace) -> tuple[list[int], dict[str, float]]:
    """The instance counts asked for, and each group's quota (CPUs); exits unless root."""
    if os.geteuid() != 0:
        sys.exit("capacity: run as root (cgroups; PostgreSQL as its own user)")
    counts = [int(n) for n in args.instances.split(",")]
    quotas = {f"instance-{i + 1}": args.instance_cpu for i in range(max(counts))}
    return counts, {**quotas, "database": args.database_cpu}


def idle_at_end(groups: dict[str, CpuGroup]) -> dict[str, bool]:
    """Whether each instance's group was left empty (the database's holds its server)."""
    return {name: group.members() == [] for name, group in groups.items() if name != "database"}


def report_runs(report: dict, held: str, name: str, hidden: str = "") -> None:
    """Each run's `held` figure against one instance's (`vs_one`), the report on stdout
    (without each run's `hidden` part) and whole in bench/results/`name`-<time>.json."""
    one = report["runs"].get("1", {}).get(held)
    for result in report["runs"].values():
        result["vs_one"] = round(result[held] / one, 2) if one else None
    shown = {
        **report,
        "runs": {
            count: {key: value for key, value in result.items() if key != hidden}
            for count, result in report["runs"].items()
        },
    }
    print(json.dumps(shown, indent=1))
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    out = results / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=1))
    print(f"(raw results: bench/results/{out.name})", file=sys.stderr)


if __name__ == "__main__":
    main()
