"""Network faults between an instance and its database or bus, made by the kernel
(tests/network_faults.py: namespaces, veth, iptables, packets held in an NFQUEUE), on
either bus.

Each test runs two `chat serve` instances, each in a namespace of its own, on a
PostgreSQL of the test's own (and a Redis of its own, for the Redis bus), with four
members chatting through the fault as a client should (tests/fault_workload.py: every
send with a `ClientMsgID`, every reconnection resumed with `SinceID`), two on each
instance. The fault hits the first instance's link alone; the clients' links stay up.
After each: every message confirmed to anyone is stored once and reached every member
once, in order; no instance exited or lost a task; `/readyz` said 503 while the instance
could not commit and 200 again within `READY_AGAIN_S` of the heal; no send waited longer
than `ANSWER_BOUND_S` for an answer.

The figures of each run (messages, lost, duplicated, recovery) are printed, and appended
as JSON lines to the file ``CHAT_TEST_FAULT_FIGURES`` names: docs/RELIABILITY.md's table
comes from them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from cluster import (
    LISTENING,
    Instance,
    RedisServer,
    instance_config,
    start_process,
    start_redis,
    wait_for_log,
)
from fault_workload import Chatter, Tally, tally
from network_faults import TEST_NETWORK, InstanceNetwork, instance_networks
from own_postgres import OwnPostgres, PostgresTemplate, own_postgres
from support import account, chat_environ, create_room, http_client, pg_query
from test_metrics import scrape, value

BUSES = ["postgres-bus", "redis-bus"]
METRICS_TOKEN = "network-faults-metrics-token"

#: A fault lasts this long (docs/RELIABILITY.md, "The scenarios"), and the instances run this
#: long before.
CUT_S = 10.0
DEGRADED_S = 30.0
BEFORE_S = 3.0
#: After the heal, the clients go on this long before they stop sending.
AFTER_S = 8.0
#: /readyz answers 200 again within this long of the heal.
READY_AGAIN_S = 5.0
#: The longest a send may wait for its confirmation, an error or a close: a commit the
#: partition holds (10 s, and 1 s to drop its connection) after a catch-up it holds (a
#: new connection 10 s, a statement 15 s, 1 s): docs/RELIABILITY.md, "Timeouts to know".
ANSWER_BOUND_S = 40.0
#: The longest a member of an instance cut from its bus waits for another's message: on
#: PostgreSQL's bus, the 10 s cut and then listening again (a silent LISTEN connection is
#: replaced within 5 s, `chat.bus.interface.SILENCE_S`, and retried with a back-off of at
#: most 5 s); Redis's instances read the table every 2 s.
BUS_SILENCE_S = 15.0 + 1.0
#: Once the clients stop sending, every member has every message within this long.
SETTLE_S = 20.0


@dataclass
class FaultyCluster:
    """Two instances in namespaces (`networks`), their database and bus, four members."""

    pg: OwnPostgres
    redis: RedisServer | None
    networks: list[InstanceNetwork]
    instances: list[Instance]
    chatters: list[Chatter] = field(default_factory=list)
    room: int = 0


async def start_in_namespace(network: InstanceNetwork, config: Any, log_path: Path) -> Instance:
    """`chat serve` with `config`, inside `network`'s namespace; once it listens."""
    started = await start_process(
        network.command(sys.executable, "-m", "chat", "serve"), log_path, env=chat_environ(config)
    )
    instance = Instance(started.process, log_path, config=config)
    match = await wait_for_log(instance, LISTENING, f"chat serve ({log_path.name})")
    instance.host, instance.port = match.group(1).decode(), int(match.group(2))
    return instance


@asynccontextmanager
async def faulty_cluster(
    tmp_path: Path, template: PostgresTemplate, bus: str
) -> AsyncIterator[FaultyCluster]:
    """Two instances, each in a namespace of its own, on a database (and bus) of the
    test's own, with four members in a room; everything stopped and removed at the end."""
    async with instance_networks(2, tmp_path) as networks, own_postgres(template) as pg:
        await pg.listen_also([n.database.outer_address for n in networks], str(TEST_NETWORK))
        redis = None
        if bus == "redis-bus":
            bind = ("127.0.0.1", *[n.bus.outer_address for n in networks])
            redis = await start_redis(tmp_path, bind=bind)
        instances: list[Instance] = []
        try:
            for number, network in enumerate(networks, start=1):
                config = instance_config(
                    tmp_path,
                    f"postgresql://postgres@{network.database.outer_address}:{pg.port}/postgres",
                    number,
                    host=network.client.inner_address,
                    bus_url=None if redis is None else (
                        f"redis://{network.bus.outer_address}:{redis.port}/0"
                    ),
                    metrics_token=METRICS_TOKEN,
                )  # fmt: skip
                log_path = tmp_path / f"instance-{number}.log"
                instances.append(await start_in_namespace(network, config, log_path))
            cluster = FaultyCluster(pg, redis, networks, instances)
            await _add_members(cluster)
            yield cluster
        finally:
            with trio.CancelScope(shield=True):
                for instance in instances:
                    await instance.stop()
                if redis is not None:
                    await redis.stop()
        for instance in instances:
            assert instance.process.returncode == 0, instance.log


async def _add_members(cluster: FaultyCluster) -> None:
    a, b = (instance.server for instance in cluster.instances)
    members = [await account(a, name) for name in ("a1", "a2", "b1", "b2")]
    cluster.room = await create_room(a, members[0], "faults", *members[1:])
    for member, server in zip(members, (a, a, b, b), strict=True):
        cluster.chatters.append(
            Chatter(member.name, member, f"ws://{server.host}:{server.port}", cluster.room,
                    ANSWER_BOUND_S)
        )  # fmt: skip


@dataclass
class Readiness:
    """Every /readyz answer of an instance during a scenario: (when, status)."""

    answers: list[tuple[float, int | None]] = field(default_factory=list)

    async def watch(self, instance: Instance) -> None:
        async with httpx.AsyncClient(base_url=instance.server.http, timeout=5.0) as client:
            while True:
                try:
                    status: int | None = (await client.get("/readyz")).status_code
                except httpx.HTTPError:
                    status = None
                # When it was answered: an answer joins the question under way, which a
                # heal may answer a moment later.
                self.answers.append((trio.current_time(), status))
                await trio.sleep(0.25)

    def between(self, start: float, end: float) -> list[int | None]:
        return [status for at, status in self.answers if start <= at < end]

    def ready_again(self, healed: float) -> float | None:
        """How long after `healed` /readyz said 200 for good (None: it did not)."""
        last_bad = max((at for at, s in self.answers if at >= healed and s != 200), default=None)
        after = [at for at, s in self.answers if s == 200 and (last_bad is None or at > last_bad)]
        after = [at for at in after if at >= healed]
        return None if not after else after[0] - healed


async def stored_rows(cluster: FaultyCluster) -> list[tuple[int, int, str | None]]:
    async with pg_query(cluster.pg.url()) as fetch:
        rows = await fetch(
            "SELECT coalesce(json_agg(json_build_array(id, sender_id, client_msg_id)), '[]')"
            " FROM messages WHERE room_id = $1",
            cluster.room,
        )
    return [tuple(row) for row in json.loads(rows)]  # type: ignore[misc]


@dataclass
class Outcome:
    """A scenario's figures."""

    tally: Tally
    readiness: Readiness
    cut_at: float
    healed_at: float
    ready_again_s: float | None
    sending_again_s: float | None


async def run_scenario(
    cluster: FaultyCluster,
    fault: Callable[[], Awaitable[None]],
    *,
    lasting: float,
    heal: Callable[[], Awaitable[None]] | None = None,
    listening: bool = False,
) -> Outcome:
    """Chat, inflict `fault` for `lasting` seconds, heal, chat on, then let every member
    catch up; what they saw, against the table. `listening`: the cut instance's members
    only listen during the fault (what reaches them then came by the bus)."""
    stop_sending = trio.Event()
    readiness = Readiness()
    cut = cluster.networks[0]
    # Holds the chatters and the readiness watcher; cancelled once every member has
    # every message (or the bound for that passed).
    async with trio.open_nursery() as nursery:
        for chatter in cluster.chatters:
            nursery.start_soon(chatter.run, stop_sending)
        nursery.start_soon(readiness.watch, cluster.instances[0])
        await trio.sleep(BEFORE_S)
        cut_at = trio.current_time()
        for chatter in cluster.chatters[:2]:
            chatter.holding = listening
        await fault()
        await trio.sleep(lasting)
        healed_at = trio.current_time()
        await (heal or cut.heal)()
        for chatter in cluster.chatters[:2]:
            chatter.holding = False
        await trio.sleep(AFTER_S)
        stop_sending.set()
        with trio.move_on_after(SETTLE_S):
            # Settled: no send waits for its answer (it could still commit), and every
            # member has every stored message, twice in a row.
            settled = 0
            while settled < 2:
                ids = {row[0] for row in await stored_rows(cluster)}
                quiet = not any(c.awaiting for c in cluster.chatters)
                if quiet and all(ids <= set(c.delivered) for c in cluster.chatters):
                    settled += 1
                else:
                    settled = 0
                await trio.sleep(0.5)
        nursery.cancel_scope.cancel()
    sent_again = [
        at
        for chatter in cluster.chatters[:2]
        for at in chatter.confirmed_at.values()
        if at > healed_at
    ]
    return Outcome(
        tally(cluster.chatters, await stored_rows(cluster)),
        readiness,
        cut_at,
        healed_at,
        readiness.ready_again(healed_at),
        min(sent_again) - healed_at if sent_again else None,
    )


async def check_instances(cluster: FaultyCluster) -> None:
    """Both instances still run, serve, and no task of theirs failed."""
    for instance in cluster.instances:
        assert instance.running, instance.log
        samples = await scrape(instance.server, METRICS_TOKEN)
        failures = {k: v for k, v in samples.items() if k[0] == "chat_task_failures_total" and v}
        assert not failures, (failures, instance.log)
        assert value(samples, "chat_cluster_instances") >= 1
        assert "Traceback" not in instance.log, instance.log
        async with http_client(instance.server) as client:
            assert (await client.get("/livez")).status_code == 200


def record(scenario: str, bus: str, cluster: FaultyCluster, outcome: Outcome) -> None:
    figures = {
        "scenario": scenario,
        "bus": bus,
        "messages": outcome.tally.stored,
        "confirmed": outcome.tally.confirmed,
        "lost": len(outcome.tally.lost),
        "duplicated": len(outcome.tally.duplicated),
        "ready_again_s": outcome.ready_again_s,
        "sending_again_s": outcome.sending_again_s,
        "longest_wait_s": max(c.longest_wait for c in cluster.chatters),
        "longest_lag_s": outcome.tally.longest_lag,
        "chatters": {
            c.name: [len(c.confirmed), c.errors, c.closes, round(c.longest_wait, 1)]
            for c in cluster.chatters
        },
        "errors": sum(c.errors for c in cluster.chatters),
        "reconnections": sum(c.closes for c in cluster.chatters),
        "what": outcome.tally.lost + outcome.tally.duplicated + outcome.tally.out_of_order,
    }
    print("network fault figures:", json.dumps(figures))
    path = os.environ.get("CHAT_TEST_FAULT_FIGURES")
    if path:
        with open(path, "a") as figures_file:
            figures_file.write(json.dumps(figures) + "\n")


def check_outcome(cluster: FaultyCluster, outcome: Outcome, *, unready: bool) -> None:
    """The invariants of the module docstring."""
    assert not outcome.tally.lost, outcome.tally.lost
    assert not outcome.tally.duplicated, outcome.tally.duplicated
    assert not outcome.tally.out_of_order, outcome.tally.out_of_order
    assert outcome.tally.confirmed > 0
    for chatter in cluster.chatters:
        assert not chatter.silences, (chatter.name, chatter.silences)
    if unready:
        # Once the probe's own bound has passed, the instance says it is not ready.
        during = outcome.readiness.between(outcome.cut_at + 3.0, outcome.healed_at)
        timeline = [(round(at - outcome.cut_at, 1), s) for at, s in outcome.readiness.answers]
        assert during and set(during) <= {503}, f"/readyz after the cut: {timeline}"
    assert outcome.ready_again_s is not None, outcome.readiness.answers
    assert outcome.ready_again_s <= READY_AGAIN_S, outcome.readiness.answers


async def judge(
    scenario: str, bus: str, cluster: FaultyCluster, outcome: Outcome, *, unready: bool
) -> None:
    """Record the scenario's figures, then check every invariant."""
    record(scenario, bus, cluster, outcome)
    await check_instances(cluster)
    check_outcome(cluster, outcome, unready=unready)


@pytest.mark.parametrize("bus", BUSES)
async def test_an_instance_cut_from_postgres_both_ways_recovers_losing_nothing(
    tmp_path: Path, own_postgres_template: PostgresTemplate, bus: str
) -> None:
    async with faulty_cluster(tmp_path, own_postgres_template, bus) as cluster:
        cut = cluster.networks[0]
        outcome = await run_scenario(cluster, lambda: cut.cut(cut.database), lasting=CUT_S)
        await judge("cut from PostgreSQL, both ways", bus, cluster, outcome, unready=True)


@pytest.mark.parametrize("bus", BUSES)
async def test_an_instance_whose_replies_from_postgres_are_lost_recovers_losing_nothing(
    tmp_path: Path, own_postgres_template: PostgresTemplate, bus: str
) -> None:
    async with faulty_cluster(tmp_path, own_postgres_template, bus) as cluster:
        cut = cluster.networks[0]
        outcome = await run_scenario(
            cluster, lambda: cut.cut(cut.database, requests=False), lasting=CUT_S
        )
        await judge("PostgreSQL's replies lost", bus, cluster, outcome, unready=True)


async def listening_port(cluster: FaultyCluster) -> int:
    """The local port of the first instance's LISTEN connection (the PostgreSQL bus)."""
    address = cluster.networks[0].database.inner_address
    async with pg_query(cluster.pg.url()) as fetchval:
        with trio.fail_after(10):
            while True:
                port = await fetchval(
                    "SELECT client_port FROM pg_stat_activity"
                    " WHERE application_name LIKE 'chat-bus %' AND client_addr = $1::inet",
                    address,
                )
                if port is not None:
                    return int(port)
                await trio.sleep(0.1)


@pytest.mark.parametrize("bus", BUSES)
async def test_an_instance_cut_from_its_bus_recovers_losing_nothing(
    tmp_path: Path, own_postgres_template: PostgresTemplate, bus: str
) -> None:
    async with faulty_cluster(tmp_path, own_postgres_template, bus) as cluster:
        cut = cluster.networks[0]
        if bus == "redis-bus":
            fault = lambda: cut.cut(cut.bus)  # noqa: E731
        else:
            # PostgreSQL's bus is the instance's LISTEN connection: that one is cut,
            # the pool's connections (its commits) stay up.
            port = await listening_port(cluster)
            fault = lambda: cut.cut_connection(port)  # noqa: E731
        outcome = await run_scenario(cluster, fault, lasting=CUT_S, listening=True)
        await judge("cut from the bus", bus, cluster, outcome, unready=False)
        assert set(outcome.readiness.between(outcome.cut_at, outcome.healed_at)) == {200}
        assert outcome.tally.longest_lag <= BUS_SILENCE_S


@pytest.mark.parametrize("bus", BUSES)
async def test_a_slow_lossy_link_to_postgres_loses_nothing(
    tmp_path: Path, own_postgres_template: PostgresTemplate, bus: str
) -> None:
    async with faulty_cluster(tmp_path, own_postgres_template, bus) as cluster:

        async def degrade() -> None:
            for network in cluster.networks:
                await network.degrade(network.database, delay_ms=200, jitter_ms=100, loss_percent=5)

        async def heal() -> None:
            for network in cluster.networks:
                await network.heal()

        outcome = await run_scenario(cluster, degrade, lasting=DEGRADED_S, heal=heal)
        await judge("200 ms +- 100 ms, 5% loss to PostgreSQL", bus, cluster, outcome, unready=False)


@pytest.mark.parametrize("bus", BUSES)
async def test_postgres_restarted_during_a_partition_loses_nothing(
    tmp_path: Path, own_postgres_template: PostgresTemplate, bus: str
) -> None:
    async with faulty_cluster(tmp_path, own_postgres_template, bus) as cluster:
        cut = cluster.networks[0]

        async def cut_and_restart() -> None:
            await cut.cut(cut.database)
            await trio.sleep(2.0)
            await cluster.pg.stop()
            await cluster.pg.start()

        outcome = await run_scenario(cluster, cut_and_restart, lasting=CUT_S)
        await judge("PostgreSQL restarted during a partition", bus, cluster, outcome, unready=True)
