"""Web Push in a cluster: three instances on one PostgreSQL database,
on either bus, push each message exactly once, never to a user online on any of them,
remove a subscription its push service says is gone, and refuse endpoints on other
hosts. The push service is the test's own (tests/push_service.py), on loopback."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
from cluster import Instance, RedisServer, open_cluster
from push_service import PushService, open_push_service
from support import (
    Account,
    Server,
    account,
    http_client,
    open_clients,
    select_rows,
    throwaway_postgres_schema,
)
from test_cluster import redis  # noqa: F401 (the fixture: each test on both buses)

from chat.app.people.pusher import REFRESH_S


@pytest.fixture
async def push() -> AsyncIterator[PushService]:
    async with open_push_service() as service:
        yield service


@pytest.fixture
async def trio_of_instances(
    tmp_path: Path,
    push: PushService,
    redis: RedisServer | None,  # noqa: F811 (the fixture imported above)
) -> AsyncIterator[list[Instance]]:
    """Three instances of one chat, pushing to the test's push service."""
    bus_url = redis.url if redis is not None else None
    async with (
        throwaway_postgres_schema() as database_url,
        open_cluster(
            tmp_path, database_url, 3, bus_url=bus_url, push_hosts=(push.host_entry,)
        ) as instances,
    ):
        yield instances


async def _call(server: Server, method: str, path: str, user: Account, body: Any = None) -> Any:
    async with http_client(server) as client:
        return await client.request(method, path, headers=user.auth, json=body)


async def _subscribe(server: Server, user: Account, push: PushService) -> Any:
    browser = push.browser()
    response = await _call(server, "POST", "/push/subscriptions", user, browser.subscription)
    assert response.status_code == 201, response.text
    return browser


async def _direct_room(server: Server, user: Account, other: Account) -> int:
    response = await _call(server, "GET", f"/dm/{other.uid}", user)
    assert response.status_code == 200, response.text
    return int(response.json()["RoomID"])


async def _post(server: Server, user: Account, room_id: int, text: str) -> int:
    response = await _call(server, "POST", f"/messages/{room_id}", user, {"Text": text})
    assert response.status_code == 201, response.text
    return int(response.json()["MessageID"])


async def _online_everywhere(instances: list[Instance], asker: Account, name: str) -> None:
    """Wait until every instance sees `name` online (presence travels by the bus)."""
    with trio.fail_after(10):
        for instance in instances:
            while True:
                found = await _call(instance.server, "GET", f"/users?prefix={name}", asker)
                if found.json()[0]["Online"]:
                    break
                await trio.sleep(0.05)


async def test_each_message_is_pushed_once_and_never_to_a_user_online_anywhere(
    trio_of_instances: list[Instance], push: PushService
) -> None:
    servers = [instance.server for instance in trio_of_instances]
    first = servers[0]
    alice, bob, carol = [await account(first, name) for name in ("alice", "bob", "carol")]
    push.expect_key = (await _call(first, "GET", "/push/key", alice)).json()["publicKey"]
    for server in servers[1:]:  # one key for the whole cluster
        assert (await _call(server, "GET", "/push/key", alice)).json()["publicKey"] == (
            push.expect_key
        )
    alices = await _subscribe(first, alice, push)
    carols = await _subscribe(servers[1], carol, push)
    to_alice = await _direct_room(first, bob, alice)
    to_carol = await _direct_room(first, bob, carol)
    # Every instance learns that someone subscribed: all three then vie for each message.
    await trio.sleep(REFRESH_S * 1.5)
    async with open_clients(servers[2]) as clients:
        online = await clients.json("/ws", token=carol.token)
        entered = await online.request({"Type": "enter", "RoomID": to_carol, "Presence": False})
        assert entered["Type"] == "entered", entered
        await _online_everywhere(trio_of_instances, bob, "carol")
        sent = []
        for i in range(9):
            server = servers[i % 3]
            sent.append(await _post(server, bob, to_alice, f"to alice {i}"))
            await _post(server, bob, to_carol, f"to carol {i}")
        await push.wait_for(9)
        await trio.sleep(2.0)  # any second push of a message, or one to carol, by now
    assert push.problems == []
    assert push.to(carols) == []
    pushed = Counter(payload["MessageID"] for payload in push.to(alices))
    assert pushed == Counter(sent)
    assert sorted(p["Text"] for p in push.to(alices)) == sorted(f"to alice {i}" for i in range(9))


async def test_a_gone_subscription_is_removed_and_other_hosts_refused_on_every_instance(
    trio_of_instances: list[Instance], push: PushService
) -> None:
    servers = [instance.server for instance in trio_of_instances]
    alice, bob = await account(servers[0], "alice"), await account(servers[0], "bob")
    browser = await _subscribe(servers[0], alice, push)
    push.answer(browser, 410)
    keys = browser.subscription["keys"]
    for server in servers:
        refused = await _call(
            server,
            "POST",
            "/push/subscriptions",
            alice,
            {"endpoint": "https://push.example.com/send/1", "keys": keys},
        )
        assert refused.status_code == 400, refused.text
        assert "CHAT_PUSH_HOSTS" in refused.json()["error"]
    await _post(servers[1], bob, await _direct_room(servers[1], bob, alice), "anyone there?")
    await push.wait_for_answers(1)
    config = trio_of_instances[0].config
    with trio.fail_after(5):
        while await select_rows(config, "SELECT endpoint FROM push_subscriptions"):  # noqa: ASYNC110
            await trio.sleep(0.05)
    await trio.sleep(1.0)
    assert push.answered == [(browser.token, 410)]  # once: no other instance tried
    assert push.problems == []
