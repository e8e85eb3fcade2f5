"""bench/team_day.py's simulated users against a real server: a short, bounded run with a
handful of users, every action played (the mix made even, and think times short, so
that each comes up dozens of times) and answered without an error, on each backend.

The figures themselves are the benchmark's (docs/PERFORMANCE.md, "A team's day"); this
checks that what it plays is what the server answers, so that a change to the protocol
that would make the benchmark count errors, or wait for frames that never come, shows
here first."""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

import pytest
import trio
from cluster import open_cluster
from support import chat_environ, start_server, throwaway_postgres_schema
from test_metrics import scrape

from chat.core.config import Config

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import team_day_generator  # noqa: E402
from gc_pauses import GcPauses, no_collections  # noqa: E402
from team_day_actions import ACTIONS, MIX  # noqa: E402
from team_day_team import load_postgres, load_sqlite, make_team  # noqa: E402

USERS = 12
WS_CONNECTIONS = "chat_websocket_connections"


class _InProcess:
    """The test's servers as the generator sees them: CPU is this process's (instances
    in processes of their own are not measured here)."""

    database = None

    def __init__(self, *ports: int) -> None:
        self.label, self.ports = "chat-test", list(ports)
        self.hosts = ["127.0.0.1"] * len(self.ports)

    def cpu_seconds(self) -> float:
        return time.process_time()

    def cpu_seconds_each(self) -> list[float]:
        return [time.process_time() / len(self.ports)] * len(self.ports)

    def pid(self) -> int | None:
        return None


def _even_mix_plan(window_s: float, **changes: object) -> team_day_generator.Plan:
    """One short window of every action, each as likely (dozens of each)."""
    plan = team_day_generator.Plan(
        steps=[USERS],
        join_rate=50.0,
        settle_s=1.0,
        window_s=window_s,
        budget_s=60.0,
        think_min_s=0.05,
        think_mean_s=0.15,
        mix=[(name, 1.0) for name, _ in MIX],
        refine=False,  # one window, whether or not it holds: latency is not checked here
        # Well inside the window: an action whose answer never comes is counted in it.
        action_timeout_s=4.0,
    )
    for name, setting in changes.items():
        setattr(plan, name, setting)
    return plan


@pytest.mark.parametrize("page_over_http", [False, True], ids=["page-entered", "page-over-http"])
async def test_every_action_is_played_and_answered(
    nursery: trio.Nursery, config: Config, page_over_http: bool
) -> None:
    team = make_team(USERS, rooms=4, seed=1)
    env = chat_environ(config)
    if config.database_url is None:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        await trio.to_thread.run_sync(load_sqlite, team, config.data_dir, env, "password", 1)
    else:
        url = config.database_url
        await trio.to_thread.run_sync(load_postgres, team, url, env, "password", 1)
    server = await start_server(nursery, config)
    plan = _even_mix_plan(8.0, page_over_http=page_over_http)
    tokens = team.tokens(config.jwt_secret)
    generator = team_day_generator.Generator(_InProcess(server.port), team, tokens, plan, seed=1)
    with trio.fail_after(60):
        (window,) = await generator.run()
    assert window["errors"] == 0, window["error_samples"]
    played = {action: figures["count"] for action, figures in window["per_action"].items()}
    assert played["connect"] == USERS
    assert all(played.get(action, 0) > 0 for action in ACTIONS), played
    # The generator's own pauses are measured, so its stalls can be told from the server's.
    assert set(window["generator_gc"]) == {"collections", "total_ms", "longest_ms"}
    assert window["generator_gc"]["longest_ms"] <= window["generator_gc"]["total_ms"]


@pytest.mark.cluster
async def test_users_are_spread_over_the_instances_and_answered_on_each(tmp_path: Path) -> None:
    team = make_team(USERS, rooms=4, seed=1)
    async with throwaway_postgres_schema() as url:
        env = chat_environ(Config(database_url=url))
        await trio.to_thread.run_sync(load_postgres, team, url, env, "password", 1)
        async with open_cluster(tmp_path, url, 2, host="127.0.0.1") as instances:
            plan = _even_mix_plan(6.0)
            tokens = team.tokens(instances[0].config.jwt_secret)
            ports = [instance.port for instance in instances]
            generator = team_day_generator.Generator(_InProcess(*ports), team, tokens, plan, seed=1)
            connected: list[float] = []

            async def count_connections() -> None:
                await trio.sleep(USERS / plan.join_rate + plan.settle_s)  # all joined
                for instance in instances:
                    samples = await scrape(instance.server)
                    connected.append(
                        sum(n for (name, _), n in samples.items() if name == WS_CONNECTIONS)
                    )

            with trio.fail_after(60):
                async with trio.open_nursery() as counting:
                    counting.start_soon(count_connections)
                    (window,) = await generator.run()
    assert connected == [USERS / 2, USERS / 2]  # user i on instance i % 2
    assert window["errors"] == 0, window["error_samples"]
    played = {action: figures["count"] for action, figures in window["per_action"].items()}
    assert all(played.get(action, 0) > 0 for action in ACTIONS), played
    assert len(window["server_cpu_each"]) == 2


def test_the_generators_collections_are_timed_while_measured() -> None:
    with GcPauses() as pauses:
        gc.collect()
        gc.collect()
    gc.collect()  # after: not counted
    taken = pauses.take()
    assert taken["collections"] == 2
    assert 0 < taken["longest_ms"] <= taken["total_ms"]
    assert pauses.take()["collections"] == 0


def test_no_collection_happens_in_a_window_and_the_collector_is_on_again_after() -> None:
    with pytest.raises(RuntimeError), no_collections(), GcPauses() as pauses:
        assert not gc.isenabled()
        garbage: list[object] = []
        for _ in range(50_000):  # far past the young generation's threshold
            cycle: list[object] = []
            cycle.append(cycle)
            garbage.append([cycle])
        raise RuntimeError("the window ends early")
    assert gc.isenabled()
    assert pauses.take()["collections"] == 0
