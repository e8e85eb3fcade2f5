"""bench/run.py's scenarios: their shapes (FANOUT_100, LOW_RATE, ROOMS, FIXED ...), the
standard set, and `run_target`, which runs a set of them against one server, each on a
fresh process, through the measurements of message_runs, idle_runs and request_runs.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from idle_runs import crowd, idle
from message_runs import fanout, fanout_beside_rooms, rooms
from request_runs import auth, history, history_changed
from targets import Cluster, Target, Workers, tokens_for

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
        # 100,000 connections, each authenticated and in the lobby (chat: /ws,
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
        # edited and reacted to: what showing the present costs. chat only.
        Scenario("history-changed", "history_changed", {"count": 10, "seconds": min(seconds, 5.0)}),
        Scenario("auth", "auth", {"requests": 20}),
        # Activity frames: 1,000 room-protocol users in 50 rooms of 20, 200
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
