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
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import message_runs
from result_tables import cluster_tables, rooms_table, table, threads_table
from scenarios import run_target, standard_scenarios
from targets import (
    BENCH,
    FD_HEADROOM,
    LOADGEN_CPU,
    build_loadgen,
    chat_target,
    cluster_target,
    peer_target,
    postgres_schema,
    raise_fd_limit,
    workers_target,
)

CLUSTER_CPUS = "0,0"  # one CPU per instance of the cluster scenario (--cluster-cpus)


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
    if args.profile:
        # Read by message_runs.profile whenever a fan-out run starts.
        message_runs.PROFILE_DIR = Path(args.profile)
        message_runs.PROFILE_DIR.mkdir(parents=True, exist_ok=True)
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
        # The search benchmark loads a million messages into each backend first:
        # a script of its own (bench/search.py), run alone with this run's options.
        if args.only != "search":
            sys.exit("bench: --only search runs alone (see bench/search.py)")
        command = [sys.executable, str(BENCH / "search.py"), "--backends", args.backends]
        command += ["--database-url", args.database_url, "--seconds", str(args.seconds)]
        sys.exit(subprocess.run(command + ["--quick"] * args.quick).returncode)
    if "reconnect-storm" in args.only.split(","):
        # The reconnection storm: its own cluster, 10,000 clients and a kill, a
        # few minutes; a script of its own (bench/reconnect_storm.py), run alone.
        if args.only != "reconnect-storm":
            sys.exit("bench: --only reconnect-storm runs alone (see bench/reconnect_storm.py)")
        command = [sys.executable, str(BENCH / "reconnect_storm.py")]
        command += ["--database-url", args.database_url]
        sys.exit(subprocess.run(command).returncode)
    if "team-day" in args.only.split(","):
        # The team day ramps thousands of simulated users for up to 15 minutes a
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
