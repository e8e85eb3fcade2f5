"""A team's day on boxes: do two instances, each in a box of its own, hold more users?

The boxes are bench/capacity.py's (a CPU cgroup of `--instance-cpu` per instance, and a
private PostgreSQL in one of `--database-cpu`); the users are bench/team_day.py's, user i
always on instance i % n (as behind a sticky balancer), played from this process pinned
to the load generator's CPU, outside the groups. For each instance count the team is
written into a fresh schema and the ramp climbs `--steps-per-box` times the count; the
figure is the most users held within Mattermost's thresholds (team_day.py says which),
and two boxes' against one's.

    sudo python bench/capacity_team_day.py [--instances 1,2] [--steps-per-box 600,900]

Root only, as bench/capacity.py (whose boxes and clean-up it shares: groups and network
namespaces removed, the database stopped, however the run ends). bench/README.md,
"Capacity per box".
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import targets
import trio
from capacity import (
    CpuGroup,
    box_options,
    box_quotas,
    boxed_cluster,
    cpu_groups,
    idle_at_end,
    private_postgres,
    report_runs,
)
from network_boxes import NetworkBox, network_boxes
from search import on_cpu
from team_day import ROOMS, Served
from team_day_generator import Generator, Plan
from team_day_team import load_postgres, make_team

#: Users per box at each step (times the instance count): around where one box of 0.3 CPU
#: was expected to stop (one instance on a whole core held 4,750 on SQLite).
STEPS_PER_BOX = (600, 900, 1200, 1500, 1800, 2100, 2400, 2700)
#: Shorter than team_day.py's (20 s, 60 s): a ladder per instance count, on one machine.
SETTLE_S, WINDOW_S = 10.0, 30.0
#: Seconds of ramp per instance count at most.
BUDGET_S = 900.0


def ramp(
    count: int,
    boxes: list[CpuGroup],
    links: Sequence[NetworkBox],
    base_url: str,
    steps: list[int],
    a: argparse.Namespace,
) -> dict:
    """The team written into a fresh schema, `count` boxed instances on it, the ramp."""
    team = make_team(steps[-1], ROOMS, a.seed)
    plan = Plan(steps, a.join_rate, SETTLE_S, WINDOW_S, BUDGET_S)
    with tempfile.TemporaryDirectory() as tmp_name, targets.postgres_schema(base_url) as schema:
        url, database = schema
        cluster = boxed_cluster(Path(tmp_name), url, boxes, links)
        cluster.database = database
        started = time.monotonic()
        load_postgres(team, url, cluster.members[0].env, targets.PASSWORD, a.seed)
        setup = time.monotonic() - started
        print(f"  {count} instance(s): team loaded in {setup:.0f} s", file=sys.stderr, flush=True)
        with cluster.running(), on_cpu(targets.LOADGEN_CPU):
            throttled = [box.throttled_seconds() for box in boxes]  # after the start-up
            generator = Generator(Served(cluster), team, team.tokens(targets.SECRET), plan, a.seed)
            windows = trio.run(generator.run)
    held = sorted(w["users"] for w in windows if w["held"])
    return {
        "held_users": held[-1] if held else 0,
        "windows": windows,
        # Over the whole ramp, from the instances' start: which box waited for quota.
        "throttled_s": {
            box.path.name: round(box.throttled_seconds() - before, 1)
            for box, before in zip(boxes, throttled, strict=True)
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    box_options(parser, "1,2")
    parser.add_argument(
        "--steps-per-box",
        default=",".join(map(str, STEPS_PER_BOX)),
        help="users per instance at each step, comma-separated",
    )
    parser.add_argument("--join-rate", type=float, default=25.0, help="users joining a second")
    parser.add_argument("--seed", type=int, default=27)
    a = parser.parse_args()
    counts, quotas = box_quotas(a)
    per_box = sorted(int(n) for n in a.steps_per_box.split(","))
    targets.raise_fd_limit(max(counts) * per_box[-1] + 2 * targets.FD_HEADROOM)
    report: dict[str, Any] = {
        "network_namespaces": a.namespaces,
        "instance_cpu": a.instance_cpu,
        "database_cpu": a.database_cpu,
        "settle_s": SETTLE_S,
        "window_s": WINDOW_S,
        "runs": {},
    }
    with (
        cpu_groups(quotas) as groups,
        network_boxes(max(counts) if a.namespaces else 0) as links,
        private_postgres(groups["database"], links) as base_url,
    ):
        for count in counts:
            boxes = [groups[f"instance-{i + 1}"] for i in range(count)]
            steps = [users * count for users in per_box]
            report["runs"][str(count)] = ramp(count, boxes, links, base_url, steps, a)
        report["groups_idle_at_end"] = idle_at_end(groups)
    # Every window's figures are in the file; stdout has the runs' summaries.
    report_runs(report, "held_users", "capacity-team-day", hidden="windows")


if __name__ == "__main__":
    main()
