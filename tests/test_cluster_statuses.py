"""Statuses on a cluster (chat/app/people/statuses.py): a status set through one instance
reaches the connections of another (the ``status`` frame, and the presence frames it
sends), and one whose Until passes is ended on every instance, the frame saying so; on
PostgreSQL's bus and on Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import trio
from cluster import Instance
from support import STEP, Account, JsonClient, Server, account, http_client, open_clients
from test_cluster import database_url, pair, redis
from test_cluster_activity import _watching

__all__ = ["database_url", "pair", "redis"]  # fixtures, shared with test_cluster.py

LOBBY = 1


async def _set(server: Server, user: Account, body: dict[str, Any]) -> dict[str, Any]:
    async with http_client(server) as client:
        response = await client.put("/me/status", headers=user.auth, json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def _next(ws: JsonClient, kind: str, **fields: object) -> dict[str, Any]:
    """The next frame of `kind` (with `fields`), past any other."""
    with trio.fail_after(STEP):
        while True:
            frame = await ws.receive()
            if frame["Type"] == kind and all(frame.get(k) == v for k, v in fields.items()):
                return frame


async def test_a_status_set_on_one_instance_reaches_a_socket_on_the_other(
    pair: list[Instance],
) -> None:
    a, b = pair
    alice, bob = await account(a.server, "alice"), await account(b.server, "bob")
    async with open_clients(b.server) as on_b:
        watcher = await _watching(await on_b.json("/ws", token=bob.token))
        status = await _set(a.server, alice, {"Emoji": "🌴", "Text": "On holiday"})
        frame = await _next(watcher, "status", UID=alice.uid)
        assert frame["Status"] == status
        async with http_client(a.server) as client:
            await client.delete("/me/status", headers=alice.auth)
        assert (await _next(watcher, "status", UID=alice.uid))["Status"] is None
    async with http_client(b.server) as client:
        profile = (await client.get(f"/profile/{alice.uid}")).json()
    assert profile["Status"] is None


async def test_a_status_ends_on_every_instance_when_its_until_passes(
    pair: list[Instance],
) -> None:
    a, b = pair
    alice, bob = await account(a.server, "alice"), await account(b.server, "bob")
    async with open_clients(a.server) as on_a, open_clients(b.server) as on_b:
        on_b_watcher = await _watching(await on_b.json("/ws", token=bob.token))
        on_a_watcher = await _watching(await on_a.json("/ws", token=bob.token))
        until = (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()
        await _set(a.server, alice, {"Text": "brb", "Presence": "dnd", "Until": until})
        for watcher in (on_a_watcher, on_b_watcher):
            assert (await _next(watcher, "status", UID=alice.uid))["Status"]["Text"] == "brb"
        for watcher in (on_a_watcher, on_b_watcher):
            ended = await _next(watcher, "status", UID=alice.uid)
            assert ended == {"Type": "status", "UID": alice.uid, "Status": None}
    for instance in pair:
        async with http_client(instance.server) as client:
            profile = (await client.get(f"/profile/{alice.uid}")).json()
        assert profile["Status"] is None


async def test_presence_on_another_instance_carries_the_status(pair: list[Instance]) -> None:
    a, b = pair
    alice, bob = await account(a.server, "alice"), await account(b.server, "bob")
    async with open_clients(a.server) as on_a, open_clients(b.server) as on_b:
        watcher = await _watching(await on_b.json("/ws", token=bob.token))
        status = await _set(a.server, alice, {"Emoji": "🤒", "Text": "Sick", "Presence": "away"})
        await _next(watcher, "status", UID=alice.uid)  # B knows it now
        entered = await watcher.request({"Type": "enter", "RoomID": LOBBY, "Presence": True})
        assert entered["Type"] == "entered", entered
        alices = await on_a.json("/ws", token=alice.token)
        await alices.request({"Type": "enter", "RoomID": LOBBY, "Presence": False})
        arrived = await _next(watcher, "presence", UID=alice.uid, Online=True)
    assert arrived["Status"] == status
