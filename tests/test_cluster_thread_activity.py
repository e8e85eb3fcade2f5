"""A thread's followers hear of its replies across the instances of a cluster, on the
PostgreSQL bus and on Redis: a reply posted through one instance is an activity frame
naming the thread (``ThreadID``, its root) on a follower's connection to another, and
once they stop following it, through either instance, nothing (the instance that knew
their follow forgets it: at once, or on the other's ``thread-follows`` event)."""

from __future__ import annotations

from typing import Any

import pytest
from cluster import Instance
from support import Account, Server, account, create_room, http_client, open_clients
from test_activity import _nothing_within
from test_cluster import database_url, pair, redis
from test_cluster_activity import _watching

__all__ = ["database_url", "pair", "redis"]  # fixtures, shared with test_cluster.py


async def _call(server: Server, user: Account, method: str, path: str, body: Any = None) -> Any:
    async with http_client(server) as client:
        response = await client.request(method, path, headers=user.auth, json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()


@pytest.mark.parametrize("unfollowing_on", ["the follower's instance", "the other instance"])
async def test_a_reply_on_one_instance_is_told_to_a_follower_on_the_other_until_unfollowed(
    pair: list[Instance], unfollowing_on: str
) -> None:
    a, b = pair[0].server, pair[1].server
    alice, bob = await account(a, "alice"), await account(a, "bob")
    room_id = await create_room(a, bob, "ops", alice)
    root = (await _call(a, bob, "POST", f"/messages/{room_id}", {"Text": "deploy?"}))["MessageID"]
    followed = await _call(b, alice, "PUT", f"/threads/{root}/follow")
    assert followed == {"ThreadID": root, "RoomID": room_id, "Following": True}
    async with open_clients(b) as on_b:
        watcher = await _watching(await on_b.json("/ws", token=alice.token))
        reply = {"Text": "on it", "ThreadID": root}
        sent = await _call(a, bob, "POST", f"/messages/{room_id}", reply)
        heard = await watcher.receive()
        told = ("activity", room_id, sent["MessageID"], root)
        assert (heard["Type"], heard["RoomID"], heard["MessageID"], heard["ThreadID"]) == told
        assert heard["Mention"] is False
        through = b if unfollowing_on == "the follower's instance" else a
        unfollowed = await _call(through, alice, "DELETE", f"/threads/{root}/follow")
        assert unfollowed["Following"] is False
        await _call(a, bob, "POST", f"/messages/{room_id}", {"Text": "done", "ThreadID": root})
        # Past the room's window (1 s), when a follower would have been told at its end.
        await _nothing_within(watcher, 2.5)
