"""A team's day: how many simulated users one instance holds within
Mattermost's thresholds, playing what Mattermost's load-test agent plays.

    python bench/team_day.py                        # SQLite and PostgreSQL, about 25 minutes
    python bench/team_day.py --backends sqlite --steps 500,1000,2000
    python bench/team_day.py --quick                # a smoke test: a minute, 50 users
    python bench/run.py --only team-day             # the same, through run.py

A team (bench/team_day_team.py: users, 40 rooms of many sizes, memberships, history) is
written into a fresh database, `chat serve` starts on it pinned to CPU 0, and this
process, pinned to CPU 1, plays simulated users (bench/team_day_actions.py: each a
`/ws` connection and HTTP requests, Mattermost's action mix and think times). Users are
added in steps (`--steps`, users in all at each, joining at `--join-rate` a
second); once a step's users have all joined and `--settle` seconds have passed, a
window of `--window` seconds is measured: every action's latency and errors, the
server's CPU, the database's (its backends, on PostgreSQL), and this process's own. A
step holds if, over its window, every action's average latency is at most 100 ms, its
p99 at most 2 s, and errors at most 0.025% of all actions (the thresholds of
Mattermost's ceiling tests). The ramp stops at the first step that does not hold (or
at the last step, or when the next step would pass `--budget` seconds), after one more
window halfway between the two (users leave to get there); the figure is the most users
held.

The users come from one address at machine speed, so the server runs with
`CHAT_RATE_LIMITS=off` (which also lifts the per-address connection cap), as in
bench/run.py; tokens are signed with the run's secret, so no password is checked.
The reference peer cannot play: see bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import gc_pauses
import targets
import trio
from search import on_cpu
from team_day_actions import MIX, THINK_MEAN_S, THINK_MIN_S
from team_day_generator import HTTP_CONNECTIONS, Generator, Plan, Server
from team_day_team import Team, load_postgres, load_sqlite, make_team

#: Users joining a second while a step ramps up. At 100 a second, 400 new users took
#: seconds each to connect on a loaded machine: a login storm, not a team's day.
JOIN_RATE = 25.0
#: Group rooms of the team (the lobby besides).
ROOMS = 40
#: The default ramp: users held in each step (finer where the ceiling was expected).
STEPS = (500, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 8000, 10_000)


def run_backend(backend: str, team: Team, plan: Plan, a: argparse.Namespace, tmp: Path) -> dict:
    """Load the team into a fresh database of `backend`, start chat on it, ramp."""
    if backend == "sqlite":
        target = targets.chat_target(tmp, "sqlite", None)
        started = time.monotonic()
        data_dir = Path(target.env["CHAT_DATA_DIR"])
        data_dir.mkdir(parents=True)
        load_sqlite(team, data_dir, target.env, targets.PASSWORD, a.seed)
        return _measure(target, team, plan, a, time.monotonic() - started)
    with targets.postgres_schema(a.database_url) as (url, database):
        target = targets.chat_target(tmp, "postgres", url)
        target.database = database
        started = time.monotonic()
        load_postgres(team, url, target.env, targets.PASSWORD, a.seed)
        return _measure(target, team, plan, a, time.monotonic() - started)


class Served:
    """A `targets.Target`, or a `targets.Cluster` of several instances, as the generator sees it."""

    def __init__(self, target: targets.Target | targets.Cluster) -> None:
        self.target, self.label = target, target.label
        self.hosts, self.ports = target.hosts, target.ports
        self.database = target.database

    def cpu_seconds(self) -> float:
        return self.target.cpu_seconds()

    def cpu_seconds_each(self) -> list[float]:
        if isinstance(self.target, targets.Cluster):
            return self.target.cpu_seconds_each()
        return [self.target.cpu_seconds()]

    def pid(self) -> int | None:
        """The (first) instance's process: the one py-spy samples."""
        target = self.target.members[0] if isinstance(self.target, targets.Cluster) else self.target
        return target.process.pid if target.process else None


def _measure(
    target: targets.Target | targets.Cluster,
    team: Team,
    plan: Plan,
    a: argparse.Namespace,
    setup: float,
) -> dict[str, Any]:
    tokens = team.tokens(targets.SECRET)
    profile_dir = Path(a.profile) if a.profile else None
    if profile_dir:
        profile_dir.mkdir(parents=True, exist_ok=True)
    print(f"  {target.label}: team loaded in {setup:.1f} s", file=sys.stderr)
    costs: dict[str, dict[str, float]] = {}
    with target.running(), on_cpu(targets.LOADGEN_CPU):
        if a.costs:
            costs = trio.run(action_costs, Served(target), team, tokens, a.seed, a.costs)
        generator = Generator(Served(target), team, tokens, plan, a.seed, profile_dir)
        gc_pauses.tune()  # the team and the tokens, made before, are frozen
        windows = trio.run(generator.run)
        rss_kib = target.rss_kib()
    held = sorted(w["users"] for w in windows if w["held"])
    return {
        "setup_seconds": round(setup, 1),
        "team": {"users": len(team.names), "rooms": len(team.members), "messages": team.messages},
        "costs": costs,
        "windows": windows,
        "held_users": held[-1] if held else 0,
        "server_rss_kib_at_end": rss_kib,
    }


#: Each action's cost is measured over this many seconds of it alone, once the users
#: have connected and this many seconds have passed.
COST_WINDOW_S, COST_SETTLE_S = 10.0, 8.0


async def action_costs(
    server: Server, team: Team, tokens: list[str], seed: int, users: int
) -> dict[str, dict[str, float]]:
    """What each action costs the server (and its database), played alone by `users`
    users thinking 1 s on average (`--costs`): CPU milliseconds per action, frames
    received per action. Each is counted beyond what the same users cost connected but
    idle (measured first: presence, the server's own timers), and after their connects
    are done. An edit needs a message of the user's own, so edits are played beside
    posts and the posts' cost (measured just before) taken away."""

    async def alone(mix: list[tuple[str, float]], think_s: float) -> dict[str, Any]:
        plan = Plan([users], 200.0, COST_SETTLE_S, COST_WINDOW_S, 3600.0, think_s / 5, think_s)
        plan.mix, plan.refine = mix, False
        (window,) = await Generator(server, team, tokens, plan, seed).run()
        return window

    idle = await alone([("type", 1.0)], think_s=3600.0)  # connected, nothing played
    base_server = idle["server_cpu"] * COST_WINDOW_S
    base_database = (idle["database_cpu"] or 0.0) * COST_WINDOW_S
    costs: dict[str, dict[str, float]] = {}
    for name, _ in MIX:
        window = await alone([("post", 1.0), (name, 1.0)] if name == "edit" else [(name, 1.0)], 1.0)
        count = window["per_action"].get(name, {}).get("count", 0)
        scale = window["seconds"] / COST_WINDOW_S
        server_s = window["server_cpu"] * window["seconds"] - base_server * scale
        database_s = (window["database_cpu"] or 0.0) * window["seconds"] - base_database * scale
        if name == "edit" and "post" in costs:
            posts = window["per_action"].get("post", {}).get("count", 0)
            server_s -= posts * costs["post"]["server_ms"] / 1000
            database_s -= posts * costs["post"]["database_ms"] / 1000
        costs[name] = {
            "count": count,
            "server_ms": round(server_s * 1000 / max(1, count), 2),
            "database_ms": round(database_s * 1000 / max(1, count), 2),
            "frames": round(window["frames_per_s"] * window["seconds"] / max(1, count), 1),
            "avg_ms": window["per_action"].get(name, {}).get("avg_ms", math.nan),
        }
        print(f"    cost of {name}: {costs[name]}", file=sys.stderr, flush=True)
    costs["idle"] = {
        "count": users,
        "server_ms": round(base_server * 1000 / COST_WINDOW_S, 2),  # per second, all users
        "database_ms": round(base_database * 1000 / COST_WINDOW_S, 2),
        "frames": 0.0,
        "avg_ms": math.nan,
    }
    return costs


# --- the table ---


def table(results: dict) -> str:
    lines = []
    for backend, result in results.items():
        if backend == "meta":
            continue
        lines += [
            f"{backend}: {result['held_users']} users held "
            f"(team of {result['team']['users']}, set-up {result['setup_seconds']} s)",
            "",
            "| users | actions/s | worst avg ms | worst p99 ms | errors | server CPU | "
            "database CPU | generator CPU | frames/s | held |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for w in result["windows"]:
            per = w["per_action"].values()
            lines.append(
                f"| {w['users']} | {w['actions_per_s']} | "
                f"{max((a['avg_ms'] for a in per), default=math.nan)} | "
                f"{max((a['p99_ms'] for a in per), default=math.nan)} | {w['errors']} | "
                f"{w['server_cpu']} | {w['database_cpu']} | {w['generator_cpu']} | "
                f"{w['frames_per_s']} | {'yes' if w['held'] else 'no'} |"
            )
        held = [w for w in result["windows"] if w["held"]]
        shown = max(held, key=lambda w: w["users"]) if held else (result["windows"] or [None])[-1]
        if shown:
            lines += [
                "",
                f"at {shown['users']} users, per action:",
                "",
                "| action | count | errors | avg ms | p50 ms | p99 ms | max ms |",
                "| --- | --- | --- | --- | --- | --- | --- |",
            ]
            for action, a in shown["per_action"].items():
                lines.append(
                    f"| {action} | {a['count']} | {a['errors']} | {a['avg_ms']} | "
                    f"{a['p50_ms']} | {a['p99_ms']} | {a['max_ms']} |"
                )
        if result.get("costs"):
            lines += [
                "",
                "each action alone (server and database CPU per action beyond the same users"
                " idle, frames received; idle: CPU ms per second, all users):",
                "",
                "| action | count | server ms | database ms | frames | avg latency ms |",
                "| --- | --- | --- | --- | --- | --- |",
            ]
            for action, c in result["costs"].items():
                lines.append(
                    f"| {action} | {c['count']} | {c['server_ms']} | {c['database_ms']} | "
                    f"{c['frames']} | {c['avg_ms']} |"
                )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    targets.backend_options(parser)
    parser.add_argument(
        "--steps",
        default=",".join(map(str, STEPS)),
        help="users of each step, comma-separated (the last is the team's size)",
    )
    parser.add_argument("--no-refine", action="store_true", help="no window between the last two")
    parser.add_argument("--join-rate", type=float, default=JOIN_RATE, help="users joining a second")
    parser.add_argument("--settle", type=float, default=20.0, help="seconds before a window")
    parser.add_argument("--window", type=float, default=60.0, help="seconds measured per step")
    parser.add_argument("--budget", type=float, default=840.0, help="seconds of ramp per backend")
    parser.add_argument("--think-min", type=float, default=THINK_MIN_S)
    parser.add_argument("--think-mean", type=float, default=THINK_MEAN_S)
    parser.add_argument("--seed", type=int, default=27)
    parser.add_argument("--profile", default="", help="py-spy each window's server into DIR")
    parser.add_argument(
        "--costs",
        type=int,
        default=0,
        help="first, each action alone by this many users: its server CPU (0: skip)",
    )
    parser.add_argument(
        "--page-over-http",
        action="store_true",
        help="switch rooms as before the page came with entered: enter, then GET the page",
    )
    parser.add_argument("--json", default="", help="also write the results to this file")
    parser.add_argument("--quick", action="store_true", help="50 users, short windows")
    a = parser.parse_args(argv)
    if a.quick:
        a.steps, a.settle, a.window = "50", 3.0, 15.0
    if os.cpu_count() is None or os.cpu_count() < 2:
        sys.exit("bench: needs two CPUs (server on one, the simulated users on the other)")
    steps = sorted(int(users) for users in a.steps.split(","))
    if targets.raise_fd_limit() < steps[-1] + targets.FD_HEADROOM + HTTP_CONNECTIONS:
        sys.exit(f"bench: {steps[-1]} users need more open files: raise `ulimit -Hn`")
    plan = Plan(
        steps, a.join_rate, a.settle, a.window, a.budget, a.think_min, a.think_mean,
        refine=not a.no_refine, page_over_http=a.page_over_http,
    )  # fmt: skip
    team = make_team(steps[-1], ROOMS, a.seed)
    results: dict[str, Any] = {
        "meta": {
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "load_average": os.getloadavg(),
            "plan": plan.__dict__,
        }
    }
    with tempfile.TemporaryDirectory(prefix="chat-team-day-") as tmp_name:
        for backend in a.backends.split(","):
            if backend not in ("sqlite", "postgres"):
                sys.exit(f"bench: unknown backend {backend!r}")
            results[backend] = run_backend(backend, team, plan, a, Path(tmp_name))
    results["meta"]["load_average_at_end"] = os.getloadavg()
    out_dir = targets.BENCH / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out_dir / f"team-day-{stamp}.json").write_text(json.dumps(results, indent=2))
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2))
    print(table(results))
    print(f"(raw results: bench/results/team-day-{stamp}.json)")


if __name__ == "__main__":
    main()
