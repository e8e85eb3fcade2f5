"""No client can stop an instance: the tasks of `serve`'s root nursery outlive
whatever clients send and whatever arrives on the bus.

The reproducer: a login with a name that Unicode normalisation expands 18-fold once made
a rate-limit key of 4,590 characters, shared over PostgreSQL's NOTIFY as a payload over
8,000 bytes, and the error ended the instance half a second after its 401. Each test runs
real `chat serve` processes: a cluster on either bus, or `--workers 2`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from cluster import Instance, RedisServer, open_cluster, open_workers
from support import STEP, JsonClient, Server, http_client, open_clients, pg_query
from test_cluster import database_url, redis  # noqa: F401 (fixtures: both buses)
from test_metrics import scrape, until
from trio_websocket import ConnectionClosed

from chat.app.limits.rate_limits import IN_FLIGHT_S, SHARE_EVERY_S
from chat.app.presence.tracker import HEARTBEAT_S

#: U+FDFA ARABIC LIGATURE SALLALLAHOU ALAYHE WASALLAM: 18 characters under NFKC.
EXPANDING = "\ufdfa" * 110
#: The longest name a login takes, expanding the most.
EXPANDING_MOST = "\ufdfa" * 255
#: The longest e-mail address a login takes, none of it ASCII.
EXPANDING_EMAIL = "\ufdfa" * 240 + "@x.example"
#: The longest user or room name, every character escaped as 12 bytes in JSON.
LONGEST_NAME = "\U00020000" * 254


def expanding_logins() -> list[tuple[str, str, dict[str, str]]]:
    """Every route that checks a password, with the most expanding name or e-mail."""
    logins = []
    for name in (EXPANDING, EXPANDING_MOST):
        logins += [
            ("POST", "/auth", {"name": name, "password": "whatever1"}),
            ("POST", "/api/login", {"username": name, "password": "whatever1"}),
            ("POST", "/v1/auth/", {"user_name": name, "password": "whatever1"}),
        ]
    logins += [
        ("POST", "/login", {"email": EXPANDING_EMAIL, "password": "whatever1"}),
        ("PUT", "/login", {"Email": EXPANDING_EMAIL, "Password": "whatever1"}),
    ]
    return logins


async def send_expanding_logins(server: Server) -> list[int]:
    """Send every expanding login to `server`; the statuses."""
    async with http_client(server) as client:
        return [
            (await client.request(method, path, json=body)).status_code
            for method, path, body in expanding_logins()
        ]


async def still_serving(server: Server) -> None:
    """`server` answers: its liveness check, and a login's refusal."""
    async with http_client(server) as client:
        assert (await client.get("/livez")).status_code == 200
        answer = await client.post("/auth", json={"name": "nobody", "password": "whatever1"})
        assert answer.status_code in (401, 429), answer.text


async def nothing_dropped_or_failed(server: Server) -> None:
    samples = await scrape(server)
    names = {name for name, _labels in samples}
    assert not [s for s in samples if s[0] == "chat_bus_events_dropped_total" and samples[s]]
    assert not [s for s in samples if s[0] == "chat_task_failures_total" and samples[s]]
    assert "chat_cluster_instances" in names


@pytest.fixture
async def pair(
    tmp_path: Path,
    database_url: str,  # noqa: F811 (fixture)
    redis: RedisServer | None,  # noqa: F811 (fixture)
) -> AsyncIterator[list[Instance]]:
    """Two instances with rate limits on: failed logins to an account from one address
    limited to 2 a minute, the rest generous."""
    bus_url = redis.url if redis is not None else None
    async with open_cluster(
        tmp_path,
        database_url,
        2,
        bus_url=bus_url,
        rate_limits=True,
        rate_login="1000/minute",
        rate_login_failures="2/minute",
        rate_account_failures="1000/hour",
        presence_timeout=3.0,
    ) as instances:
        yield instances


async def test_expanding_names_at_every_login_route_leave_both_instances_up(
    pair: list[Instance],
) -> None:
    a, b = pair
    statuses = await send_expanding_logins(a.server) + await send_expanding_logins(b.server)
    assert set(statuses) <= {401, 403, 429}, statuses  # 403: /v1/auth/'s refusal
    # Several rounds of sharing counts: the round that once ended the instance included.
    await trio.sleep(4 * (SHARE_EVERY_S + IN_FLIGHT_S))
    for instance in pair:
        assert instance.running, instance.log
        await still_serving(instance.server)
        await nothing_dropped_or_failed(instance.server)
        assert "Traceback" not in instance.log, instance.log


async def test_counts_under_an_expanded_key_reach_the_other_instance(
    pair: list[Instance],
) -> None:
    a, b = pair
    body = {"name": EXPANDING_MOST, "password": "whatever1"}
    async with http_client(a.server) as client:
        for _ in range(2):
            assert (await client.post("/auth", json=body)).status_code == 401
            # Until b has heard, a takes no more than its share (1 of the 2).
            await trio.sleep(2 * (SHARE_EVERY_S + IN_FLIGHT_S))
    async with http_client(b.server) as client:
        refused = await client.post("/auth", json=body)
    assert refused.status_code == 429, refused.text
    assert "failed logins to this account from your address" in refused.json()["error"]


async def test_expanding_names_leave_every_worker_up(tmp_path: Path, database_url: str) -> None:  # noqa: F811
    async with open_workers(tmp_path, database_url, 2, rate_limits=True) as workers:
        started = workers.pids()
        for _ in range(3):
            statuses = await send_expanding_logins(workers.server)
            assert set(statuses) <= {401, 403, 429}, statuses  # 403: /v1/auth/'s refusal
        await trio.sleep(4 * (SHARE_EVERY_S + IN_FLIGHT_S))
        await still_serving(workers.server)
        assert workers.pids() == started, workers.supervisor.log
        assert "exited" not in workers.supervisor.log, workers.supervisor.log
        assert "Traceback" not in workers.supervisor.log, workers.supervisor.log


# --- every bus event type, at its largest ---


async def register_longest(client: httpx.AsyncClient, last: str) -> tuple[int, str, str]:
    """A user with the longest name there is (in JSON); (id, name, token)."""
    name = LONGEST_NAME + last
    registered = await client.post("/api/reg", json={"username": name, "password": "wonderland"})
    assert registered.status_code == 201, registered.text
    token = registered.json()["token"]
    profile = await client.get("/profile", headers={"Authorization": f"Bearer {token}"})
    return profile.json()["UID"], name, token


async def next_of_type(ws: JsonClient, kind: str) -> dict[str, Any]:
    with trio.fail_after(STEP):
        while (frame := await ws.receive()).get("Type") != kind:
            pass
    return frame


async def test_every_bus_event_type_at_its_largest_reaches_the_other_instance(
    pair: list[Instance],
) -> None:
    a, b = pair
    async with http_client(a.server) as client:
        _x_id, x_name, x_token = await register_longest(client, "x")
        y_id, y_name, y_token = await register_longest(client, "y")
        room = await client.post(
            "/create-room",
            headers={"Authorization": f"Bearer {x_token}"},
            json={"Name": LONGEST_NAME + "r", "IsPrivate": True},
        )
        assert room.status_code == 201, room.text
        room_id = room.json()["RoomID"]
    async with open_clients(a.server) as on_a, open_clients(b.server) as on_b:
        x_on_a = await on_a.json("/ws", token=x_token)
        y_on_a = await on_a.json("/ws", token=y_token)
        y_on_b = await on_b.json("/ws", token=y_token)
        assert (await x_on_a.request({"Type": "enter", "RoomID": 1}))["Type"] == "entered"
        assert (await y_on_b.request({"Type": "enter", "RoomID": 1}))["Type"] == "entered"

        # presence (a change), then typing, with the longest names
        arrived = await next_of_type(x_on_a, "presence")
        while arrived["UID"] != y_id:
            arrived = await next_of_type(x_on_a, "presence")
        assert (arrived["Username"], arrived["Online"]) == (y_name, True)
        await y_on_b.send({"Type": "typing"})
        typing = await next_of_type(x_on_a, "typing")
        assert (typing["UID"], typing["Username"]) == (y_id, y_name)

        # user-notice: an invitation to the longest-named room by the longest-named user
        async with http_client(a.server) as client:
            invited = await client.put(
                "/invite",
                headers={"Authorization": f"Bearer {x_token}"},
                json={"RoomID": room_id, "UID": y_id},
            )
            assert invited.status_code == 200, invited.text
        notice = await next_of_type(y_on_b, "invited")
        assert (notice["Name"], notice["By"]["Username"]) == (LONGEST_NAME + "r", x_name)

        # presence snapshots: several heartbeats later, y is still online on a
        await trio.sleep(3 * min(HEARTBEAT_S, 3.0 / 3) + 0.5)
        async with http_client(a.server) as client:
            online = await client.get(
                "/room/1/online", headers={"Authorization": f"Bearer {x_token}"}
            )
        assert y_id in [person["UID"] for person in online.json()], online.text

        # tokens-revoked: logging out everywhere on b closes y's session on a
        async with http_client(b.server) as client:
            out = await client.post(
                "/logout-everywhere", headers={"Authorization": f"Bearer {y_token}"}
            )
            assert out.status_code in (200, 204), out.text
        with pytest.raises(ConnectionClosed) as closed, trio.fail_after(STEP):
            while True:
                await y_on_a.receive()
        assert closed.value.reason.code == 1008
    for instance in pair:
        await nothing_dropped_or_failed(instance.server)
        assert "Traceback" not in instance.log, instance.log


# --- an event that breaks its handler ---


async def publish_raw(url: str, bus: RedisServer | None, event: dict[str, Any]) -> None:
    """Put `event` on the bus of the chat at `url` (`bus`: its Redis, None for PostgreSQL's
    own) as another instance would, bypassing every check."""
    async with pg_query(url) as fetchval:
        cluster_id = await fetchval("SELECT id FROM cluster")
        payload = json.dumps({"cluster": cluster_id, "origin": "intruder", "event": event})
        if bus is None:
            await fetchval("SELECT pg_notify('chat_events', $1)", payload)
            return
    import coredis

    async with coredis.Redis.from_url(bus.url, decode_responses=True) as client:
        await client.publish(f"chat:{cluster_id}:events", payload)


async def test_an_event_that_breaks_its_handler_is_counted_and_the_instance_goes_on(
    pair: list[Instance],
    database_url: str,  # noqa: F811 (fixture)
    redis: RedisServer | None,  # noqa: F811 (fixture)
) -> None:
    # A user id of 1e999 is infinity to Python's JSON: int() of it raises OverflowError,
    # which no handler expects.
    breaking = {
        "type": "presence",
        "instance": "intruder",
        "snapshot": 1,
        "part": 0,
        "parts": 1,
        "online": [],
        "rooms": [],
    }
    raw = json.dumps(breaking).replace('"online": []', '"online": [[1e999, "x"]]')
    await publish_raw(database_url, redis, json.loads(raw))
    for instance in pair:
        await until(instance.server, "chat_task_failures_total", 1, task="bus event presence")
        assert instance.running
        await still_serving(instance.server)
        assert "bus event presence: handling an event from another instance failed" in instance.log
