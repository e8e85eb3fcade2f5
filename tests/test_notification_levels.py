"""Per-room notification levels: ``PUT /room/{roomID}/notifications``
``{"Level": "all" | "mentions" | "none"}``; until set, "all" for direct conversations
(and support threads) and "mentions" for group rooms and the lobby; read one room's with
``GET /room/{roomID}/notifications`` and every room's in ``GET /rooms/details``
("Notifications")."""

from __future__ import annotations

from typing import Any

import pytest
from support import Account, Clients, Server, account, create_room, http_client
from test_support import support_client


async def _details(server: Server, user: Account) -> dict[int, dict[str, Any]]:
    async with http_client(server) as client:
        response = await client.get("/rooms/details", headers=user.auth)
    assert response.status_code == 200, response.text
    return {room["RoomID"]: room for room in response.json()}


async def _set(server: Server, user: Account, room_id: int, level: object) -> Any:
    async with http_client(server) as client:
        return await client.put(
            f"/room/{room_id}/notifications", headers=user.auth, json={"Level": level}
        )


async def test_until_set_group_rooms_and_the_lobby_notify_mentions_and_direct_ones_all(
    server: Server,
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    group = await create_room(server, alice, "team")
    async with http_client(server) as client:
        direct = (await client.get(f"/dm/{bob.uid}", headers=alice.auth)).json()["RoomID"]
    levels = {
        room_id: room["Notifications"] for room_id, room in (await _details(server, alice)).items()
    }
    lobby = min(levels)
    assert levels == {lobby: "mentions", group: "mentions", direct: "all"}


async def test_until_set_a_support_thread_notifies_all(server: Server, clients: Clients) -> None:
    user = await account(server, "user")
    support, _ = await support_client(clients, user)
    await support.request({"method": "message.send", "params": ["help"], "id": 2})
    details = await _details(server, user)
    (thread,) = [room for room in details.values() if room["Notifications"] == "all"]
    assert thread["RoomID"] != min(details)


async def test_a_level_set_is_read_back_in_the_room_list_and_on_its_own(server: Server) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "team")
    answer = await _set(server, alice, room_id, "all")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"RoomID": room_id, "Level": "all"}
    assert (await _details(server, alice))[room_id]["Notifications"] == "all"
    async with http_client(server) as client:
        one = await client.get(f"/room/{room_id}/notifications", headers=alice.auth)
    assert one.json() == {"RoomID": room_id, "Level": "all"}


async def test_a_level_can_be_changed_again(server: Server) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "team")
    for level in ("none", "mentions", "all", "none"):
        assert (await _set(server, alice, room_id, level)).json()["Level"] == level
    assert (await _details(server, alice))[room_id]["Notifications"] == "none"


async def test_levels_are_each_users_own(server: Server) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "team", bob)
    await _set(server, alice, room_id, "none")
    assert (await _details(server, bob))[room_id]["Notifications"] == "mentions"


async def test_the_lobby_takes_a_level_too(server: Server) -> None:
    alice = await account(server, "alice")
    lobby = min(await _details(server, alice))
    assert (await _set(server, alice, lobby, "none")).status_code == 200
    assert (await _details(server, alice))[lobby]["Notifications"] == "none"


@pytest.mark.parametrize("level", ["loud", "ALL", "", None, 1, ["all"]])
async def test_anything_but_the_three_levels_is_refused(server: Server, level: object) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "team")
    answer = await _set(server, alice, room_id, level)
    assert answer.status_code == 400
    assert answer.json() == {"error": 'field "Level" must be "all", "mentions" or "none"'}
    assert (await _details(server, alice))[room_id]["Notifications"] == "mentions"


async def test_only_members_have_a_level_in_a_room(server: Server) -> None:
    alice, eve = await account(server, "alice"), await account(server, "eve")
    room_id = await create_room(server, alice, "team", private=True)
    assert (await _set(server, eve, room_id, "all")).status_code == 403
    async with http_client(server) as client:
        read = await client.get(f"/room/{room_id}/notifications", headers=eve.auth)
        unknown = await client.get("/room/987654/notifications", headers=eve.auth)
        anonymous = await client.get(f"/room/{room_id}/notifications")
    assert (read.status_code, unknown.status_code, anonymous.status_code) == (403, 404, 401)
