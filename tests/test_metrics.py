"""``GET /metrics``: Prometheus's text format, each family moving when its event happens,
on both backends; the token that guards it; the bus lag between two instances."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families
from support import (
    STEP,
    Server,
    account,
    create_room,
    entered,
    evict_a_slow_consumer,
    http_client,
    open_clients,
    pg_query,
    pg_session,
    register,
    server_config,
    start_server,
    wait_for_a_waiter_on_the_id_lock,
)
from test_workers import Workers, workers  # noqa: F401 (a fixture)

from chat.core.config import Config, ConfigError, load
from chat.server.version import build_info

TOKEN = "scrape-" + "t" * 30

#: (metric name, sorted label pairs) -> value, as one scrape showed it.
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(server: Server, token: str | None = None) -> Samples:
    """One scrape of `server`'s metrics, parsed."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    async with http_client(server) as client:
        response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 if the scrape did not show it (a labelled counter not yet used)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def until(server: Server, name: str, expected: float, **labels: str) -> None:
    """Scrape until the sample reads `expected` (what the server does after a client's
    last frame, such as ending its session, happens a moment later)."""
    with trio.fail_after(STEP):
        # Polling the server: nothing in this process to wait on.
        while value(await scrape(server), name, **labels) != expected:  # noqa: ASYNC110
            await trio.sleep(0.02)


# --- the format and the token ---


async def test_metrics_are_served_in_the_prometheus_text_format(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config)
    async with http_client(server) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = {f.name: f.type for f in text_string_to_metric_families(response.text)}
    assert families == families | {
        "chat_websocket_connections": "gauge",
        "chat_messages_stored": "counter",
        "chat_deliveries": "counter",
        "chat_slow_consumers_evicted": "counter",
        "chat_rate_limit_refusals": "counter",
        "chat_database_connections_in_use": "gauge",
        "chat_commit_seconds": "histogram",
        "chat_history_seconds": "histogram",
        "chat_bus_lag_seconds": "histogram",
        "chat_http_requests": "counter",
        "chat_instance_info": "gauge",  # an Info, in the classic text format
        "process_cpu_seconds": "counter",
    }


async def test_with_a_metrics_token_a_scrape_without_it_gets_401(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(metrics_token=TOKEN))
    async with http_client(server) as client:
        response = await client.get("/metrics")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "CHAT_METRICS_TOKEN" in response.json()["error"]


async def test_with_a_metrics_token_a_scrape_with_a_wrong_one_gets_401(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(metrics_token=TOKEN))
    async with http_client(server) as client:
        for authorization in (f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN, "Bearer"):
            response = await client.get("/metrics", headers={"Authorization": authorization})
            assert response.status_code == 401, authorization
            assert response.headers["www-authenticate"].startswith("Bearer")


async def test_with_a_metrics_token_a_scrape_with_it_gets_the_metrics(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(metrics_token=TOKEN))
    samples = await scrape(server, TOKEN)
    assert value(samples, "chat_database_connections") == config.db_pool_size


def test_the_metrics_token_is_kept_out_of_the_configs_repr() -> None:
    assert TOKEN not in repr(Config(metrics_token=TOKEN))


def test_a_metrics_token_that_cannot_go_in_a_header_is_refused_naming_the_setting() -> None:
    for bad in ("two words", "caf\u00e9", "tab\there"):
        with pytest.raises(ConfigError, match="CHAT_METRICS_TOKEN"):
            load({"CHAT_METRICS_TOKEN": bad})
    assert load({"CHAT_METRICS_TOKEN": ""}).metrics_token is None


# --- each family moves when its event happens ---


async def test_websocket_connections_are_counted_by_protocol_while_open(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config)
    alice = await account(server, "alice")
    async with open_clients(server) as clients:
        await clients.talker()
        await clients.talker()
        await clients.json("/ws", token=alice.token)
        samples = await scrape(server)
        assert value(samples, "chat_websocket_connections", protocol="tokentalker") == 2
        assert value(samples, "chat_websocket_connections", protocol="rooms") == 1
        assert value(samples, "chat_websocket_connections", protocol="support") == 0
    await until(server, "chat_websocket_connections", 0, protocol="tokentalker")
    await until(server, "chat_websocket_connections", 0, protocol="rooms")


async def test_messages_stored_and_deliveries_are_counted(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config)
    async with open_clients(server) as clients:
        listeners = [await clients.talker() for _ in range(2)]
        sender = await clients.talker(token=await register(server, "alice"))
        for i in range(3):
            await sender.say(f"hello {i}")
        for listener in listeners:
            for i in range(3):
                assert (await listener.receive())["message"] == f"hello {i}"
        samples = await scrape(server)
    assert value(samples, "chat_messages_stored_total") == 3
    # Two listeners each got three; the sender is skipped ("to everyone else").
    assert value(samples, "chat_deliveries_total") == 6


async def test_changes_to_messages_are_counted_by_kind(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config)
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    async with open_clients(server) as clients:
        ws = await entered(clients, alice, room_id)
        sent = await ws.request({"Type": "message", "Text": "x"})
        for frame in (
            {"Type": "edit", "Text": "y"},
            {"Type": "edit", "Text": "y"},  # the same text: nothing changed, not counted
            {"Type": "react", "Emoji": "👍"},
            {"Type": "unreact", "Emoji": "👍"},
            {"Type": "delete"},
        ):
            await ws.request({**frame, "MessageID": sent["MessageID"]})
        samples = await scrape(server)
    assert value(samples, "chat_message_changes_total", kind="edited") == 1
    assert value(samples, "chat_message_changes_total", kind="reactions") == 2
    assert value(samples, "chat_message_changes_total", kind="deleted") == 1


async def test_a_slow_consumer_evicted_is_counted(nursery: trio.Nursery, config: Config) -> None:
    server = await start_server(nursery, config.replace(client_queue=8, write_timeout=30.0))
    async with open_clients(server) as clients:
        closed = await evict_a_slow_consumer(clients)
        assert closed.reason.code == 1008
        samples = await scrape(server)
    assert value(samples, "chat_slow_consumers_evicted_total") == 1


async def test_http_requests_are_counted_by_route_template_and_status(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config)
    alice = await account(server, "alice")
    async with http_client(server) as client:
        assert (await client.get(f"/profile/{alice.uid}")).status_code == 200
        assert (await client.get("/profile/999999")).status_code == 404
        assert (await client.get("/no/such/thing")).status_code == 404
        assert (await client.get("/no/such/other/thing")).status_code == 404
    samples = await scrape(server)
    assert value(samples, "chat_http_requests_total", route="/profile/<uid>", status="200") == 1
    assert value(samples, "chat_http_requests_total", route="/profile/<uid>", status="404") == 1
    assert value(samples, "chat_http_requests_total", route="unmatched", status="404") == 2
    # Never the raw path: a client cannot make a time series per URL it invents.
    routes = {dict(labels).get("route") for name, labels in samples if "http_requests" in name}
    assert not {r for r in routes if r and ("999999" in r or "such" in r)}


async def test_http_request_latency_is_observed_by_route_template_and_method(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config)
    alice = await account(server, "alice")
    async with http_client(server) as client:
        for _ in range(2):
            assert (await client.get(f"/profile/{alice.uid}")).status_code == 200
        assert (await client.head("/livez")).status_code == 200
        assert (await client.get("/no/such/thing")).status_code == 404
    samples = await scrape(server)
    latency = "chat_http_request_duration_seconds"
    assert value(samples, f"{latency}_count", route="/profile/<uid>", method="GET") == 2
    assert 0 < value(samples, f"{latency}_sum", route="/profile/<uid>", method="GET") < STEP
    assert value(samples, f"{latency}_count", route="/livez", method="HEAD") == 1
    assert value(samples, f"{latency}_count", route="unmatched", method="GET") == 1
    routes = {dict(labels).get("route") for name, labels in samples if name.startswith(latency)}
    assert not {r for r in routes if r and (str(alice.uid) in r or "such" in r)}


async def test_a_method_of_a_clients_own_is_labelled_other(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config)
    async with http_client(server) as client:
        for method in ("BREW", "X-" + "A" * 40):
            assert (await client.request(method, "/livez")).status_code == 405
    samples = await scrape(server)
    latency = "chat_http_request_duration_seconds_count"
    methods = {dict(labels)["method"] for name, labels in samples if name == latency}
    assert methods == {"other"}


async def test_the_local_bus_is_shown_connected(nursery: trio.Nursery, tmp_path: Path) -> None:
    samples = await scrape(await start_server(nursery, server_config(tmp_path, None)))
    assert value(samples, "chat_bus_connected", bus="local") == 1
    assert value(samples, "chat_bus_connections_lost_total", bus="local") == 0


async def test_the_database_is_shown_up_while_it_answers(
    nursery: trio.Nursery, config: Config
) -> None:
    samples = await scrape(await start_server(nursery, config))
    assert value(samples, "chat_database_up") == 1


async def test_the_files_directorys_free_space_and_size_are_shown(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config)
    samples = await scrape(server)
    usage = shutil.disk_usage(config.data_dir / "files")
    assert value(samples, "chat_files_storage_size_bytes") == usage.total
    # Others write to the same disk meanwhile: the same figure, within a hundredth.
    assert abs(value(samples, "chat_files_storage_free_bytes") - usage.free) < usage.total / 100


async def test_rate_limit_refusals_are_counted_by_limit(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(rate_limits=True, rate_register="1/minute"))
    await register(server, "first", "first-password")
    async with http_client(server) as client:
        refused = await client.post(
            "/api/reg", json={"username": "second", "password": "second-password"}
        )
    assert refused.status_code == 429
    samples = await scrape(server)
    assert value(samples, "chat_rate_limit_refusals_total", limit="register") == 1
    assert value(samples, "chat_rate_limit_refusals_total", limit="login") == 0


async def test_each_commit_and_each_history_query_is_timed(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config)
    before = await scrape(server)
    async with open_clients(server) as clients:
        sender = await clients.talker(token=await register(server, "alice"))
        await sender.say("timed")
        await sender.stored()  # a history request, after the commit
    samples = await scrape(server)
    for family in ("chat_commit_seconds", "chat_history_seconds"):
        assert value(before, f"{family}_count") == 0
        assert value(samples, f"{family}_count") == 1
        assert value(samples, f"{family}_sum") > 0
        assert value(samples, f"{family}_bucket", le="+Inf") == 1


async def test_the_instance_answering_a_scrape_is_named(
    nursery: trio.Nursery, config: Config
) -> None:
    first = await start_server(nursery, config)
    second = await start_server(nursery, config.replace(data_dir=config.data_dir / "second"))
    instances = set()
    for server in (first, second):
        info = [labels for name, labels in await scrape(server) if name == "chat_instance_info"]
        assert len(info) == 1
        instances.add(dict(info[0])["instance"])
    assert len(instances) == 2  # each server has a registry of its own


async def test_the_code_an_instance_runs_is_shown_as_chat_build_info(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config)
    build = await trio.to_thread.run_sync(build_info)
    samples = await scrape(server)
    shown = {labels: v for (name, labels), v in samples.items() if name == "chat_build_info"}
    assert shown == {(("revision", build.revision), ("version", build.version)): 1.0}


# --- PostgreSQL: the pool, and a cluster's bus ---


async def test_database_connections_in_use_counts_a_commit_waiting_on_a_lock(
    nursery: trio.Nursery, postgres_config: Config
) -> None:
    server = await start_server(nursery, postgres_config)
    url = postgres_config.database_url
    assert url is not None
    token = await register(server, "alice")
    async with open_clients(server) as clients:
        sender = await clients.talker(token=token)
        async with pg_session(url) as execute, pg_query(url) as query:
            # Another writer holds the message id lock in an open transaction ...
            await execute("BEGIN")
            await execute(
                "INSERT INTO messages (room_id, sender_id, body)"
                " SELECT id, (SELECT min(id) FROM users), 'held' FROM rooms WHERE kind = 'lobby'"
            )
            # ... so the server's commit waits for it, on one of its pool's connections.
            await sender.say("waiting")
            await wait_for_a_waiter_on_the_id_lock(query)
            samples = await scrape(server)
            assert value(samples, "chat_database_connections_in_use") >= 1
            await execute("ROLLBACK")
        await sender.stored()
    await until(server, "chat_database_connections_in_use", 0)


async def test_the_postgres_bus_is_shown_connected(
    nursery: trio.Nursery, postgres_config: Config
) -> None:
    samples = await scrape(await start_server(nursery, postgres_config))
    assert value(samples, "chat_bus_connected", bus="postgres") == 1


async def test_bus_lag_is_observed_for_each_message_another_instance_stored(
    nursery: trio.Nursery, postgres_config: Config
) -> None:
    a = await start_server(nursery, postgres_config)
    b = await start_server(
        nursery, postgres_config.replace(data_dir=postgres_config.data_dir / "b")
    )
    token = await register(a, "alice")
    async with open_clients(a) as on_a, open_clients(b) as on_b:
        listener_b = await on_b.talker()
        sender_a = await on_a.talker(token=token)
        for i in range(2):
            await sender_a.say(f"across {i}")
        for i in range(2):
            assert (await listener_b.receive())["message"] == f"across {i}"
    on_b_samples = await scrape(b)
    assert value(on_b_samples, "chat_bus_lag_seconds_count") == 2
    assert 0 < value(on_b_samples, "chat_bus_lag_seconds_sum") < STEP
    # The instance that stored them published them itself: no lag to measure there.
    assert value(await scrape(a), "chat_bus_lag_seconds_count") == 0


async def test_with_workers_each_scrape_is_one_workers_figures_named_by_its_instance(
    workers: Workers,  # noqa: F811 (test_workers' fixture, imported above)
) -> None:
    seen: set[str] = set()
    # Each scrape is a new connection, which the kernel hands to either worker.
    with trio.fail_after(STEP):
        while len(seen) < 2:
            samples = await scrape(workers.server)
            [labels] = [labels for name, labels in samples if name == "chat_instance_info"]
            seen.add(dict(labels)["instance"])


async def test_activity_frames_are_counted(nursery: trio.Nursery, config: Config) -> None:
    server = await start_server(nursery, config)
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    async with open_clients(server) as clients:
        watcher = await clients.json("/ws", token=bob.token)
        await watcher.request({"Type": "enter", "RoomID": 0})
        ws = await entered(clients, alice, room_id)
        await ws.request({"Type": "message", "Text": "x"})
        assert (await watcher.receive())["Type"] == "activity"
        samples = await scrape(server)
    assert value(samples, "chat_activity_frames_total") == 1
    assert value(samples, "chat_activity_batches_dropped_total") == 0
