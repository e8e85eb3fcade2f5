"""A team's day (issue 27): how many simulated users one instance holds within
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
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import gc_pauses
import run
import trio
from gc_pauses import GcPauses
from search import on_cpu
from team_day_actions import (
    ACTION_TIMEOUT_S,
    ACTIONS,
    MAX_ERROR_SAMPLES,
    MIX,
    THINK_MEAN_S,
    THINK_MIN_S,
    ActionError,
    ReadTicker,
    Stats,
    Teammate,
    percentile,
    pick_action,
    think_time,
)
from team_day_clients import FRAME_KINDS, HttpPool
from team_day_team import Team, load_postgres, load_sqlite, make_team

#: Mattermost's thresholds: every action's average and p99 latency, the error share.
AVG_LIMIT_S, P99_LIMIT_S, ERROR_LIMIT = 0.100, 2.0, 0.00025
#: Users joining a second while a step ramps up. At 100 a second, 400 new users took
#: seconds each to connect on a loaded machine: a login storm, not a team's day.
JOIN_RATE = 25.0
#: Group rooms of the team (the lobby besides).
ROOMS = 40
#: HTTP connections the users share (a browser's own would be one per user; a shared
#: pool keeps the generator's sockets and the server's keep-alive timers to what is
#: in use at once).
HTTP_CONNECTIONS = 256


@dataclass
class Window:
    """One measured window of a step."""

    users: int
    seconds: float
    stats: Stats
    server_cpu_s: float
    generator_cpu_s: float
    database_cpu_s: float | None
    #: Each instance's share of `server_cpu_s` (one item for one instance).
    server_cpu_each_s: list[float] = field(default_factory=list)
    #: The generator's own garbage collections over the window (`gc_pauses.GcPauses.take`).
    generator_gc: dict[str, float] = field(default_factory=dict)
    #: Text frames received, by Type (`team_day_clients.FRAME_KINDS`).
    frame_kinds: dict[str, int] = field(default_factory=dict)
    per_action: dict[str, dict[str, float]] = field(default_factory=dict)

    def judge(self) -> dict[str, Any]:
        """The window's figures, and whether it held within the thresholds."""
        total = sum(len(v) for v in self.stats.latencies.values())
        errors = sum(self.stats.errors.values())
        held = total > 0 and errors <= ERROR_LIMIT * (total + errors)
        for action in ACTIONS:
            samples = self.stats.latencies[action]
            if not samples and not self.stats.errors[action]:
                continue
            avg = sum(samples) / len(samples) if samples else math.nan
            p99 = percentile(samples, 0.99)
            self.per_action[action] = {
                "count": len(samples),
                "errors": self.stats.errors[action],
                "avg_ms": round(avg * 1000, 2),
                "p50_ms": round(percentile(samples, 0.50) * 1000, 2),
                "p99_ms": round(p99 * 1000, 2),
                "max_ms": round(max(samples, default=math.nan) * 1000, 2),
            }
            # Connects happen as users join, before the window: a burst of logins, not
            # the day. They are reported, and their errors count, but their latency
            # does not decide the step.
            if action != "connect" and not (avg <= AVG_LIMIT_S and p99 <= P99_LIMIT_S):
                held = False  # (NaN fails too)
        return {
            "users": self.users,
            "seconds": round(self.seconds, 1),
            "held": held,
            "actions": total,
            "actions_per_s": round(total / self.seconds, 1),
            "errors": errors,
            "error_share": round(errors / max(1, total + errors), 6),
            "unasked_errors": self.stats.errors["unasked"],
            "error_samples": self.stats.error_samples[:10],
            "skipped": self.stats.skipped,
            "frames_per_s": round(self.stats.frames / self.seconds, 1),
            "frame_kinds_per_s": {
                kind: round(count / self.seconds, 1)
                for kind, count in sorted(self.frame_kinds.items(), key=lambda kv: -kv[1])
                if count
            },
            "server_cpu": round(self.server_cpu_s / self.seconds, 3),
            "server_cpu_each": [round(cpu / self.seconds, 3) for cpu in self.server_cpu_each_s],
            "database_cpu": (
                None
                if self.database_cpu_s is None
                else round(self.database_cpu_s / self.seconds, 3)
            ),
            "generator_cpu": round(self.generator_cpu_s / self.seconds, 3),
            "generator_gc": self.generator_gc,
            "per_action": self.per_action,
        }


#: The default ramp: users held in each step (finer where the ceiling was expected).
STEPS = (500, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 8000, 10_000)


@dataclass
class Plan:
    """The ramp: the users of each step, how fast they join, how long each window is.
    After the first step that does not hold, one more window is measured halfway
    between it and the last that held (users leave to get there), if `refine`."""

    steps: list[int]
    join_rate: float
    settle_s: float
    window_s: float
    budget_s: float
    think_min_s: float = THINK_MIN_S
    think_mean_s: float = THINK_MEAN_S
    mix: list[tuple[str, float]] = field(default_factory=lambda: list(MIX))
    refine: bool = True
    #: A switch as before `enter` carried the page: enter, then `GET /messages`.
    page_over_http: bool = False
    #: How long an action may wait for its answer before it counts as an error.
    action_timeout_s: float = ACTION_TIMEOUT_S


class Server(Protocol):
    """What the generator needs of the server it plays against (`run.Target` and
    `run.Cluster` have it; a test's in-process server can stand in). User i plays
    against `ports[i % len(ports)]`, always the same instance, as behind a sticky
    balancer; `cpu_seconds` is every instance's together."""

    label: str
    ports: list[int]
    database: run.DatabaseCpu | None

    def cpu_seconds(self) -> float: ...

    def cpu_seconds_each(self) -> list[float]:
        """Each instance's CPU seconds, in the order of `ports`."""

    def pid(self) -> int | None: ...


class Generator:
    """The simulated users against one server, and the ramp that adds them."""

    def __init__(
        self,
        server: Server,
        team: Team,
        tokens: list[str],
        plan: Plan,
        seed: int,
        profile_dir: Path | None = None,
    ) -> None:
        self.server, self.team, self.tokens, self.plan = server, team, tokens, plan
        # Not `seed` itself: make_team draws the rooms' members from Random(seed), and
        # the same stream would shuffle exactly the first room's members to the end.
        self.rng = random.Random(f"generator-{seed}")
        # The order users join in: a random one, so every step's users are a sample.
        self.order = list(range(len(team.names)))
        self.rng.shuffle(self.order)
        self.stats = Stats()
        self.profile_dir = profile_dir
        self.joined = 0  # users playing now: those of self.order[:joined]
        self.started = 0  # users started so far (a user who left and joined again twice)
        self.teammates: list[Teammate] = []
        #: Paces the idle users' reads (`ReadTicker`), run beside them.
        self.ticker = ReadTicker()
        self.gc_pauses = GcPauses()

    async def run(self) -> list[dict[str, Any]]:
        """Ramp up step by step until one does not hold; every window's figures."""
        windows: list[dict[str, Any]] = []
        started = time.monotonic()
        ports = self.server.ports
        share = HTTP_CONNECTIONS // len(ports)
        pools = {port: HttpPool("127.0.0.1", port, share) for port in ports}
        try:
            # Holds every simulated user's task; cancelled when the ramp ends, before
            # the HTTP connections they share are closed.
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.ticker.run)
                with self.gc_pauses:
                    await self._ramp(nursery, pools, windows, started)
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                for pool in pools.values():
                    await pool.aclose()
        return windows

    async def _ramp(
        self,
        nursery: trio.Nursery,
        pools: dict[int, HttpPool],
        windows: list[dict[str, Any]],
        started: float,
    ) -> None:
        """The steps, until one does not hold (then the one halfway back, if asked)."""
        held = 0
        for users in self.plan.steps:
            if not await self._step(nursery, pools, users, windows, started):
                return
            if not windows[-1]["held"]:
                middle = (held + users) // 2
                if self.plan.refine and held < middle < users:
                    await self._step(nursery, pools, middle, windows, started)
                return
            held = users

    async def _step(
        self,
        nursery: trio.Nursery,
        pools: dict[int, HttpPool],
        users: int,
        windows: list[dict[str, Any]],
        started: float,
    ) -> bool:
        """Bring the users to `users`, let them settle, measure a window (added to
        `windows`); False, measuring nothing, if that would take the run past its budget."""
        plan = self.plan
        needed = max(0, users - self.joined) / plan.join_rate + plan.settle_s + plan.window_s
        if windows and time.monotonic() - started + needed > plan.budget_s:
            print(f"  budget reached before {users} users", file=sys.stderr)
            return False
        if users < self.joined:
            self._leave(users)
        await self._join(nursery, pools, users)
        gc_pauses.full_collection()  # the garbage of the join, before the window
        await trio.sleep(plan.settle_s)
        result = (await self._window(users)).judge()
        windows.append(result)
        _say(result)
        return True

    def _leave(self, users: int) -> None:
        """The users who joined last leave until `users` remain (their tasks cancelled:
        their connections close, and the rooms they were in hear they left)."""
        while self.joined > users:
            self.joined -= 1
            self.teammates.pop().scope.cancel()

    async def _join(self, nursery: trio.Nursery, pools: dict[int, HttpPool], users: int) -> None:
        """Start users until `users` have joined, `join_rate` a second, each on its
        instance (`Server`)."""
        interval = 1.0 / self.plan.join_rate
        next_at = trio.current_time()
        ports = self.server.ports
        while self.joined < users:
            i = self.order[self.joined]
            port = ports[i % len(ports)]
            self.started += 1
            teammate = Teammate(
                self.started,
                self.team.user_ids[i],
                self.team.names[i],
                self.tokens[i],
                [self.team.lobby_id, *(self.team.room_ids[k] for k in self.team.rooms_of[i])],
                pools[port],
                self.stats,
                random.Random(self.rng.random()),
                self.ticker,
                page_over_http=self.plan.page_over_http,
            )
            nursery.start_soon(self._play, teammate, port)
            self.teammates.append(teammate)
            self.joined += 1
            next_at += interval
            await trio.sleep_until(next_at)

    async def _window(self, users: int) -> Window:
        """Measure `window_s` seconds of the users playing."""
        database = self.server.database
        db_before = await trio.to_thread.run_sync(database.snapshot) if database else None
        # What finished before the window is not its, but the step's users' connects
        # (each user connects once, as it joins): they count with the window.
        joins = self.stats.take()
        skipped_before = self._skipped()
        kinds_before = dict(FRAME_KINDS)
        cpu_before, own_before = self.server.cpu_seconds(), time.process_time()
        each_before = self.server.cpu_seconds_each()
        self.gc_pauses.take()
        started = time.monotonic()
        profile = self._profile(users)
        # The generator's pauses are not the server's: no collection while measured, and
        # the window's garbage collected at once after it (gc_pauses).
        with gc_pauses.no_collections():
            await trio.sleep(self.plan.window_s)
            stats = self.stats.take()
            collections = self.gc_pauses.take()
            seconds = time.monotonic() - started
            server_cpu = self.server.cpu_seconds() - cpu_before
            each = [a - b for a, b in zip(self.server.cpu_seconds_each(), each_before, strict=True)]
            own_cpu = time.process_time() - own_before
            stats.frames += self._skipped() - skipped_before
            kinds = {k.decode(): n - kinds_before.get(k, 0) for k, n in FRAME_KINDS.items()}
        gc_pauses.full_collection()
        stats.latencies["connect"] += joins.latencies["connect"]
        stats.errors["connect"] += joins.errors["connect"]
        stats.error_samples += [e for e in joins.error_samples if e.startswith("connect")]
        db_after = await trio.to_thread.run_sync(database.snapshot) if database else None
        if profile is not None:
            await trio.to_thread.run_sync(profile.wait)
        db_cpu = None
        if db_before is not None and db_after is not None:
            db_cpu = sum(t - db_before.get(pid, 0.0) for pid, t in db_after.items())
        return Window(users, seconds, stats, server_cpu, own_cpu, db_cpu, each, collections, kinds)

    def _skipped(self) -> int:
        """Frames passed over unread so far, all users (`Socket.skipped`)."""
        return sum(t.socket.skipped for t in self.teammates if t.socket is not None)

    def _profile(self, users: int) -> subprocess.Popen[bytes] | None:
        """py-spy on the server for most of the window, if asked (`--profile DIR`)."""
        pid = self.server.pid()
        if self.profile_dir is None or pid is None:
            return None
        out = self.profile_dir / f"team-day-{self.server.label}-{users}.txt"
        return run.py_spy_record(pid, out, self.plan.window_s - 2, rate=50)

    async def _play(self, teammate: Teammate, port: int) -> None:
        """One user, on the instance at `port`, until it leaves (`_leave`) or the run
        ends. Runs until cancelled."""
        with teammate.scope:
            await self._connect_and_play(teammate, port)

    async def _connect_and_play(self, teammate: Teammate, port: int) -> None:
        """Connect, then act and think."""
        stats = self.stats
        plan = self.plan
        began = trio.current_time()
        try:
            with trio.fail_after(ACTION_TIMEOUT_S):
                await teammate.connect("127.0.0.1", port)
        except (ActionError, trio.TooSlowError) as error:
            stats.errors["connect"] += 1
            stats.error_samples.append(f"connect: {error!r}")
            return
        assert teammate.socket is not None
        try:
            # The user's reader; cancelled with the run (the socket is closed after).
            async with trio.open_nursery() as nursery:
                nursery.start_soon(teammate.read_frames)
                await self._timed(
                    "connect", teammate.enter(teammate.rng.choice(teammate.rooms)), began
                )
                while True:
                    await trio.sleep(think_time(teammate.rng, plan.think_min_s, plan.think_mean_s))
                    action = pick_action(teammate.rng, plan.mix)
                    await self._timed(action, teammate.play(action))
        finally:
            with trio.CancelScope(shield=True):
                await teammate.socket.aclose()

    async def _timed(self, action: str, play: Any, began: float | None = None) -> None:
        """Await `play`, recording its latency under `action` (from `began`, if given)."""
        stats = self.stats
        began = trio.current_time() if began is None else began
        try:
            with trio.fail_after(self.plan.action_timeout_s):
                played = await play
        except (ActionError, trio.TooSlowError) as error:
            stats.errors[action] += 1
            if len(stats.error_samples) < MAX_ERROR_SAMPLES:
                stats.error_samples.append(f"{action}: {error!r}"[:300])
            return
        if played is False:
            stats.skipped += 1
        else:
            stats.latencies[action].append(trio.current_time() - began)


def _say(result: dict[str, Any]) -> None:
    per = {k: v for k, v in result["per_action"].items() if k != "connect"}
    worst_avg = max(per, key=lambda k: per[k]["avg_ms"], default="")
    worst_p99 = max(per, key=lambda k: per[k]["p99_ms"], default="")
    collections = result["generator_gc"]
    print(
        f"  {result['users']} users: {result['actions_per_s']} actions/s, worst avg "
        f"{per[worst_avg]['avg_ms'] if per else math.nan} ms ({worst_avg}), worst p99 "
        f"{per[worst_p99]['p99_ms'] if per else math.nan} ms ({worst_p99}), "
        f"{result['errors']} errors, server CPU {result['server_cpu']}, generator CPU "
        f"{result['generator_cpu']} (collecting garbage {collections.get('total_ms')} ms,"
        f" at most {collections.get('longest_ms')} ms at once): "
        f"{'held' if result['held'] else 'did not hold'}",
        file=sys.stderr,
        flush=True,
    )


def run_backend(backend: str, team: Team, plan: Plan, a: argparse.Namespace, tmp: Path) -> dict:
    """Load the team into a fresh database of `backend`, start chat on it, ramp."""
    if backend == "sqlite":
        target = run.chat_target(tmp, "sqlite", None)
        started = time.monotonic()
        data_dir = Path(target.env["CHAT_DATA_DIR"])
        data_dir.mkdir(parents=True)
        load_sqlite(team, data_dir, target.env, run.PASSWORD, a.seed)
        return _measure(target, team, plan, a, time.monotonic() - started)
    with run.postgres_schema(a.database_url) as (url, database):
        target = run.chat_target(tmp, "postgres", url)
        target.database = database
        started = time.monotonic()
        load_postgres(team, url, target.env, run.PASSWORD, a.seed)
        return _measure(target, team, plan, a, time.monotonic() - started)


class Served:
    """A `run.Target`, or a `run.Cluster` of several instances, as the generator sees it."""

    def __init__(self, target: run.Target | run.Cluster) -> None:
        self.target, self.label, self.ports = target, target.label, target.ports
        self.database = target.database

    def cpu_seconds(self) -> float:
        return self.target.cpu_seconds()

    def cpu_seconds_each(self) -> list[float]:
        if isinstance(self.target, run.Cluster):
            return self.target.cpu_seconds_each()
        return [self.target.cpu_seconds()]

    def pid(self) -> int | None:
        """The (first) instance's process: the one py-spy samples."""
        target = self.target.members[0] if isinstance(self.target, run.Cluster) else self.target
        return target.process.pid if target.process else None


def _measure(
    target: run.Target | run.Cluster, team: Team, plan: Plan, a: argparse.Namespace, setup: float
) -> dict[str, Any]:
    tokens = team.tokens(run.SECRET)
    profile_dir = Path(a.profile) if a.profile else None
    if profile_dir:
        profile_dir.mkdir(parents=True, exist_ok=True)
    print(f"  {target.label}: team loaded in {setup:.1f} s", file=sys.stderr)
    costs: dict[str, dict[str, float]] = {}
    with target.running(), on_cpu(run.LOADGEN_CPU):
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
    run.backend_options(parser)
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
    if run.raise_fd_limit() < steps[-1] + run.FD_HEADROOM + HTTP_CONNECTIONS:
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
    out_dir = run.BENCH / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out_dir / f"team-day-{stamp}.json").write_text(json.dumps(results, indent=2))
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2))
    print(table(results))
    print(f"(raw results: bench/results/team-day-{stamp}.json)")


if __name__ == "__main__":
    main()
