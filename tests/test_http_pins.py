"""Pinned messages over HTTP: ``PUT`` and ``DELETE /messages/{roomID}/{messageID}/pin``
(moderators and owners only, at most 50 per room, idempotent) and ``GET
/room/{roomID}/pins`` (members), with the errors of each; a pin reaches /ws clients as a
``pins`` frame, and a resume brings it."""

from __future__ import annotations

from typing import Any

import httpx
from support import Account, Clients, JsonClient, Server, account, create_room, http_client
from test_metrics import scrape, value
from test_room_moderation import receive_type, team

from chat.app.messages.pins import MAX_PINS


async def _call(server: Server, who: Account, method: str, path: str) -> httpx.Response:
    async with http_client(server) as client:
        return await client.request(method, path, headers=who.auth)


async def _post(server: Server, who: Account, room_id: int, text: str) -> int:
    async with http_client(server) as client:
        response = await client.post(f"/messages/{room_id}", headers=who.auth, json={"Text": text})
    assert response.status_code == 201, response.text
    return int(response.json()["MessageID"])


async def _pins(server: Server, who: Account, room_id: int) -> list[dict[str, Any]]:
    response = await _call(server, who, "GET", f"/room/{room_id}/pins")
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_moderator_pins_and_the_list_shows_the_message_as_history_does(
    server: Server,
) -> None:
    _owner, mod, member, room_id = await team(server)
    message_id = await _post(server, member, room_id, "the runbook is at /docs/runbook")
    pinned = await _call(server, mod, "PUT", f"/messages/{room_id}/{message_id}/pin")
    assert pinned.status_code == 200, pinned.text
    assert pinned.json() == {"RoomID": room_id, "MessageID": message_id, "Pinned": True}
    (pin,) = await _pins(server, member, room_id)
    async with http_client(server) as client:
        history = await client.get(f"/messages/{room_id}", headers=member.auth)
    assert pin["Message"] == history.json()[0]
    assert pin["PinnedBy"] == {"UID": mod.uid, "Username": "mo"}
    assert pin["PinnedAt"].endswith("Z")


async def test_pins_are_listed_newest_pin_first(server: Server) -> None:
    owner, _mod, member, room_id = await team(server)
    first = await _post(server, member, room_id, "first")
    second = await _post(server, member, room_id, "second")
    for message_id in (second, first):
        await _call(server, owner, "PUT", f"/messages/{room_id}/{message_id}/pin")
    assert [p["Message"]["MessageID"] for p in await _pins(server, member, room_id)] == [
        first,
        second,
    ]


async def test_a_member_who_is_not_a_moderator_cannot_pin(server: Server) -> None:
    _owner, _mod, member, room_id = await team(server)
    message_id = await _post(server, member, room_id, "mine")
    for method in ("PUT", "DELETE"):
        refused = await _call(server, member, method, f"/messages/{room_id}/{message_id}/pin")
        assert (refused.status_code, refused.json()["error"]) == (
            403,
            f"only a moderator or owner of room {room_id} may pin messages",
        )
    assert await _pins(server, member, room_id) == []


async def test_a_stranger_can_neither_pin_nor_read_the_pins(server: Server) -> None:
    owner, _mod, _member, room_id = await team(server)
    stranger = await account(server, "stranger")
    message_id = await _post(server, owner, room_id, "ours")
    pinning = await _call(server, stranger, "PUT", f"/messages/{room_id}/{message_id}/pin")
    reading = await _call(server, stranger, "GET", f"/room/{room_id}/pins")
    assert (pinning.status_code, reading.status_code) == (403, 403)
    assert reading.json()["error"] == f"you are not a member of room {room_id}"


async def test_the_pin_past_the_limit_is_refused_with_the_limit(server: Server) -> None:
    owner, _mod, _member, room_id = await team(server)
    ids = [await _post(server, owner, room_id, f"m{i}") for i in range(MAX_PINS + 1)]
    for message_id in ids[:MAX_PINS]:
        pinned = await _call(server, owner, "PUT", f"/messages/{room_id}/{message_id}/pin")
        assert pinned.status_code == 200, pinned.text
    refused = await _call(server, owner, "PUT", f"/messages/{room_id}/{ids[-1]}/pin")
    assert (refused.status_code, refused.json()["error"]) == (
        409,
        f"room {room_id} has {MAX_PINS} pinned messages already, the most it may have:"
        " unpin one first",
    )
    await _call(server, owner, "DELETE", f"/messages/{room_id}/{ids[0]}/pin")
    again = await _call(server, owner, "PUT", f"/messages/{room_id}/{ids[-1]}/pin")
    assert again.status_code == 200, again.text


async def test_pinning_twice_and_unpinning_twice_change_nothing(server: Server) -> None:
    owner, _mod, _member, room_id = await team(server)
    message_id = await _post(server, owner, room_id, "once")
    path = f"/messages/{room_id}/{message_id}/pin"
    answers = [(await _call(server, owner, m, path)).json()["Pinned"] for m in ("PUT", "PUT")]
    assert answers == [True, True]
    assert len(await _pins(server, owner, room_id)) == 1
    answers = [(await _call(server, owner, m, path)).json()["Pinned"] for m in ("DELETE",) * 2]
    assert answers == [False, False]
    assert await _pins(server, owner, room_id) == []


async def test_unknown_deleted_and_other_rooms_messages_are_404(server: Server) -> None:
    owner, _mod, _member, room_id = await team(server)
    other_room = await create_room(server, owner, "elsewhere")
    elsewhere = await _post(server, owner, other_room, "not here")
    deleted = await _post(server, owner, room_id, "gone")
    await _call(server, owner, "DELETE", f"/messages/{room_id}/{deleted}")
    answers = {}
    for name, message_id in (("unknown", 999999), ("elsewhere", elsewhere), ("deleted", deleted)):
        response = await _call(server, owner, "PUT", f"/messages/{room_id}/{message_id}/pin")
        answers[name] = (response.status_code, response.json()["error"])
    assert answers == {
        "unknown": (404, f"no message with MessageID 999999 in room {room_id}"),
        "elsewhere": (404, f"no message with MessageID {elsewhere} in room {room_id}"),
        "deleted": (404, f"message {deleted} was deleted"),
    }


async def test_deleting_a_pinned_message_takes_it_out_of_the_list(server: Server) -> None:
    owner, _mod, member, room_id = await team(server)
    message_id = await _post(server, member, room_id, "oops")
    await _call(server, owner, "PUT", f"/messages/{room_id}/{message_id}/pin")
    deleted = await _call(server, member, "DELETE", f"/messages/{room_id}/{message_id}")
    assert deleted.status_code == 204
    assert await _pins(server, member, room_id) == []


async def test_a_direct_conversation_has_no_pins(server: Server) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    async with http_client(server) as client:
        found = await client.get(f"/dm/{bob.uid}", headers=alice.auth)
    room_id = found.json()["RoomID"]
    message_id = await _post(server, alice, room_id, "just us")
    refused = await _call(server, alice, "PUT", f"/messages/{room_id}/{message_id}/pin")
    assert (refused.status_code, refused.json()["error"]) == (
        409,
        f"room {room_id} is a direct conversation: nobody may pin messages there",
    )


async def _entered(clients: Clients, who: Account, room_id: int, **extra: Any) -> JsonClient:
    ws = await clients.json("/ws", token=who.token)
    await ws.send({"Type": "enter", "RoomID": room_id, "Presence": False, **extra})
    await receive_type(ws, "entered")
    return ws


async def test_members_in_the_room_receive_pins_frames(server: Server, clients: Clients) -> None:
    owner, _mod, member, room_id = await team(server)
    message_id = await _post(server, member, room_id, "pin me")
    ws = await _entered(clients, member, room_id)
    await _call(server, owner, "PUT", f"/messages/{room_id}/{message_id}/pin")
    pinned = await receive_type(ws, "pins")
    await _call(server, owner, "DELETE", f"/messages/{room_id}/{message_id}/pin")
    unpinned = await receive_type(ws, "pins")
    assert {k: pinned[k] for k in ("RoomID", "MessageID", "Pinned")} == {
        "RoomID": room_id,
        "MessageID": message_id,
        "Pinned": True,
    }
    assert (unpinned["Pinned"], unpinned["Seq"] > pinned["Seq"] > message_id) == (False, True)


async def test_a_resume_brings_the_pins_missed(server: Server, clients: Clients) -> None:
    owner, _mod, member, room_id = await team(server)
    message_id = await _post(server, member, room_id, "pin me while away")
    await _call(server, owner, "PUT", f"/messages/{room_id}/{message_id}/pin")
    ws = await _entered(clients, member, room_id, SinceID=message_id)
    frame = await receive_type(ws, "pins")
    assert (frame["MessageID"], frame["Pinned"]) == (message_id, True)


async def test_pins_and_unpins_are_counted_as_changes_of_kind_pins(server: Server) -> None:
    owner, _mod, _member, room_id = await team(server)
    message_id = await _post(server, owner, room_id, "count me")
    path = f"/messages/{room_id}/{message_id}/pin"
    for method in ("PUT", "PUT", "DELETE"):  # the second changes nothing: not counted
        await _call(server, owner, method, path)
    samples = await scrape(server)
    assert value(samples, "chat_message_changes_total", kind="pins") == 2
