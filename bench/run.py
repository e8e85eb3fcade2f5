"""Run the standard benchmarks against the reference peer and chat, and print a table.

    python bench/run.py                       # the standard set, SQLite and PostgreSQL
    python bench/run.py --backends sqlite     # skip PostgreSQL
    python bench/run.py --quick               # shorter runs, for a smoke test

Every run measures the peer (bench/peers/relay_websockets.py) and our server one after
the other, each pinned to CPU 0 with `taskset`, while the load generator (bench/loadgen.c,
compiled on the fly) runs pinned to CPU 1. Everything talks over 127.0.0.1 only, and
every scenario is bounded in time. Results are printed as a table (our figures with
their ratio to the peer's) and saved as JSON under bench/results/.
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
from dataclasses import dataclass, field
from pathlib import Path

import jwt

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SERVER_CPU, LOADGEN_CPU = "0", "1"
SECRET = secrets.token_urlsafe(48)
SENDERS = 10


@dataclass(frozen=True)
class Scenario:
    name: str
    mode: str
    args: dict = field(default_factory=dict)


def standard_scenarios(seconds: float) -> list[Scenario]:
    return [
        Scenario(
            "fanout-100",
            "fanout",
            {"receivers": 100, "senders": SENDERS, "rate": 0, "window": 100, "seconds": seconds},
        ),
        Scenario(
            "fanout-1000",
            "fanout",
            {"receivers": 1000, "senders": SENDERS, "rate": 50, "window": 1000, "seconds": seconds},
        ),
        Scenario("idle-2000", "idle", {"connections": 2000}),
        Scenario("history", "history", {"count": 10, "seconds": min(seconds, 5.0)}),
        Scenario("auth", "auth", {"requests": 20}),
    ]


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


def raise_fd_limit() -> None:
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Target:
    """A server under test: started pinned to SERVER_CPU, stopped with SIGTERM."""

    def __init__(self, label: str, command: list[str], env: dict[str, str], port: int) -> None:
        self.label, self.command, self.env, self.port = label, command, env, port
        self.process: subprocess.Popen | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the target)

    def start(self) -> None:
        self.log.seek(0)
        self.log.truncate()
        self.process = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, *self.command],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=raise_fd_limit,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self.log.seek(0)
            if b"listening on" in self.log.read():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.log.seek(0)
        raise RuntimeError(f"{self.label} did not start:\n{self.log.read().decode()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def rss_kib(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", status).group(1))

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime, all threads

    @contextlib.contextmanager
    def running(self) -> Iterator[Target]:
        self.start()
        try:
            yield self
        finally:
            self.stop()


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


def chat_target(tmp: Path, backend: str, database_url: str | None) -> Target:
    port = free_port()
    env = dict(
        os.environ,
        CHAT_PORT=str(port),
        CHAT_JWT_SECRET=SECRET,
        CHAT_DATA_DIR=str(tmp / f"data-{backend}-{port}"),
        CHAT_LOG_LEVEL="INFO",
    )
    env.pop("CHAT_DATABASE_URL", None)
    if database_url:
        env["CHAT_DATABASE_URL"] = database_url
    return Target(f"chat-{backend}", [sys.executable, "-m", "chat", "serve"], env, port)


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
            status, body = http_post(target.port, "/api/reg", {"username": name, "password": "pw"})
            if status == 409:
                status, body = http_post(target.port, "/auth", {"name": name, "password": "pw"})
            if "token" not in body:
                raise RuntimeError(f"could not get a token for {name}: {status} {body}")
            tokens.append(body["token"])
    path = tmp / f"tokens-{target.label}-{target.port}.txt"
    path.write_text("\n".join(tokens) + "\n")
    return path


# --- scenarios ---


def run_loadgen(loadgen: Path, args: list[str], timeout: float) -> dict:
    """Run the load generator pinned to LOADGEN_CPU; its JSON result, plus the CPU time
    it used per wall second (at full rate it spins, so see its own "busy" for how much
    of that was work: near 1.0 would mean it, not the server, set the pace)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = subprocess.run(
        ["taskset", "-c", LOADGEN_CPU, str(loadgen), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"loadgen {' '.join(args)} failed: {result.stderr}")
    report = json.loads(result.stdout.splitlines()[0])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    report["loadgen_cpu_busy"] = round(cpu / wall, 3)
    return report


def fanout(target: Target, loadgen: Path, tokens: Path, a: dict) -> dict:
    cpu_before = target.cpu_seconds()
    result = run_loadgen(
        loadgen,
        [
            "fanout",
            "127.0.0.1",
            str(target.port),
            str(a["receivers"]),
            str(a["senders"]),
            str(a["rate"]),
            str(a["window"]),
            str(a["seconds"]),
            str(tokens),
        ],
        timeout=a["seconds"] + 120,
    )
    cpu = target.cpu_seconds() - cpu_before
    result["server_cpu_seconds"] = round(cpu, 3)
    if result["deliveries"]:
        result["server_cpu_us_per_delivery"] = round(cpu * 1e6 / result["deliveries"], 3)
    return result


def idle(target: Target, loadgen: Path, a: dict) -> dict:
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


def auth(target: Target, a: dict) -> dict:
    """Tokens issued per second through POST /auth, two requests at a time."""
    from concurrent.futures import ThreadPoolExecutor

    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        statuses = list(
            pool.map(
                lambda i: http_post(target.port, "/auth", {"name": "bench0", "password": "pw"})[0],
                range(a["requests"]),
            )
        )
    elapsed = time.monotonic() - started
    assert statuses == [200] * a["requests"], statuses
    return {
        "mode": "auth",
        "requests": a["requests"],
        "tokens_per_s": round(a["requests"] / elapsed, 2),
    }


def run_target(target: Target, scenarios: list[Scenario], loadgen: Path, tmp: Path) -> dict:
    results = {}
    for scenario in scenarios:
        if scenario.mode == "auth" and target.label == "peer":
            continue  # the peer issues no tokens
        # A fresh process per scenario: memory and caches left by one run must not
        # flatter or burden the next (idle in particular measures RSS growth).
        with target.running():
            tokens = tokens_for(target, SENDERS, tmp)
            print(f"  {target.label}: {scenario.name} ...", flush=True, file=sys.stderr)
            if scenario.mode == "fanout":
                results[scenario.name] = fanout(target, loadgen, tokens, scenario.args)
            elif scenario.mode == "idle":
                results[scenario.name] = idle(target, loadgen, scenario.args)
            elif scenario.mode == "history":
                results[scenario.name] = history(target, loadgen, tokens, scenario.args)
            elif scenario.mode == "auth":
                results[scenario.name] = auth(target, scenario.args)
    return results


# --- PostgreSQL: a throwaway schema per run ---


@contextlib.contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    schema = "chat_bench_" + secrets.token_hex(4)
    # psql takes no server settings in the URL (asyncpg does: ?synchronous_commit=off).
    psql_url = base_url.split("?", 1)[0]
    subprocess.run(["psql", psql_url, "-qc", f"CREATE SCHEMA {schema}"], check=True)
    try:
        separator = "&" if "?" in base_url else "?"
        yield f"{base_url}{separator}search_path={schema}"
    finally:
        subprocess.run(["psql", psql_url, "-qc", f"DROP SCHEMA {schema} CASCADE"], check=True)


# --- the table ---

ROWS = [
    ("fanout-100", "deliveries/s", lambda r: r["deliveries_per_s"]),
    ("fanout-100", "lost", lambda r: r["lost"]),
    ("fanout-100", "p99 latency ms", lambda r: r["latency_us"]["p99"] / 1000),
    ("fanout-100", "server CPU us/delivery", lambda r: r.get("server_cpu_us_per_delivery")),
    ("fanout-100", "load generator busy", lambda r: r.get("busy")),
    ("fanout-1000", "deliveries/s", lambda r: r["deliveries_per_s"]),
    ("fanout-1000", "lost", lambda r: r["lost"]),
    ("fanout-1000", "p50 latency ms", lambda r: r["latency_us"]["p50"] / 1000),
    ("fanout-1000", "p99 latency ms", lambda r: r["latency_us"]["p99"] / 1000),
    ("fanout-1000", "server CPU us/delivery", lambda r: r.get("server_cpu_us_per_delivery")),
    ("idle-2000", "KiB per connection", lambda r: r["kib_per_connection"]),
    ("idle-2000", "connects/s", lambda r: r["connects_per_s"]),
    ("history", "p50 ms", lambda r: r["latency_us"]["p50"] / 1000),
    ("history", "p99 ms", lambda r: r["latency_us"]["p99"] / 1000),
    ("auth", "tokens/s", lambda r: r["tokens_per_s"]),
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
    except (KeyError, TypeError):
        return None


def table(results: dict) -> str:
    labels = [label for label in results if label != "peer"]
    head = "| scenario | metric | peer | " + " | ".join(f"{name} | vs peer" for name in labels)
    lines = [head + " |", "|" + " --- |" * (3 + 2 * len(labels))]
    for scenario, metric, get in ROWS:
        peer = _value(results, "peer", scenario, get)
        cells = [scenario, metric, fmt(peer)]
        for label in labels:
            ours = _value(results, label, scenario, get)
            ratio = f"{ours / peer:.2f}x" if ours is not None and peer else "n/a"
            cells += [fmt(ours), ratio]
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
    args = parser.parse_args()
    if os.cpu_count() is None or os.cpu_count() < 2:
        sys.exit("bench: needs two CPUs (server on one, load generator on the other)")
    seconds = 2.0 if args.quick else args.seconds
    scenarios = standard_scenarios(seconds)
    if args.only:
        wanted = set(args.only.split(","))
        scenarios = [s for s in scenarios if s.name in wanted]
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
                with postgres_schema(args.database_url) as url:
                    results["postgres"] = run_target(
                        chat_target(tmp, "postgres", url), scenarios, loadgen, tmp
                    )
            else:
                sys.exit(f"bench: unknown backend {backend!r}")
    out_dir = BENCH / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out_dir / f"{stamp}.json").write_text(json.dumps(results, indent=2))
    print(table(results))
    print(f"\n(raw results: bench/results/{stamp}.json)")


if __name__ == "__main__":
    main()
