"""The simulated users of a team's day and the ramp that adds them (bench/team_day.py
runs it; bench/capacity_team_day.py too, against boxes): each step's users join, settle,
and a window is measured and judged against Mattermost's thresholds."""

from __future__ import annotations

import math
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import gc_pauses
import message_runs
import targets
import trio
from gc_pauses import GcPauses
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
from team_day_team import Team

#: Mattermost's thresholds: every action's average and p99 latency, the error share.
AVG_LIMIT_S, P99_LIMIT_S, ERROR_LIMIT = 0.100, 2.0, 0.00025
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
    """What the generator needs of the server it plays against (`targets.Target` and
    `targets.Cluster` have it; a test's in-process server can stand in). User i plays
    against `ports[i % len(ports)]` (at `hosts[i % len(ports)]`), always the same
    instance, as behind a sticky balancer; `cpu_seconds` is every instance's together."""

    label: str
    hosts: list[str]
    ports: list[int]
    database: targets.DatabaseCpu | None

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
        self._host_of = dict(zip(server.ports, server.hosts, strict=True))

    async def run(self) -> list[dict[str, Any]]:
        """Ramp up step by step until one does not hold; every window's figures."""
        windows: list[dict[str, Any]] = []
        started = time.monotonic()
        ports = self.server.ports
        share = HTTP_CONNECTIONS // len(ports)
        hosts = self.server.hosts
        pools = {port: HttpPool(host, port, share) for host, port in zip(hosts, ports, strict=True)}
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
        say(result)
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
        return message_runs.py_spy_record(pid, out, self.plan.window_s - 2, rate=50)

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
                await teammate.connect(self._host_of[port], port)
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


def say(result: dict[str, Any]) -> None:
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
