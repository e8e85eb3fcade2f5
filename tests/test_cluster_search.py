"""Search in a cluster: every instance searches the one database, so a message
confirmed by one instance is found at once through any other, an edit made through one
is what the others find, and a search's rate limit counts on every instance."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cluster import Instance, open_cluster
from support import account, create_room, http_client, open_clients
from test_cluster import _enter, database_url
from test_search import search, searching, texts

__all__ = ["database_url"]  # the fixture, shared with tests/test_cluster.py


@pytest.fixture
async def pair(tmp_path: Path, database_url: str) -> AsyncIterator[list[Instance]]:
    async with open_cluster(tmp_path, database_url, 2) as instances:
        yield instances


async def test_a_message_confirmed_on_one_instance_is_found_on_the_other(
    pair: list[Instance],
) -> None:
    a, b = pair
    alice, bob = await account(a.server, "alice"), await account(b.server, "bob")
    room_id = await create_room(a.server, alice, "ops", bob)
    async with open_clients(a.server) as on_a:
        ws = await on_a.json("/ws", token=alice.token)
        await _enter(ws, room_id)
        for n in range(3):
            confirmed = await ws.request({"Type": "message", "Text": f"incident {n} resolved"})
            (found, *_) = await search(b.server, bob, "incident")
            assert found["MessageID"] == confirmed["MessageID"]
            assert found["Snippet"][1] == "incident"


async def test_an_edit_through_one_instance_is_what_the_other_finds(
    pair: list[Instance],
) -> None:
    a, b = pair
    alice = await account(a.server, "alice")
    room_id = await create_room(a.server, alice, "ops")
    async with http_client(a.server) as client:
        sent = await client.post(
            f"/messages/{room_id}", headers=alice.auth, json={"Text": "standup at nine"}
        )
        message_id = sent.json()["MessageID"]
        edited = await client.patch(
            f"/messages/{room_id}/{message_id}", headers=alice.auth, json={"Text": "standup at ten"}
        )
        assert edited.status_code == 200
    assert texts(await search(b.server, alice, "standup")) == ["standup at ten"]
    assert await search(b.server, alice, "nine") == []


async def test_the_search_limit_counts_on_every_instance(tmp_path: Path, database_url: str) -> None:
    async with open_cluster(
        tmp_path, database_url, 2, rate_limits=True, rate_searches="4/minute"
    ) as (a, b):
        alice = await account(a.server, "alice")
        statuses = []
        for n in range(8):
            instance = a if n % 2 else b
            statuses.append((await searching(instance.server, alice, "anything")).status_code)
    assert statuses.count(200) == 4, statuses
    assert statuses.count(429) == 4, statuses
