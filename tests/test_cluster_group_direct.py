"""Group direct conversations across instances, on both buses: made through one instance,
their members connected to the other hear of them, get their messages live and hear of
their changes of members."""

from __future__ import annotations

from typing import Any

from cluster import Instance
from support import (
    Account,
    JsonClient,
    account,
    answer_past_early_frames,
    http_client,
    open_clients,
)
from test_cluster import database_url, pair, redis

__all__ = ["database_url", "pair", "redis"]  # the fixtures, shared with test_cluster.py


async def _ok(instance: Instance, who: Account, method: str, path: str, body: Any = None) -> Any:
    async with http_client(instance.server) as client:
        response = await client.request(method, path, headers=who.auth, json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def _enter(ws: JsonClient, room_id: int) -> None:
    frame = {"Type": "enter", "RoomID": room_id, "Presence": False}
    entered = await answer_past_early_frames(ws, frame)
    assert entered["Type"] == "entered", entered


async def test_a_conversation_made_on_one_instance_reaches_a_member_on_the_other_live(
    pair: list[Instance],
) -> None:
    a, b = pair
    ann, bob, cat = [await account(a.server, name) for name in ("ann", "bob", "cat")]
    async with open_clients(a.server) as on_a, open_clients(b.server) as on_b:
        bob_b = await on_b.json("/ws", token=bob.token)
        made = await _ok(a, ann, "POST", "/dm", {"UIDs": [bob.uid, cat.uid]})
        room_id = made["RoomID"]
        invited = await bob_b.receive()
        assert (invited["Type"], invited["RoomID"], invited["By"]["UID"]) == (
            "invited",
            room_id,
            ann.uid,
        )
        await _enter(bob_b, room_id)
        ann_a = await on_a.json("/ws", token=ann.token)
        await _enter(ann_a, room_id)
        await ann_a.send({"Type": "message", "Text": "from a"})
        assert (await ann_a.receive())["Text"] == "from a"
        heard = await bob_b.receive()
        assert (heard["Type"], heard["RoomID"], heard["Text"]) == ("message", room_id, "from a")


async def test_a_member_elsewhere_on_the_other_instance_hears_of_its_activity(
    pair: list[Instance],
) -> None:
    a, b = pair
    ann, bob, cat = [await account(a.server, name) for name in ("ann", "bob", "cat")]
    async with open_clients(a.server) as on_a, open_clients(b.server) as on_b:
        cat_b = await on_b.json("/ws", token=cat.token)
        await _enter(cat_b, (await _ok(b, cat, "GET", "/rooms"))[0])  # the lobby
        room_id = (await _ok(a, ann, "POST", "/dm", {"UIDs": [bob.uid, cat.uid]}))["RoomID"]
        assert (await cat_b.receive())["Type"] == "invited"
        ann_a = await on_a.json("/ws", token=ann.token)
        await _enter(ann_a, room_id)
        await ann_a.send({"Type": "message", "Text": "anyone?"})
        sent = await ann_a.receive()
        activity = await cat_b.receive()
        assert (activity["Type"], activity["RoomID"], activity["MessageID"]) == (
            "activity",
            room_id,
            sent["MessageID"],
        )


async def test_members_on_the_other_instance_hear_of_an_addition_and_a_leave(
    pair: list[Instance],
) -> None:
    a, b = pair
    ann, bob, cat, dan = [await account(a.server, n) for n in ("ann", "bob", "cat", "dan")]
    room_id = (await _ok(a, ann, "POST", "/dm", {"UIDs": [bob.uid, cat.uid]}))["RoomID"]
    async with open_clients(b.server) as on_b:
        bob_b = await on_b.json("/ws", token=bob.token)
        await _enter(bob_b, room_id)
        await _ok(a, ann, "PUT", f"/dm/{room_id}/members/{dan.uid}")
        everyone = sorted(u.uid for u in (ann, bob, cat, dan))
        assert await bob_b.receive() == {"Type": "members", "RoomID": room_id, "UIDs": everyone}
        await _ok(a, cat, "DELETE", f"/room/{room_id}/members/me")
        left = [uid for uid in everyone if uid != cat.uid]
        assert await bob_b.receive() == {"Type": "members", "RoomID": room_id, "UIDs": left}
