"""Mentions and activity frames across the instances of a cluster,
on the PostgreSQL bus and on Redis: a message sent on one instance is heard as activity
by its room's members connected to another, a mention as a mention; a room joined
through one instance is followed on the others."""

from __future__ import annotations

from cluster import Instance
from support import (
    JsonClient,
    account,
    answer_past_early_frames,
    create_room,
    http_client,
    open_clients,
)
from test_cluster import _enter, database_url, pair, redis

__all__ = ["database_url", "pair", "redis"]  # fixtures, shared with test_cluster.py


async def _watching(ws: JsonClient) -> JsonClient:
    """A connection in no room, answered once: it hears every room's activity."""
    assert (await answer_past_early_frames(ws, {"Type": "enter", "RoomID": 0}))["Type"] == "left"
    return ws


async def test_a_mention_on_one_instance_is_heard_on_the_other(pair: list[Instance]) -> None:
    a, b = pair
    alice, bob = await account(a.server, "alice"), await account(b.server, "bob")
    room_id = await create_room(a.server, alice, "general", bob)
    async with open_clients(a.server) as on_a, open_clients(b.server) as on_b:
        watcher = await _watching(await on_b.json("/ws", token=bob.token))
        sender = await on_a.json("/ws", token=alice.token)
        await _enter(sender, room_id)
        sent = await sender.request({"Type": "message", "Text": "@bob ping"})
        assert sent["Mentions"] == [bob.uid]
        assert await watcher.receive() == {
            "Type": "activity",
            "RoomID": room_id,
            "MessageID": sent["MessageID"],
            "Mention": True,
        }


async def test_a_room_joined_through_one_instance_is_followed_on_the_other(
    pair: list[Instance],
) -> None:
    a, b = pair
    alice, bob = await account(a.server, "alice"), await account(b.server, "bob")
    room_id = await create_room(a.server, alice, "general")
    async with open_clients(a.server) as on_a, open_clients(b.server) as on_b:
        watcher = await _watching(await on_b.json("/ws", token=bob.token))
        async with http_client(a.server) as client:
            joined = await client.put("/join", headers=bob.auth, json={"RoomID": room_id})
        assert joined.status_code == 200, joined.text
        assert (await watcher.receive())["Type"] == "joined"  # the notice crossed over
        sender = await on_a.json("/ws", token=alice.token)
        await _enter(sender, room_id)
        sent = await sender.request({"Type": "message", "Text": "welcome"})
        heard = await watcher.receive()
        assert (heard["Type"], heard["MessageID"]) == ("activity", sent["MessageID"])


async def test_a_public_room_created_on_one_instance_is_told_on_the_other(
    pair: list[Instance],
) -> None:
    a, b = pair
    alice, bob = await account(a.server, "alice"), await account(b.server, "bob")
    async with open_clients(b.server) as on_b:
        watcher = await _watching(await on_b.json("/ws", token=bob.token))
        room_id = await create_room(a.server, alice, "books")
        told = await watcher.receive()
        assert told == {"Type": "room-created", "RoomID": room_id, "Name": "books"}
