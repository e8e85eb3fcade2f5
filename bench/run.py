"""Run the standard benchmarks against the reference peer and chat, and print a table.

    python bench/run.py                       # the standard set, SQLite and PostgreSQL
    python bench/run.py --backends sqlite     # skip PostgreSQL
    python bench/run.py --quick               # shorter runs, for a smoke test
    python bench/run.py --only fanout-100,cluster-fanout-100 --backends postgres
    python bench/run.py --only fanout-100,rooms-50x20-plain,rooms-50x20
    python bench/run.py --only search         # bench/search.py: a million messages searched
    python bench/run.py --only team-day       # bench/team_day.py: simulated users, ramped
    python bench/run.py --only idle-100000    # 100,000 connections in a room (not by default)

Every run measures the peer (bench/peers/relay_websockets.py) and our server one after
the other, each pinned to CPU 0 with `taskset`, while the load generator (bench/loadgen.c,
compiled on the fly) runs pinned to CPU 1. On PostgreSQL, cluster-fanout-100 runs
fanout-100's load through two `chat serve` processes on the one database (one chat), both
on CPU 0 unless --cluster-cpus says otherwise. Everything talks over 127.0.0.1 only, and
every scenario is bounded in time. The rooms scenarios (chat only) put 1,000 users of
the room protocol in 50 rooms of 20, with and without other rooms whose activity frames
they hear. Results are printed as a table (our figures with their ratio to the peer's)
and saved as JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import jwt
import room_members
from crowd_shards import CrowdShards

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SERVER_CPU, LOADGEN_CPU = "0", "1"
CLUSTER_CPUS = "0,0"  # one CPU per instance of the cluster scenario (--cluster-cpus)
SECRET = secrets.token_urlsafe(48)
#: The password of every user the benchmark registers (at least 8 characters).
PASSWORD = "bench-password"
SENDERS = 10
#: fanout-100's load: 100 receivers, SENDERS senders, as fast as 100 messages in flight
#: allow (its cluster twin and the fixed-rate pair take the same, FIXED below).
FANOUT_100 = {"receivers": 100, "senders": SENDERS, "rate": 0, "window": 100}
#: The rooms scenarios' set-up registers a thousand users: at bcrypt's cost 12 that
#: would be four minutes of hashing, at 4 a few seconds (no scenario measures logins).
ROOMS_ENV = {"CHAT_BCRYPT_COST": "4"}


@dataclass(frozen=True)
class Scenario:
    name: str
    mode: str
    args: dict = field(default_factory=dict)
    cluster: bool = False  # run through several instances (PostgreSQL only)
    # The one-instance side of a cluster comparison: runs where a cluster does (PostgreSQL).
    cluster_twin: bool = False
    env: dict = field(default_factory=dict)  # the server's settings for this scenario
    default: bool = True  # in the standard set (else only with --only)


def standard_scenarios(seconds: float) -> list[Scenario]:
    return [
        Scenario("fanout-100", "fanout", {**FANOUT_100, "seconds": seconds}),
        # fanout-100's load through the instances of a cluster (PostgreSQL only): receivers
        # and senders spread round-robin across them, so half the deliveries cross the bus.
        Scenario("cluster-fanout-100", "fanout", {**FANOUT_100, "seconds": seconds}, cluster=True),
        # The same two at a fixed rate both sustain (FIXED_RATE messages/s, 200,000
        # deliveries/s), what an operator's load looks like: at full speed the closed loop
        # gives each of two committers half the batch one instance commits, so every
        # per-batch cost weighs twice as much per message (docs/PERFORMANCE.md, "At the
        # same load"); here each commits what its senders send, as one instance does.
        Scenario(
            "fanout-100-fixed-rate",
            "fanout",
            {**FIXED, "seconds": seconds},
            cluster_twin=True,
        ),
        Scenario(
            "cluster-fanout-100-fixed-rate",
            "fanout",
            {**FIXED, "seconds": seconds},
            cluster=True,
        ),
        Scenario(
            "fanout-1000",
            "fanout",
            {"receivers": 1000, "senders": SENDERS, "rate": 50, "window": 1000, "seconds": seconds},
        ),
        # A large room: one sender at a fixed 5 msgs/s to 10,000 receivers (50,000
        # deliveries/s offered). It asks how long one message takes to reach everyone,
        # not how many the server can push; the window only bounds a stalled server.
        Scenario(
            "fanout-10000",
            "fanout",
            {"receivers": 10000, "senders": 1, "rate": 5, "window": 100, "seconds": seconds},
        ),
        # What most deployments pay all day: one sender at 300 messages/s to 10 receivers,
        # each message a commit of its own (nothing to batch with), for a minute. The CPU
        # per message is the figure: thread or bridge hops, scheduler passes, the commit.
        Scenario("low-rate", "fanout", LOW_RATE),
        Scenario("idle-2000", "idle", {"connections": 2000}),
        # The memory target's own figure: per-connection costs, not the process's fixed
        # ones, dominate at this size (needs about 10,100 file descriptors on each side).
        Scenario("idle-10000", "idle", {"connections": 10000}),
        # Issue 27: 100,000 connections, each authenticated and in the lobby (chat: /ws,
        # entered; the peer: "/" after "auth", where everyone hears the lobby), tokens
        # of 100 users shared 1,000 connections each; memory, how fast they got in, and
        # how long one message takes to reach them all. About 2 minutes a server, so
        # only with --only (needs about 100,100 open files per process: the run raises
        # its hard limit if it may, with CAP_SYS_RESOURCE; else --crowd-connections).
        Scenario(
            "idle-100000",
            "crowd",
            {"connections": 100000, "users": 100, "samples": 5},
            env=ROOMS_ENV,
            default=False,
        ),
        Scenario("history", "history", {"count": 10, "seconds": min(seconds, 5.0)}),
        # GET /messages/{lobby}?limit=10 of plain messages, then of the same messages
        # edited and reacted to (issue 22): what showing the present costs. chat only.
        Scenario("history-changed", "history_changed", {"count": 10, "seconds": min(seconds, 5.0)}),
        Scenario("auth", "auth", {"requests": 20}),
        # Issue 23's activity frames: 1,000 room-protocol users in 50 rooms of 20, 200
        # messages/s round-robin across the rooms. Plain: each user a member of the
        # room it is in only (and the silent lobby), so no activity flows; then each
        # also a member of two more rooms, whose messages it hears as activity frames
        # (40 such members per room). The difference is what activity costs. chat only.
        Scenario(
            "rooms-50x20-plain",
            "rooms",
            {**ROOMS, "others": 0, "seconds": seconds},
            env=ROOMS_ENV,
        ),
        Scenario("rooms-50x20", "rooms", {**ROOMS, "others": 2, "seconds": seconds}, env=ROOMS_ENV),
        # One room of 100 /ws members whose first member sends as fast as 100 messages
        # in flight allow: as room messages, then as replies in one thread (each member
        # hears every reply live, as a room message). The difference is what a thread
        # reply costs the writer and the fan-out. chat only.
        Scenario("room-100", "rooms", {**ROOM_100, "seconds": seconds}, env=ROOMS_ENV),
        Scenario(
            "thread-100", "rooms", {**ROOM_100, "thread": True, "seconds": seconds}, env=ROOMS_ENV
        ),
        # fanout-100 in the lobby with 1,000 /ws users in rooms of their own, each
        # hearing the lobby as activity: a lobby message costs a step per such user.
        Scenario(
            "fanout-100-beside-rooms",
            "fanout_beside_rooms",
            {
                **ROOMS,  # its rate and window are fanout-100's (below)
                "others": 0,
                "receivers": 100,
                "senders": SENDERS,
                "rate": 0,
                "window": 100,
                "seconds": seconds,
            },
            env=ROOMS_ENV,
        ),
    ]


ROOMS = {"rooms": 50, "members": 20, "rate": 200, "window": 200}
#: The low-rate scenario: its length is its own (a minute), not the run's --seconds.
LOW_RATE = {"receivers": 10, "senders": 1, "rate": 300, "window": 100, "seconds": 60}
ROOM_100 = {"rooms": 1, "members": 100, "others": 0, "rate": 0, "window": 100}

#: The fixed-rate cluster comparison's rate, messages/s: well below what two instances
#: on one core sustain (about 4,000 on the machines of docs/PERFORMANCE.md).
FIXED_RATE = 2000
FIXED = {**FANOUT_100, "rate": FIXED_RATE}


# --- processes ---


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def build_loadgen() -> Path:
    out = BENCH / ".build" / "loadgen"
    out.parent.mkdir(exist_ok=True)
    source = BENCH / "loadgen.c"
    if not out.exists() or out.stat().st_mtime < source.stat().st_mtime:
        compiler = shutil.which("cc") or shutil.which("gcc")
        if compiler is None:
            sys.exit("bench: a C compiler (cc or gcc) is needed to build the load generator")
        subprocess.run([compiler, "-O2", "-Wall", "-o", str(out), str(source)], check=True)
    return out


def raise_fd_limit(need: int = 0) -> int:
    """Raise this process's soft limit on open files to its hard limit (children inherit
    it: the servers and the load generator each hold one descriptor per connection in
    the idle scenarios), and the hard limit to `need` if it is lower and this process
    may (root, up to the kernel's `fs.nr_open`); return the limit. The limits are this
    process's and its children's: nothing outlives the run."""
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        with contextlib.suppress(ValueError, OSError):  # not root: the caller says so
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
            hard = need
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


#: Descriptors a process needs beyond one per connection (listeners, the database, logs).
FD_HEADROOM = 100
#: The longest the idle scenarios may take to open their connections.
IDLE_CONNECT_TIMEOUT_S = 120.0
#: The longest idle-100000 may take to let its connections in (handshake, token, room).
CROWD_CONNECT_TIMEOUT_S = 600.0


class Target:
    """A server under test: started pinned to `cpu` (SERVER_CPU), stopped with SIGTERM."""

    database: DatabaseCpu | None = None  # set for PostgreSQL: its backends' CPU is measured

    def __init__(
        self,
        label: str,
        command: list[str],
        env: dict[str, str],
        port: int,
        cpu: str = SERVER_CPU,
    ) -> None:
        self.label, self.command, self.env, self.port, self.cpu = label, command, env, port, cpu
        self.process: subprocess.Popen | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the target)
        self.ready_line = b"listening on"  # what its log says once it serves

    @property
    def ports(self) -> list[int]:
        return [self.port]

    def start(self) -> None:
        self.log.seek(0)
        self.log.truncate()
        self.process = subprocess.Popen(
            ["taskset", "-c", self.cpu, *self.command],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=raise_fd_limit,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self.log.seek(0)
            if self.ready_line in self.log.read():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.log.seek(0)
        raise RuntimeError(f"{self.label} did not start:\n{self.log.read().decode()}")

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def wait(self) -> None:
        if self.process is not None:
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def stop(self) -> None:
        self.terminate()
        self.wait()

    def rss_kib(self) -> int:
        return process_rss_kib(self.process.pid)

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.process.pid)

    def processes(self) -> int:
        """How many processes serve (one; `Workers` more)."""
        return 1

    @contextlib.contextmanager
    def running(self, env: dict | None = None) -> Iterator[Target]:
        """Run with `env` added to the server's settings for this run only."""
        with _settings(self, env):
            self.start()
            try:
                yield self
            finally:
                self.stop()


def process_rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1))


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime, all threads


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is `pid` (read from /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(stat.parent.name))
    return children


class Workers(Target):
    """`chat serve --workers N`: one instance of N processes on one port (the kernel
    spreads connections across them), under a supervisor; its memory and CPU are the
    whole tree's. For idle-100000 where one process may not hold 100,000 sockets."""

    def __init__(
        self, label: str, command: list[str], env: dict[str, str], port: int, workers: int
    ) -> None:
        super().__init__(label, [*command, "--workers", str(workers)], env, port)
        self.workers = workers
        self.ready_line = f"with {workers} workers".encode()

    def _pids(self) -> list[int]:
        return [self.process.pid, *child_pids(self.process.pid)]

    def rss_kib(self) -> int:
        return sum(process_rss_kib(pid) for pid in self._pids())

    def cpu_seconds(self) -> float:
        return sum(process_cpu_seconds(pid) for pid in self._pids())

    def processes(self) -> int:
        return len(self._pids()) - 1  # the supervisor serves nothing


#: The bus's counters in a /metrics page: name, the label's value, the count.
_BUS_SAMPLE = re.compile(
    r'^chat_bus_(carried_items|table_reads)_total\{\w+="([\w-]+)"\} (\S+)$', re.MULTILINE
)


#: The commits' histogram in a /metrics page: its count or its sum.
_COMMIT_SAMPLE = re.compile(r"^chat_commit_seconds_(count|sum) (\S+)$", re.MULTILINE)


def metrics_page(port: int) -> str:
    """The /metrics page of the chat server on `port` (raises OSError if it has none)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as answer:
        return answer.read().decode()


def commit_totals(ports: list[int]) -> dict[str, float] | None:
    """Batches committed and the seconds they took, summed over the servers on `ports`
    (their /metrics), or None for a server without chat's metrics (the peer)."""
    totals = {"count": 0.0, "sum": 0.0}
    for port in ports:
        try:
            text = metrics_page(port)
        except (OSError, ValueError):
            return None
        for name, number in _COMMIT_SAMPLE.findall(text):
            totals[name] += float(number)
    return totals


class Cluster:
    """Several `chat serve` processes on one PostgreSQL database: one chat. Started one
    after the other (the first migrates the schema), stopped together; their CPU time
    and memory are summed. `port` is the first instance's: set-up goes through it."""

    database: DatabaseCpu | None = None
    bus = "postgres"  # what wakes the instances: PostgreSQL's LISTEN/NOTIFY, or "redis"

    def __init__(self, label: str, members: list[Target]) -> None:
        self.label, self.members = label, members
        self.port = members[0].port
        self.cpu = ",".join(member.cpu for member in members)

    @property
    def ports(self) -> list[int]:
        return [member.port for member in self.members]

    def start(self) -> None:
        try:
            for member in self.members:
                member.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for member in self.members:
            member.terminate()
        for member in self.members:
            member.wait()

    def rss_kib(self) -> int:
        return sum(member.rss_kib() for member in self.members)

    def cpu_seconds(self) -> float:
        return sum(member.cpu_seconds() for member in self.members)

    def cpu_seconds_each(self) -> list[float]:
        return [member.cpu_seconds() for member in self.members]

    def bus_counters(self) -> dict[str, float]:
        """What crossed the bus, summed over the instances (their /metrics): items
        carried out and in, and reads of the table by reason."""
        totals: dict[str, float] = {}
        for member in self.members:
            for name, labels, number in _BUS_SAMPLE.findall(metrics_page(member.port)):
                key = f"{name}:{labels}"
                totals[key] = totals.get(key, 0.0) + float(number)
        return totals

    @contextlib.contextmanager
    def running(self, env: dict | None = None) -> Iterator[Cluster]:
        """Run with `env` added to every instance's settings for this run only."""
        with contextlib.ExitStack() as stack:
            for member in self.members:
                stack.enter_context(_settings(member, env))
            self.start()
            try:
                yield self
            finally:
                self.stop()


@contextlib.contextmanager
def _settings(target: Target, env: dict | None) -> Iterator[None]:
    """`env` added to `target`'s settings until the block ends."""
    saved = target.env
    target.env = {**saved, **(env or {})}
    try:
        yield
    finally:
        target.env = saved


class DatabaseCpu:
    """CPU time of the PostgreSQL backends serving one throwaway schema's servers: the
    connections named after the schema (`application_name`, set in the URL) and the bus's
    `chat-bus <cluster id>`. Read from /proc, so only when PostgreSQL runs on this machine
    (otherwise `snapshot` returns None and the table says n/a)."""

    def __init__(self, psql_url: str, schema: str) -> None:
        self.psql_url, self.schema = psql_url, schema

    def snapshot(self) -> dict[int, float] | None:
        query = (
            "SELECT pid FROM pg_stat_activity WHERE application_name = "
            f"'{self.schema}' OR application_name = "
            f"(SELECT 'chat-bus ' || id FROM {self.schema}.cluster)"
        )
        try:
            out = subprocess.run(
                ["psql", self.psql_url, "-Atc", query],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            ).stdout
        except (subprocess.SubprocessError, OSError):
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        cpu = {}
        for pid in map(int, out.split()):
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() != "postgres":
                    return None  # not this machine's PostgreSQL
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone, or not on this machine
            cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks
        return cpu or None


def peer_target(tmp: Path) -> Target:
    port = free_port()
    command = [
        sys.executable,
        str(BENCH / "peers" / "relay_websockets.py"),
        "--port",
        str(port),
        "--secret",
        SECRET,
    ]
    return Target("peer", command, dict(os.environ), port)


def chat_target(
    tmp: Path,
    backend: str,
    database_url: str | None,
    cpu: str = SERVER_CPU,
    label: str = "",
    bus_url: str | None = None,
) -> Target:
    port = free_port()
    env = dict(
        os.environ,
        CHAT_PORT=str(port),
        CHAT_JWT_SECRET=SECRET,
        CHAT_DATA_DIR=str(tmp / f"data-{backend}-{port}"),
        CHAT_LOG_LEVEL="INFO",
        # A load generator is thousands of clients at machine speed from one address:
        # exactly what the rate limits and the per-address connection cap refuse.
        CHAT_RATE_LIMITS="off",
    )
    for name in ("CHAT_DATABASE_URL", "CHAT_BUS_URL", "CHAT_WORKERS"):
        env.pop(name, None)  # the run decides these, not the caller's environment
    if database_url:
        env["CHAT_DATABASE_URL"] = database_url
    if bus_url:
        env["CHAT_BUS_URL"] = bus_url
    command = [sys.executable, "-m", "chat", "serve"]
    return Target(label or f"chat-{backend}", command, env, port, cpu)


def workers_target(tmp: Path, database_url: str, workers: int, bus_url: str | None) -> Workers:
    """`chat serve --workers N` on `database_url`, every process on SERVER_CPU."""
    single = chat_target(tmp, "postgres", database_url, bus_url=bus_url)
    return Workers(
        f"chat-postgres-{workers}-workers", single.command, single.env, single.port, workers
    )


def cluster_target(
    tmp: Path, database_url: str, cpus: list[str], bus_url: str | None = None
) -> Cluster:
    """One `chat serve` per CPU in `cpus`, all on `database_url` with the same secret."""
    members = [
        chat_target(tmp, "postgres", database_url, cpu, f"chat-postgres-{i + 1}", bus_url)
        for i, cpu in enumerate(cpus)
    ]
    cluster = Cluster("chat-postgres-cluster", members)
    cluster.bus = "redis" if bus_url else "postgres"
    return cluster


# --- set-up: tokens and users ---


def http_post(port: int, path: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def tokens_for(target: Target, count: int, tmp: Path) -> Path:
    """A file of `count` tokens: registered users on chat, signed tokens for the peer."""
    tokens = []
    for i in range(count):
        if target.label == "peer":
            now = int(time.time())
            claims = {"sub": str(i + 1), "name": f"bench{i}", "iat": now, "exp": now + 3600}
            tokens.append(jwt.encode(claims, SECRET, algorithm="HS256"))
        else:
            name = f"bench{i}"
            status, body = http_post(
                target.port, "/api/reg", {"username": name, "password": PASSWORD}
            )
            if status == 409:
                status, body = http_post(target.port, "/auth", {"name": name, "password": PASSWORD})
            if "token" not in body:
                raise RuntimeError(f"could not get a token for {name}: {status} {body}")
            tokens.append(body["token"])
    path = tmp / f"tokens-{target.label}-{target.port}.txt"
    path.write_text("\n".join(tokens) + "\n")
    return path


# --- scenarios ---


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
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines += process.stdout.read().splitlines()
    if process.returncode != 0:
        raise RuntimeError(f"loadgen {' '.join(args)} failed: {process.stderr.read()}")
    report = json.loads(lines[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    report["loadgen_cpu_busy"] = round(cpu / wall, 3)
    return report


#: Where `--profile` writes py-spy's samples of each server process (None: no profile).
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


def profile(target: Target | Cluster, scenario: str, seconds: float) -> list[subprocess.Popen]:
    """py-spy on every process of `target` for `seconds` (`--profile DIR`): one file of
    raw stacks each, ``<scenario>-<label>.txt``. Nothing when no directory was given."""
    if PROFILE_DIR is None:
        return []
    members = target.members if isinstance(target, Cluster) else [target]
    return [
        py_spy_record(member.process.pid, PROFILE_DIR / f"{scenario}-{member.label}.txt", seconds)
        for member in members
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
        before["commits"] = commit_totals(target.ports)
        if profile_seconds is not None:
            scenario = (label or args[0]) + f"-{len(target.ports)}"
            spies.extend(profile(target, scenario, profile_seconds))

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
    commits_after = commit_totals(target.ports)
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


def idle(target: Target, loadgen: Path, a: dict) -> dict:
    import select

    time.sleep(0.5)
    before = target.rss_kib()
    process = subprocess.Popen(
        [
            "taskset",
            "-c",
            LOADGEN_CPU,
            str(loadgen),
            "idle",
            "127.0.0.1",
            str(target.port),
            str(a["connections"]),
            "60",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Bounded: a server that stops accepting must not hang the run.
        ready, _, _ = select.select([process.stdout], [], [], IDLE_CONNECT_TIMEOUT_S)
        if not ready:
            process.kill()
            raise RuntimeError(f"loadgen idle: not connected after {IDLE_CONNECT_TIMEOUT_S} s")
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"loadgen idle failed: {process.stderr.read()}")
        result = json.loads(line)
        time.sleep(2.0)  # let the server settle with every connection open
        after = target.rss_kib()
    finally:
        process.stdin.close()
        process.wait(30)
    result.update(
        rss_before_kib=before,
        rss_after_kib=after,
        kib_per_connection=round((after - before) / a["connections"], 2),
    )
    return result


def kernel_memory_kib() -> dict[str, int]:
    """What the kernel holds for sockets, machine-wide (both ends of every loopback
    connection, and anything else running): slab memory (sockets, their inodes and
    files, epoll items; /proc/meminfo) and the pages queued in TCP buffers
    (/proc/net/sockstat). None of it is in any process's RSS."""
    meminfo = Path("/proc/meminfo").read_text()
    slab = int(re.search(r"^SUnreclaim:\s+(\d+)", meminfo, re.M).group(1))
    slab += int(re.search(r"^SReclaimable:\s+(\d+)", meminfo, re.M).group(1))
    pages = int(
        re.search(r"^TCP:.* mem (\d+)", Path("/proc/net/sockstat").read_text(), re.M).group(1)
    )
    return {"slab": slab, "tcp_buffers": pages * os.sysconf("SC_PAGE_SIZE") // 1024}


def crowd(target: Target, loadgen: Path, tmp: Path, a: dict) -> dict:
    """idle-100000: `connections` clients, each from a source address of its own in
    127.0.0.0/8, authenticated with one of `users` users' tokens and in the lobby (chat:
    /ws, entered without presence frames; the peer, which speaks TokenTalker only: "/"
    after ``auth``). The server's RSS before, once all are in, and after `samples`
    messages sent to the lobby one at a time, each timed until every connection has it.
    The clients are as many load generators as the open-files limit needs
    (bench/crowd_shards.py); a server of several processes (`Workers`) is measured
    whole."""
    connections = a["connections"] if isinstance(target, Workers) else a["one_process"]
    tokens = tokens_for(target, a["users"], tmp)
    if target.label == "peer":
        dialect, lobby = "tokentalker", 0  # everyone on "/" hears the lobby
    else:
        first = tokens.read_text().split()[0]
        conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
        dialect, lobby = "rooms", json.loads(_request(conn, "GET", "/rooms", first))[0]
        conn.close()
    time.sleep(0.5)
    before, kernel_before = target.rss_kib(), kernel_memory_kib()
    start = ["taskset", "-c", LOADGEN_CPU, str(loadgen), "crowd", "127.0.0.1", str(target.port)]
    per_process = raise_fd_limit() - FD_HEADROOM
    with CrowdShards(start, [dialect, str(tokens), str(lobby)], connections, per_process) as shards:
        ready = shards.ready(CROWD_CONNECT_TIMEOUT_S)
        time.sleep(2.0)  # let the server settle with every connection in
        after, kernel_after = target.rss_kib(), kernel_memory_kib()
        # Each message is given 30 s to reach everyone (None: it did not), then a pause.
        samples_ms = []
        for k in range(a["samples"]):
            samples_ms.append(shards.send(k, timeout=30.0))
            time.sleep(0.5)
        result = shards.report(a["samples"])
        after_messages = target.rss_kib()  # the connections are still open
    # The load generators start together: the crowd is in when the last one is.
    connect_s = max(line["connect_seconds"] for line in ready)
    result.update(
        mode="crowd",
        dialect=dialect,
        connections=connections,
        server_processes=target.processes(),
        load_generators=len(ready),
        connect_seconds=connect_s,
        connects_per_s=round(connections / connect_s, 1),
        samples_ms=samples_ms,
        max_all_ms=max((ms if ms is not None else float("inf")) for ms in samples_ms),
        users=a["users"],
        rss_before_kib=before,
        rss_after_kib=after,
        rss_after_messages_kib=after_messages,
        kib_per_connection=round((after - before) / connections, 2),
        # Both ends are on this machine: per connection, the server's and the client's.
        kernel_kib_per_connection={
            name: round((kernel_after[name] - kernel_before[name]) / connections, 2)
            for name in kernel_after
        },
    )
    return result


def history(target: Target, loadgen: Path, tokens: Path, a: dict) -> dict:
    # Seed the lobby so every request really returns `count` messages.
    run_loadgen(
        loadgen,
        ["fanout", "127.0.0.1", str(target.port), "1", "1", "0", "1", "0.5", str(tokens)],
        timeout=60,
    )
    return run_loadgen(
        loadgen,
        [
            "history",
            "127.0.0.1",
            str(target.port),
            str(a["seconds"]),
            str(tokens),
            str(a["count"]),
        ],
        timeout=a["seconds"] + 60,
    )


def _request(conn: http.client.HTTPConnection, method: str, path: str, token: str) -> bytes:
    conn.request(method, path, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    body = response.read()
    if response.status >= 300:
        raise RuntimeError(f"{method} {path}: {response.status} {body[:200]!r}")
    return body


def _history_loop(target: Target, path: str, token: str, seconds: float) -> dict:
    """GET `path` in a closed loop on one keep-alive connection for `seconds`: latency
    percentiles and the server's CPU per request."""
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
    _request(conn, "GET", path, token)  # warm: the connection, the statement cache
    latencies = []
    cpu_before = target.cpu_seconds()
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        sent = time.perf_counter()
        _request(conn, "GET", path, token)
        latencies.append(time.perf_counter() - sent)
    cpu = target.cpu_seconds() - cpu_before
    conn.close()
    latencies.sort()
    return {
        "requests": len(latencies),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 3),
        "server_cpu_us_per_request": round(cpu / len(latencies) * 1e6, 1),
    }


def history_changed(target: Target, tokens: Path, a: dict) -> dict:
    """A page of `count` plain messages, then the same page once every message is edited
    and has three reactions: the second costs at most 1.2x the first (issue 22)."""
    alice, bob, carol = tokens.read_text().split()[:3]
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
    lobby = json.loads(_request(conn, "GET", "/rooms", alice))[0]
    ids = []
    for i in range(a["count"]):
        conn.request(
            "POST",
            f"/messages/{lobby}",
            body=json.dumps({"Text": f"status update {i}: the build is green"}),
            headers={"Authorization": f"Bearer {alice}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        ids.append(json.loads(response.read())["MessageID"])
    conn.close()
    path = f"/messages/{lobby}?limit={a['count']}"
    plain = _history_loop(target, path, alice, a["seconds"])
    # A new connection: the server closes one left idle while the loop ran.
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
    for message_id in ids:
        conn.request(
            "PATCH",
            f"/messages/{lobby}/{message_id}",
            body=json.dumps({"Text": f"status update {message_id}: the build is green (edited)"}),
            headers={"Authorization": f"Bearer {alice}", "Content-Type": "application/json"},
        )
        conn.getresponse().read()
        for token, emoji in ((alice, "%F0%9F%91%8D"), (bob, "%F0%9F%91%8D"), (carol, ":ok:")):
            _request(conn, "PUT", f"/messages/{lobby}/{message_id}/reactions/{emoji}", token)
    conn.close()
    changed = _history_loop(target, path, alice, a["seconds"])
    return {
        "mode": "history_changed",
        "count": a["count"],
        "plain": plain,
        "changed": changed,
        "cpu_ratio": round(
            changed["server_cpu_us_per_request"] / plain["server_cpu_us_per_request"], 3
        ),
        "p50_ratio": round(changed["p50_ms"] / plain["p50_ms"], 3),
    }


def auth(target: Target, a: dict) -> dict:
    """Tokens issued per second through POST /auth, two requests at a time."""
    from concurrent.futures import ThreadPoolExecutor

    def log_in(_: int) -> int:
        return http_post(target.port, "/auth", {"name": "bench0", "password": PASSWORD})[0]

    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        statuses = list(pool.map(log_in, range(a["requests"])))
    elapsed = time.monotonic() - started
    assert statuses == [200] * a["requests"], statuses
    return {
        "mode": "auth",
        "requests": a["requests"],
        "tokens_per_s": round(a["requests"] / elapsed, 2),
    }


def run_target(
    target: Target,
    scenarios: list[Scenario],
    loadgen: Path,
    tmp: Path,
    cluster: Cluster | None = None,
    workers: Workers | None = None,
) -> dict:
    """Run `scenarios` against `target`, the cluster ones against `cluster` (only
    PostgreSQL has one; the peer and SQLite skip them), and idle-100000 against `workers`
    if given (`--crowd-workers`)."""
    results = {}
    for scenario in scenarios:
        chat_only = ("auth", "history_changed", "rooms", "fanout_beside_rooms")
        if scenario.mode in chat_only and target.label == "peer":
            continue  # the peer issues no tokens, and has no edits, reactions or rooms
        if (scenario.cluster or scenario.cluster_twin) and cluster is None:
            continue  # one instance only (the peer, SQLite)
        server = cluster if scenario.cluster else target
        if scenario.mode == "crowd" and workers is not None:
            server = workers
        # A fresh process per scenario: memory and caches left by one run must not
        # flatter or burden the next (idle in particular measures RSS growth).
        with server.running(scenario.env):
            tokens = tokens_for(server, SENDERS, tmp)  # a cluster: through its first instance
            print(f"  {server.label}: {scenario.name} ...", flush=True, file=sys.stderr)
            if scenario.mode == "fanout":
                results[scenario.name] = fanout(server, loadgen, tokens, scenario.args)
            elif scenario.mode == "idle":
                results[scenario.name] = idle(server, loadgen, scenario.args)
            elif scenario.mode == "crowd":
                results[scenario.name] = crowd(server, loadgen, tmp, scenario.args)
            elif scenario.mode == "history":
                results[scenario.name] = history(server, loadgen, tokens, scenario.args)
            elif scenario.mode == "history_changed":
                results[scenario.name] = history_changed(server, tokens, scenario.args)
            elif scenario.mode == "auth":
                results[scenario.name] = auth(server, scenario.args)
            elif scenario.mode == "fanout_beside_rooms":
                results[scenario.name] = fanout_beside_rooms(
                    server, loadgen, tokens, tmp, scenario.name, scenario.args
                )
            elif scenario.mode == "rooms":
                results[scenario.name] = rooms(server, loadgen, tmp, scenario.name, scenario.args)
    return results


# --- PostgreSQL: a throwaway schema per run ---


def backend_options(parser: argparse.ArgumentParser) -> None:
    """--backends and --database-url, as every benchmark script takes them."""
    parser.add_argument("--backends", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CHAT_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/test"),
        help="PostgreSQL server for the postgres backend (a throwaway schema is used)",
    )


@contextlib.contextmanager
def postgres_schema(base_url: str) -> Iterator[tuple[str, DatabaseCpu]]:
    """A throwaway schema: the servers' URL (connections named after the schema, so
    their backends can be found) and a way to read those backends' CPU time."""
    schema = "chat_bench_" + secrets.token_hex(4)
    # psql takes no server settings in the URL (asyncpg does: ?synchronous_commit=off).
    psql_url = base_url.split("?", 1)[0]
    subprocess.run(["psql", psql_url, "-qc", f"CREATE SCHEMA {schema}"], check=True, timeout=60)
    try:
        separator = "&" if "?" in base_url else "?"
        url = f"{base_url}{separator}search_path={schema}&application_name={schema}"
        yield url, DatabaseCpu(psql_url, schema)
    finally:
        subprocess.run(
            [
                "psql",
                psql_url,
                "-qc",
                f"SET client_min_messages = warning; DROP SCHEMA {schema} CASCADE",
            ],
            check=True,
            timeout=60,
        )


# --- the table ---


def _fanout_rows(scenario: str, busy: bool = True) -> list:
    """The main table's rows of a fanout scenario at full rate."""
    rows = [
        (scenario, "deliveries/s", lambda r: r["deliveries_per_s"]),
        (scenario, "lost", lambda r: r["lost"]),
        (scenario, "p99 latency ms", lambda r: r["latency_us"]["p99"] / 1000),
        (scenario, "server CPU us/delivery", lambda r: r.get("server_cpu_us_per_delivery")),
    ]
    if busy:
        rows.append((scenario, "load generator busy", lambda r: r.get("busy")))
    return rows


ROWS = [
    *_fanout_rows("fanout-100"),
    *_fanout_rows("cluster-fanout-100"),
    # (two load generators share its CPU: their "busy" is not comparable)
    *_fanout_rows("fanout-100-beside-rooms", busy=False),
    ("fanout-1000", "deliveries/s", lambda r: r["deliveries_per_s"]),
    ("fanout-1000", "lost", lambda r: r["lost"]),
    ("fanout-1000", "p50 latency ms", lambda r: r["latency_us"]["p50"] / 1000),
    ("fanout-1000", "p99 latency ms", lambda r: r["latency_us"]["p99"] / 1000),
    ("fanout-1000", "server CPU us/delivery", lambda r: r.get("server_cpu_us_per_delivery")),
    ("fanout-10000", "deliveries/s", lambda r: r["deliveries_per_s"]),
    ("fanout-10000", "lost", lambda r: r["lost"]),
    ("fanout-10000", "p50 latency ms", lambda r: r["latency_us"]["p50"] / 1000),
    ("fanout-10000", "p99 latency ms", lambda r: r["latency_us"]["p99"] / 1000),
    ("fanout-10000", "max latency ms", lambda r: r["latency_us"]["max"] / 1000),
    ("fanout-10000", "server CPU us/delivery", lambda r: r.get("server_cpu_us_per_delivery")),
    ("fanout-10000", "load generator busy", lambda r: r.get("busy")),
    ("low-rate", "messages/s", lambda r: r["achieved_msgs_per_s"]),
    ("low-rate", "lost", lambda r: r["lost"]),
    ("low-rate", "p99 latency ms", lambda r: r["latency_us"]["p99"] / 1000),
    ("low-rate", "server CPU us/message", lambda r: _per_message(r, "server_cpu_seconds")),
    ("idle-2000", "KiB per connection", lambda r: r["kib_per_connection"]),
    ("idle-2000", "connects/s", lambda r: r["connects_per_s"]),
    ("idle-10000", "KiB per connection", lambda r: r["kib_per_connection"]),
    ("idle-10000", "connects/s", lambda r: r["connects_per_s"]),
    ("idle-100000", "connections", lambda r: r["connections"]),
    ("idle-100000", "server processes", lambda r: r.get("server_processes", 1)),
    ("idle-100000", "KiB per connection", lambda r: r["kib_per_connection"]),
    ("idle-100000", "server RSS MiB, before", lambda r: r["rss_before_kib"] / 1024),
    ("idle-100000", "server RSS MiB, all in", lambda r: r["rss_after_kib"] / 1024),
    ("idle-100000", "connects/s (in the room)", lambda r: r["connects_per_s"]),
    ("idle-100000", "broadcast: ms until all have it (max)", lambda r: r["max_all_ms"]),
    ("idle-100000", "broadcast: p99 latency ms", lambda r: r["latency_us"]["p99"] / 1000),
    ("idle-100000", "broadcast: lost", lambda r: r["lost"]),
    ("history", "p50 ms", lambda r: r["latency_us"]["p50"] / 1000),
    ("history", "p99 ms", lambda r: r["latency_us"]["p99"] / 1000),
    (
        "history-changed",
        "plain: server CPU us/request",
        lambda r: r["plain"]["server_cpu_us_per_request"],
    ),
    (
        "history-changed",
        "edited + reacted: server CPU us/request",
        lambda r: r["changed"]["server_cpu_us_per_request"],
    ),
    ("history-changed", "changed / plain, CPU", lambda r: r["cpu_ratio"]),
    ("history-changed", "changed / plain, p50", lambda r: r["p50_ratio"]),
    ("auth", "tokens/s", lambda r: r["tokens_per_s"]),
]

# The rooms scenarios (chat only): plain beside the same load with activity flowing.
ROOMS_ROWS = [
    ("messages/s (offered 200)", lambda r: r["achieved_msgs_per_s"]),
    ("message deliveries/s", lambda r: r["deliveries_per_s"]),
    ("lost", lambda r: r["lost"]),
    ("p50 latency ms, messages", lambda r: r["latency_us"]["p50"] / 1000),
    ("p99 latency ms, messages", lambda r: r["latency_us"]["p99"] / 1000),
    ("activity frames received", lambda r: r["activity_frames"]),
    ("activity frames/s", lambda r: r["activity_frames_per_s"]),
    ("activity frames per message", lambda r: r["activity_frames_per_message"]),
    ("server CPU us/message", lambda r: r.get("server_cpu_us_per_message")),
    ("server CPU us/message delivery", lambda r: r.get("server_cpu_us_per_delivery")),
    ("server CPU us/frame (deliveries + activity)", lambda r: r.get("server_cpu_us_per_frame")),
    ("database CPU us/message", lambda r: _per_message(r, "database_cpu_seconds")),
    ("set-up s (users, rooms, joins)", lambda r: r["setup_seconds"]),
    ("load generator busy", lambda r: r.get("busy")),
]


def _per_message(r: dict, key: str) -> float | None:
    return r[key] * 1e6 / r["sent"] if key in r and r["sent"] else None


# The peer is one process; a cluster scenario is compared with its one-process original.
PEER_SCENARIO = {"cluster-fanout-100": "fanout-100", "fanout-100-beside-rooms": "fanout-100"}


def _both_cpu(r: dict) -> float | None:
    server, database = r.get("server_cpu_us_per_delivery"), r.get("database_cpu_us_per_delivery")
    return None if server is None or database is None else server + database


def _p99_ms(key: str):
    return lambda r: r[key]["p99"] / 1000 if r[key]["p99"] >= 0 else None


# cluster-fanout-100 against fanout-100 on the same backend (PostgreSQL)
CLUSTER_ROWS = [
    ("deliveries/s", lambda r: r["deliveries_per_s"]),
    ("lost", lambda r: r["lost"]),
    ("p50 latency ms", lambda r: r["latency_us"]["p50"] / 1000),
    ("p99 latency ms", _p99_ms("latency_us")),
    ("p99 latency ms, deliveries across instances", _p99_ms("cross_port_latency_us")),
    (
        "share of deliveries across instances",
        lambda r: r["cross_port_deliveries"] / r["deliveries"],
    ),
    ("server CPU us/delivery (all instances)", lambda r: r.get("server_cpu_us_per_delivery")),
    ("database CPU us/delivery", lambda r: r.get("database_cpu_us_per_delivery")),
    ("server + database CPU us/delivery", _both_cpu),
    ("messages per commit", lambda r: r.get("messages_per_commit")),
    ("commit ms (mean, each instance's own)", lambda r: r.get("commit_ms_mean")),
    ("load generator busy", lambda r: r.get("busy")),
]


def fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if value else "0"


def _value(results: dict, label: str, scenario: str, get) -> float | None:
    try:
        return get(results[label][scenario])
    except (KeyError, TypeError, ZeroDivisionError):
        return None


#: Rows that say what ran (idle-100000's connections and processes differ between the
#: peer and a server of workers), not a figure to compare with the peer's.
COUNTS = {("idle-100000", "connections"), ("idle-100000", "server processes")}


def table(results: dict) -> str:
    labels = [label for label in results if label != "peer"]
    head = "| scenario | metric | peer | " + " | ".join(f"{name} | vs peer" for name in labels)
    lines = [head + " |", "|" + " --- |" * (3 + 2 * len(labels))]
    shown = set()
    for scenario, metric, get in ROWS:
        ours = [_value(results, label, scenario, get) for label in labels]
        if all(value is None for value in ours) and scenario not in results.get("peer", {}):
            continue  # not run (--only, or a cluster scenario without PostgreSQL)
        peer = _value(results, "peer", PEER_SCENARIO.get(scenario, scenario), get)
        cells = [scenario, metric, fmt(peer)]
        for value in ours:
            ratio = f"{value / peer:.2f}x" if value is not None and peer else "n/a"
            if (scenario, metric) in COUNTS:
                ratio = ""  # what was run, not how well
            cells += [fmt(value), ratio]
        lines.append("| " + " | ".join(cells) + " |")
        shown.add(scenario)
    if not shown:
        return ""  # only scenarios with tables of their own (rooms) ran
    for scenario in sorted(shown & PEER_SCENARIO.keys()):
        original = PEER_SCENARIO[scenario]
        lines += ["", f"({scenario} is compared with the peer's {original}: the same load.)"]
    return "\n".join(lines)


#: (one instance, the cluster) scenario pairs, each shown as a table by `cluster_table`.
CLUSTER_PAIRS = [
    ("fanout-100", "cluster-fanout-100"),
    ("fanout-100-fixed-rate", "cluster-fanout-100-fixed-rate"),
]


def cluster_tables(results: dict, label: str = "postgres") -> str | None:
    """Every cluster scenario that ran beside its one-instance twin."""
    tables = [cluster_table(results, label, one, many) for one, many in CLUSTER_PAIRS]
    shown = [table for table in tables if table is not None]
    return "\n\n".join(shown) if shown else None


def cluster_table(
    results: dict,
    label: str = "postgres",
    single: str = "fanout-100",
    scenario: str = "cluster-fanout-100",
) -> str | None:
    """`scenario` (a cluster) beside `single` on the same backend: what the cluster
    costs."""
    cluster = results.get(label, {}).get(scenario)
    if cluster is None:
        return None
    instances, cpus = cluster.get("instances", "?"), cluster.get("server_cpus", "?")
    bus = {"postgres": "LISTEN/NOTIFY", "redis": "Redis"}.get(cluster.get("bus"), "?")
    lines = [
        f"{scenario} ({instances} instances on CPUs {cpus}, woken over {bus}) "
        f"against {single} (1 instance on CPU {SERVER_CPU}), {label}:",
        "",
        f"| metric | 1 instance | {instances} instances | ratio |",
        "| --- | --- | --- | --- |",
    ]
    for metric, get in CLUSTER_ROWS:
        one = _value(results, label, single, get)
        many = _value(results, label, scenario, get)
        ratio = f"{many / one:.2f}x" if many is not None and one else "n/a"
        lines.append(f"| {metric} | {fmt(one)} | {fmt(many)} | {ratio} |")
    if LOADGEN_CPU in str(cpus).split(","):
        lines += ["", f"(an instance shared CPU {LOADGEN_CPU} with the load generator)"]
    counters = cluster.get("bus_counters")
    if counters:
        shown = ", ".join(f"{key} {value:,.0f}" for key, value in sorted(counters.items()))
        lines += ["", f"(the bus, summed over the instances: {shown})"]
    return "\n".join(lines)


def rooms_table(results: dict) -> str | None:
    """rooms-50x20 beside rooms-50x20-plain, per backend: what activity frames cost."""
    labels = [
        label
        for label in results
        if "rooms-50x20" in results[label] and "rooms-50x20-plain" in results[label]
    ]
    if not labels:
        return None
    lines = [
        "rooms: 1,000 /ws users in 50 rooms of 20, 200 messages/s; plain (members of their "
        "own room only) and with activity (each also a member of 2 other rooms):",
        "",
        "| metric | "
        + " | ".join(f"{label} plain | {label} activity | difference" for label in labels)
        + " |",
        "|" + " --- |" * (1 + 3 * len(labels)),
    ]
    for metric, get in ROOMS_ROWS:
        cells = [metric]
        for label in labels:
            plain = _value(results, label, "rooms-50x20-plain", get)
            busy = _value(results, label, "rooms-50x20", get)
            difference = busy - plain if plain is not None and busy is not None else None
            cells += [fmt(plain), fmt(busy), fmt(difference)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


THREAD_ROWS = [
    ("messages/s", lambda r: r["achieved_msgs_per_s"]),
    ("message deliveries/s", lambda r: r["deliveries_per_s"]),
    ("lost", lambda r: r["lost"]),
    ("p50 latency ms", lambda r: r["latency_us"]["p50"] / 1000),
    ("p99 latency ms", lambda r: r["latency_us"]["p99"] / 1000),
    ("server CPU us/message", lambda r: r.get("server_cpu_us_per_message")),
    ("server CPU us/message delivery", lambda r: r.get("server_cpu_us_per_delivery")),
    ("database CPU us/message", lambda r: _per_message(r, "database_cpu_seconds")),
]


def threads_table(results: dict) -> str | None:
    """thread-100 beside room-100, per backend: what a thread reply costs over a room
    message (the target: within 5%)."""
    labels = [
        label
        for label in results
        if "thread-100" in results[label] and "room-100" in results[label]
    ]
    if not labels:
        return None
    lines = [
        "threads: one room of 100 /ws members, its first member sending as fast as 100 "
        "in flight allow, as room messages and as replies in one thread:",
        "",
        "| metric | "
        + " | ".join(f"{label} room | {label} thread | change" for label in labels)
        + " |",
        "|" + " --- |" * (1 + 3 * len(labels)),
    ]
    for metric, get in THREAD_ROWS:
        cells = [metric]
        for label in labels:
            room = _value(results, label, "room-100", get)
            thread = _value(results, label, "thread-100", get)
            change = f"{(thread - room) / room:+.1%}" if room and thread is not None else "-"
            cells += [fmt(room), fmt(thread), change]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--backends",
        default="sqlite,postgres",
        help="comma-separated: sqlite, postgres (default both)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CHAT_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/test"),
        help="PostgreSQL server for the postgres backend (a throwaway schema is used)",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each fan-out run")
    parser.add_argument("--quick", action="store_true", help="2-second runs, fewer requests")
    parser.add_argument("--only", default="", help="comma-separated scenario names to run")
    parser.add_argument(
        "--crowd-connections",
        type=int,
        default=None,
        help="idle-100000 with this many connections instead (where the open-files limit "
        "cannot be raised to 100,100: setrlimit needs CAP_SYS_RESOURCE); with "
        "--crowd-workers, what the one-process servers (the peer, SQLite) hold",
    )
    parser.add_argument(
        "--crowd-workers",
        type=int,
        default=None,
        metavar="N",
        help="idle-100000 on PostgreSQL through `chat serve --workers N`: one instance of "
        "N processes holding all 100,000 connections, where one process may not",
    )
    parser.add_argument(
        "--cluster-cpus",
        default=CLUSTER_CPUS,
        help="cluster-fanout-100: the CPU of each instance, one per instance (default "
        f"{CLUSTER_CPUS}: two instances on the single server's core; 0,1 gives each its "
        f"own core, but the second then shares CPU {LOADGEN_CPU} with the load generator)",
    )
    parser.add_argument(
        "--bus-url",
        default=None,
        help="CHAT_BUS_URL for the PostgreSQL runs, e.g. redis://127.0.0.1:6379/0 "
        "(default: none, the instances wake each other with LISTEN/NOTIFY)",
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        default=None,
        help="sample every chat process with py-spy during each fan-out run and write "
        "its raw stacks to DIR (<scenario>-<instances>-<label>.txt)",
    )
    args = parser.parse_args()
    global PROFILE_DIR
    if args.profile:
        PROFILE_DIR = Path(args.profile)
        PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    if os.cpu_count() is None or os.cpu_count() < 2:
        sys.exit("bench: needs two CPUs (server on one, load generator on the other)")
    cluster_cpus = args.cluster_cpus.split(",")
    if len(cluster_cpus) < 2 or not all(cpu.isdigit() for cpu in cluster_cpus):
        sys.exit("bench: --cluster-cpus takes two or more CPU numbers, e.g. 0,0 or 0,1")
    if LOADGEN_CPU in cluster_cpus:
        print(
            f"bench: --cluster-cpus {args.cluster_cpus}: the load generator shares CPU "
            f"{LOADGEN_CPU} with the cluster, so the cluster has more CPU than the single "
            "instance and the load generator less; compare CPU per delivery, not rates",
            file=sys.stderr,
        )
    seconds = 2.0 if args.quick else args.seconds
    if "search" in args.only.split(","):
        # Issue 24's search benchmark loads a million messages into each backend first:
        # a script of its own (bench/search.py), run alone with this run's options.
        if args.only != "search":
            sys.exit("bench: --only search runs alone (see bench/search.py)")
        command = [sys.executable, str(BENCH / "search.py"), "--backends", args.backends]
        command += ["--database-url", args.database_url, "--seconds", str(args.seconds)]
        sys.exit(subprocess.run(command + ["--quick"] * args.quick).returncode)
    if "reconnect-storm" in args.only.split(","):
        # Issue 27's reconnection storm: its own cluster, 10,000 clients and a kill, a
        # few minutes; a script of its own (bench/reconnect_storm.py), run alone.
        if args.only != "reconnect-storm":
            sys.exit("bench: --only reconnect-storm runs alone (see bench/reconnect_storm.py)")
        command = [sys.executable, str(BENCH / "reconnect_storm.py")]
        command += ["--database-url", args.database_url]
        sys.exit(subprocess.run(command).returncode)
    if "team-day" in args.only.split(","):
        # Issue 27's team day ramps thousands of simulated users for up to 15 minutes a
        # backend: a script of its own (bench/team_day.py), run alone, outside the
        # standard set.
        if args.only != "team-day":
            sys.exit("bench: --only team-day runs alone (see bench/team_day.py)")
        command = [sys.executable, str(BENCH / "team_day.py"), "--backends", args.backends]
        command += ["--database-url", args.database_url]
        sys.exit(subprocess.run(command + ["--quick"] * args.quick).returncode)
    scenarios = standard_scenarios(seconds)
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {s.name for s in scenarios}
        if unknown:
            names = ", ".join(s.name for s in scenarios)
            sys.exit(f"bench: unknown scenario(s) {', '.join(sorted(unknown))} (known: {names})")
        scenarios = [s for s in scenarios if s.name in wanted]
    else:
        scenarios = [s for s in scenarios if s.default]
    if args.crowd_workers is not None and (
        args.crowd_workers < 2 or "postgres" not in args.backends.split(",")
    ):
        sys.exit("bench: --crowd-workers takes 2 or more, and the postgres backend")

    def crowd_args(a: dict) -> dict:
        """idle-100000: what a one-process server holds ("one_process"), and what the
        workers of --crowd-workers hold together ("connections")."""
        one_process = args.crowd_connections or a["connections"]
        together = a["connections"] if args.crowd_workers is not None else one_process
        return {**a, "one_process": one_process, "connections": together}

    scenarios = [
        dataclasses.replace(s, args=crowd_args(s.args)) if s.mode == "crowd" else s
        for s in scenarios
    ]
    # What one process must hold: a load generator splits its clients over as many
    # processes as it needs (bench/crowd_shards.py), a server of workers over its workers
    # (the kernel spreads them: a tenth more than the mean is left for the spread).
    most = max(
        (
            s.args["one_process"]
            if s.mode == "crowd"
            else s.args.get("connections", s.args.get("receivers", 0) + s.args.get("senders", 0))
            + s.args.get("rooms", 0) * s.args.get("members", 0)
            for s in scenarios
        ),
        default=0,
    )
    if args.crowd_workers is not None:
        crowds = [s.args["connections"] for s in scenarios if s.mode == "crowd"]
        most = max([most, *(int(n / args.crowd_workers * 1.1) for n in crowds)])
    if raise_fd_limit(most + FD_HEADROOM) < most + FD_HEADROOM:
        sys.exit(
            f"bench: {most} connections need {most + FD_HEADROOM} open files per "
            "process; raise the hard limit (`ulimit -Hn`, or run as root with "
            "CAP_SYS_RESOURCE), skip them with --only, or run idle-100000 smaller "
            "(--crowd-connections) or through more workers (--crowd-workers)"
        )
    loadgen = build_loadgen()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="chat-bench-") as tmp_name:
        tmp = Path(tmp_name)
        results["peer"] = run_target(peer_target(tmp), scenarios, loadgen, tmp)
        for backend in args.backends.split(","):
            if backend == "sqlite":
                results["sqlite"] = run_target(
                    chat_target(tmp, "sqlite", None), scenarios, loadgen, tmp
                )
            elif backend == "postgres":
                with postgres_schema(args.database_url) as (url, database):
                    single = chat_target(tmp, "postgres", url, bus_url=args.bus_url)
                    cluster = cluster_target(tmp, url, cluster_cpus, args.bus_url)
                    single.database = cluster.database = database
                    workers = None
                    if args.crowd_workers is not None:
                        workers = workers_target(tmp, url, args.crowd_workers, args.bus_url)
                    results["postgres"] = run_target(
                        single, scenarios, loadgen, tmp, cluster, workers
                    )
            else:
                sys.exit(f"bench: unknown backend {backend!r}")
    out_dir = BENCH / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out_dir / f"{stamp}.json").write_text(json.dumps(results, indent=2))
    main_table = table(results)
    if main_table:
        print(main_table)
    comparison = cluster_tables(results)
    if comparison:
        print("\n" + comparison)
    activity = rooms_table(results)
    if activity:
        print("\n" + activity)
    threads = threads_table(results)
    if threads:
        print("\n" + threads)
    print(f"\n(raw results: bench/results/{stamp}.json)")


if __name__ == "__main__":
    main()
