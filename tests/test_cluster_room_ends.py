"""Archiving and deleting a room in a cluster, on both buses: made through one instance,
each is told to members connected to the other, and a send through the other instance to
an archived room is refused at once (the store checks every message against the room)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
from cluster import Instance
from support import Account, JsonClient, http_client, open_clients
from test_cluster import _enter, database_url, pair, redis
from test_cluster_moderation import ops_room
from test_room_moderation import ok, ready, receive_type

__all__ = ["database_url", "pair", "redis"]  # the fixtures, shared with test_cluster.py


@asynccontextmanager
async def in_room_on(b: Instance, member: Account, room_id: int) -> AsyncIterator[JsonClient]:
    """A connection of `member`'s to instance `b`, in room `room_id`."""
    async with open_clients(b.server) as on_b:
        ws = await on_b.json("/ws", token=member.token)
        await _enter(ws, room_id)
        yield ws


async def test_an_archiving_through_one_instance_is_told_on_the_other(
    pair: list[Instance],
) -> None:
    a, b = pair
    owner, member, room_id = await ops_room(a)
    async with open_clients(b.server) as on_b:
        ws = await ready(await on_b.json("/ws", token=member.token))
        await ok(a.server, owner, "PUT", f"/room/{room_id}/archive", {"Archived": True})
        with trio.fail_after(10):
            frame = await receive_type(ws, "room")
        assert frame["RoomID"] == room_id and frame["Archived"] is True


async def test_a_send_through_another_instance_to_an_archived_room_is_refused(
    pair: list[Instance],
) -> None:
    a, b = pair
    owner, member, room_id = await ops_room(a)
    async with in_room_on(b, member, room_id) as ws:
        await ok(a.server, owner, "PUT", f"/room/{room_id}/archive", {"Archived": True})
        # At once, whether or not the room frame has crossed the bus yet.
        answer = await ws.request({"Type": "message", "Text": "hello?", "ClientMsgID": "x"})
        while answer.get("Type") == "room":
            answer = await ws.receive()
        assert answer == {
            "Type": "error",
            "Error": f"room {room_id} is archived: it is read-only until its owners unarchive it",
            "ClientMsgID": "x",
        }
    async with http_client(b.server) as client:
        sent = await client.post(f"/messages/{room_id}", headers=member.auth, json={"Text": "hi"})
    assert sent.status_code == 409


async def test_a_deletion_through_one_instance_takes_the_room_away_on_the_other(
    pair: list[Instance],
) -> None:
    a, b = pair
    owner, member, room_id = await ops_room(a)
    async with in_room_on(b, member, room_id) as ws:
        await ok(a.server, owner, "DELETE", f"/room/{room_id}", {"Confirm": "ops"})
        with trio.fail_after(10):
            frame = await receive_type(ws, "room-deleted")
        assert frame == {"Type": "room-deleted", "RoomID": room_id}
        answer = await ws.request({"Type": "message", "Text": "anyone?"})
        assert answer["Type"] == "error" and answer["Error"].startswith("enter a room first")
    async with http_client(b.server) as client:
        rooms = await client.get("/rooms", headers=member.auth)
    assert room_id not in rooms.json()
