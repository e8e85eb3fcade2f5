"""The servers a benchmark measures and how they are started: the peer, `chat serve` on
SQLite or PostgreSQL, a cluster of instances, one instance of several workers; their
processes' CPU and memory, their database backends' CPU, a throwaway PostgreSQL schema,
and the users and tokens a run registers. Most scripts in bench/ start their servers
here, so that they run as bench/run.py runs them (pinned to SERVER_CPU, rate limits off).
"""

from __future__ import annotations

import argparse
import contextlib
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
from collections.abc import Iterator
from pathlib import Path

import jwt

BENCH = Path(__file__).resolve().parent
SERVER_CPU, LOADGEN_CPU = "0", "1"
SECRET = secrets.token_urlsafe(48)
#: The password of every user the benchmark registers (at least 8 characters).
PASSWORD = "bench-password"


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
        self.host = "127.0.0.1"  # where it listens (a box's own address in a namespace)
        self.process: subprocess.Popen | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the target)
        self.ready_line = b"listening on"  # what its log says once it serves

    @property
    def ports(self) -> list[int]:
        return [self.port]

    @property
    def hosts(self) -> list[str]:
        return [self.host]

    @property
    def members(self) -> list[Target]:
        """Its processes, as a `Cluster`'s: itself."""
        return [self]

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


def metrics_page(port: int, host: str = "127.0.0.1") -> str:
    """The /metrics page of the chat server on `port` (raises OSError if it has none)."""
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=30) as answer:
        return answer.read().decode()


def commit_totals(target: Target | Cluster) -> dict[str, float] | None:
    """Batches committed and the seconds they took, summed over `target`'s servers
    (their /metrics), or None for a server without chat's metrics (the peer)."""
    totals = {"count": 0.0, "sum": 0.0}
    for host, port in zip(target.hosts, target.ports, strict=True):
        try:
            text = metrics_page(port, host)
        except (OSError, ValueError):
            return None
        for name, number in _COMMIT_SAMPLE.findall(text):
            totals[name] += float(number)
    return totals


class Cluster:
    """Several `chat serve` processes on one PostgreSQL database: one chat. Started one
    after the other (the first migrates the schema), stopped together; their CPU time
    and memory are summed. `host` and `port` are the first instance's: set-up goes
    through it."""

    database: DatabaseCpu | None = None
    bus = "postgres"  # what wakes the instances: PostgreSQL's LISTEN/NOTIFY, or "redis"

    def __init__(self, label: str, members: list[Target]) -> None:
        self.label, self.members = label, members
        self.host, self.port = members[0].host, members[0].port
        self.cpu = ",".join(member.cpu for member in members)

    @property
    def ports(self) -> list[int]:
        return [member.port for member in self.members]

    @property
    def hosts(self) -> list[str]:
        return [member.host for member in self.members]

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
            page = metrics_page(member.port, member.host)
            for name, labels, number in _BUS_SAMPLE.findall(page):
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
        cpu = {}
        for pid in map(int, out.split()):
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() != "postgres":
                    return None  # not this machine's PostgreSQL
                cpu[pid] = process_cpu_seconds(pid)
            except OSError:
                continue  # gone, or not on this machine
        return cpu or None


def peer_target(tmp: Path) -> Target:
    port = free_port()
    command = [
        sys.executable,
        str(BENCH / "peers" / "relay_websockets.py"),
        "--port",
        str(port),
        # One argument: a secret starting with "-" is not taken for an option.
        f"--secret={SECRET}",
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


def http_post(port: int, path: str, body: dict, host: str = "127.0.0.1") -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://{host}:{port}{path}",
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
            account = {"username": name, "password": PASSWORD}
            status, body = http_post(target.port, "/api/reg", account, target.host)
            if status == 409:
                login = {"name": name, "password": PASSWORD}
                status, body = http_post(target.port, "/auth", login, target.host)
            if "token" not in body:
                raise RuntimeError(f"could not get a token for {name}: {status} {body}")
            tokens.append(body["token"])
    path = tmp / f"tokens-{target.label}-{target.port}.txt"
    path.write_text("\n".join(tokens) + "\n")
    return path


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
