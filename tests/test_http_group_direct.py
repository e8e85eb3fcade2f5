"""Group direct conversations over HTTP and /ws: POST /dm, PUT /dm/{roomID}/members/{UID},
leaving with DELETE /room/{roomID}/members/me; the errors and the limits, and who reads
and hears what."""

from __future__ import annotations

from typing import Any

import httpx
from support import Account, Clients, Server, account, entered, http_client, room_history

from chat.app.rooms.group_direct import MAX_PEOPLE


async def _people(server: Server, *names: str) -> list[Account]:
    return [await account(server, name) for name in names]


async def _post_dm(server: Server, caller: Account, body: Any) -> httpx.Response:
    async with http_client(server) as client:
        return await client.post("/dm", headers=caller.auth, json=body)


async def _group(server: Server, caller: Account, *others: Account) -> int:
    response = await _post_dm(server, caller, {"UIDs": [other.uid for other in others]})
    assert response.status_code in (200, 201), response.text
    return int(response.json()["RoomID"])


async def _add(server: Server, caller: Account, room_id: int, uid: int) -> httpx.Response:
    async with http_client(server) as client:
        return await client.put(f"/dm/{room_id}/members/{uid}", headers=caller.auth)


async def _leave(server: Server, caller: Account, room_id: int) -> httpx.Response:
    async with http_client(server) as client:
        return await client.delete(f"/room/{room_id}/members/me", headers=caller.auth)


async def _details(server: Server, caller: Account, room_id: int) -> dict[str, Any]:
    async with http_client(server) as client:
        response = await client.get("/rooms/details", headers=caller.auth)
    assert response.status_code == 200, response.text
    return next(room for room in response.json() if room["RoomID"] == room_id)


async def test_a_set_of_people_asked_for_again_is_the_same_conversation(server: Server) -> None:
    ann, bob, cat = await _people(server, "ann", "bob", "cat")
    first = await _post_dm(server, ann, {"UIDs": [bob.uid, cat.uid]})
    # Listed with the caller, in another order, a UID twice: the same set.
    again = await _post_dm(server, cat, {"UIDs": [bob.uid, ann.uid, bob.uid, cat.uid]})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()


async def test_a_group_conversation_names_its_members_and_has_no_owner(server: Server) -> None:
    ann, bob, cat = await _people(server, "ann", "bob", "cat")
    room_id = await _group(server, ann, bob, cat)
    people = [{"UID": u.uid, "Username": u.name} for u in (ann, bob, cat)]
    listed = await _details(server, bob, room_id)
    assert (listed["Name"], listed["IsPrivate"], listed["Role"]) == (None, True, "member")
    assert listed["Members"] == people
    assert listed["Notifications"] == "all"
    async with http_client(server) as client:
        room = await client.get(f"/room/{room_id}", headers=cat.auth)
        members = await client.get(f"/room/{room_id}/members", headers=cat.auth)
    assert room.json()["Members"] == people
    assert {member["Role"] for member in members.json()} == {"member"}


async def test_a_group_conversation_is_in_no_directory(server: Server) -> None:
    ann, bob, cat = await _people(server, "ann", "bob", "cat")
    await _group(server, ann, bob, cat)
    async with http_client(server) as client:
        public = await client.get("/rooms/public", headers=ann.auth)
    assert public.json() == []


async def test_fewer_than_three_people_in_all_is_400(server: Server) -> None:
    ann, bob = await _people(server, "ann", "bob")
    for uids in ([], [bob.uid], [bob.uid, ann.uid, bob.uid]):
        response = await _post_dm(server, ann, {"UIDs": uids})
        assert response.status_code == 400, uids
        assert "3 to 10 people" in response.json()["error"]


async def test_more_than_ten_people_in_all_is_400(server: Server) -> None:
    ann = await account(server, "ann")
    others = await _people(server, *(f"p{i}" for i in range(MAX_PEOPLE)))
    response = await _post_dm(server, ann, {"UIDs": [other.uid for other in others]})
    assert response.status_code == 400
    assert "these are 11" in response.json()["error"]


async def test_a_bad_list_of_uids_is_400(server: Server) -> None:
    ann = await account(server, "ann")
    for body in ({}, {"UIDs": 3}, {"UIDs": ["2", 3]}, {"UIDs": [0, 2]}, {"UIDs": [2] * 101}):
        response = await _post_dm(server, ann, body)
        assert response.status_code == 400, body
        assert "UIDs" in response.json()["error"]


async def test_an_unknown_user_is_404_and_an_erased_one_410(server: Server) -> None:
    ann, bob, cat = await _people(server, "ann", "bob", "cat")
    unknown = await _post_dm(server, ann, {"UIDs": [bob.uid, 999_999]})
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "no user with UID 999999"
    async with http_client(server) as client:
        gone = await client.request(
            "DELETE", "/me", headers=cat.auth, json={"Password": cat.password}
        )
    assert gone.status_code == 200, gone.text
    erased = await _post_dm(server, ann, {"UIDs": [bob.uid, cat.uid]})
    assert erased.status_code == 410


async def test_a_person_added_reads_the_whole_history(server: Server, clients: Clients) -> None:
    ann, bob, cat, dan = await _people(server, "ann", "bob", "cat", "dan")
    room_id = await _group(server, ann, bob, cat)
    ws = await entered(clients, ann, room_id)
    await ws.send({"Type": "message", "Text": "before dan"})
    assert (await ws.receive())["Text"] == "before dan"
    added = await _add(server, bob, room_id, dan.uid)
    assert (added.status_code, added.json()) == (200, {"RoomID": room_id, "UID": dan.uid})
    assert [m["Text"] for m in await room_history(server, dan, room_id)] == ["before dan"]
    assert [m["UID"] for m in (await _details(server, dan, room_id))["Members"]] == [
        ann.uid,
        bob.uid,
        cat.uid,
        dan.uid,
    ]


async def test_adding_a_member_again_changes_nothing(server: Server) -> None:
    ann, bob, cat = await _people(server, "ann", "bob", "cat")
    room_id = await _group(server, ann, bob, cat)
    again = await _add(server, ann, room_id, cat.uid)
    assert again.status_code == 200
    assert len((await _details(server, ann, room_id))["Members"]) == 3


async def test_a_person_added_makes_it_the_conversation_of_the_new_set(server: Server) -> None:
    ann, bob, cat, dan = await _people(server, "ann", "bob", "cat", "dan")
    room_id = await _group(server, ann, bob, cat)
    assert (await _add(server, ann, room_id, dan.uid)).status_code == 200
    four = await _post_dm(server, dan, {"UIDs": [ann.uid, bob.uid, cat.uid]})
    assert (four.status_code, four.json()["RoomID"]) == (200, room_id)
    three = await _post_dm(server, ann, {"UIDs": [bob.uid, cat.uid]})
    assert (three.status_code, three.json()["RoomID"] != room_id) == (201, True)


async def test_nobody_is_added_past_ten_people(server: Server) -> None:
    ann = await account(server, "ann")
    others = await _people(server, *(f"p{i}" for i in range(MAX_PEOPLE)))
    room_id = await _group(server, ann, *others[: MAX_PEOPLE - 1])
    full = await _add(server, ann, room_id, others[-1].uid)
    assert full.status_code == 409
    assert "10 people already" in full.json()["error"]


async def test_only_a_member_adds_people(server: Server) -> None:
    ann, bob, cat, eve = await _people(server, "ann", "bob", "cat", "eve")
    room_id = await _group(server, ann, bob, cat)
    refused = await _add(server, eve, room_id, eve.uid)
    assert refused.status_code == 403
    assert room_id not in [room["RoomID"] for room in await _rooms(server, eve)]


async def _rooms(server: Server, caller: Account) -> list[dict[str, Any]]:
    async with http_client(server) as client:
        return (await client.get("/rooms/details", headers=caller.auth)).json()


async def test_people_are_added_this_way_to_group_conversations_only(server: Server) -> None:
    ann, bob, cat = await _people(server, "ann", "bob", "cat")
    async with http_client(server) as client:
        pair = (await client.get(f"/dm/{bob.uid}", headers=ann.auth)).json()["RoomID"]
        named = await client.post(
            "/create-room", headers=ann.auth, json={"Name": "r", "IsPrivate": True}
        )
    for room_id in (pair, named.json()["RoomID"]):
        refused = await _add(server, ann, room_id, cat.uid)
        assert refused.status_code == 409
        assert "not a group direct conversation" in refused.json()["error"]


async def test_a_member_who_leaves_reads_and_writes_nothing_more(
    server: Server, clients: Clients
) -> None:
    ann, bob, cat = await _people(server, "ann", "bob", "cat")
    room_id = await _group(server, ann, bob, cat)
    left = await _leave(server, cat, room_id)
    assert (left.status_code, left.json()) == (200, {"RoomID": room_id})
    async with http_client(server) as client:
        history = await client.get(f"/messages/{room_id}", headers=cat.auth)
        posted = await client.post(f"/messages/{room_id}", headers=cat.auth, json={"Text": "hi"})
    assert (history.status_code, posted.status_code) == (403, 403)
    assert [m["UID"] for m in (await _details(server, ann, room_id))["Members"]] == [
        ann.uid,
        bob.uid,
    ]


async def test_those_left_are_the_set_the_conversation_answers_for(server: Server) -> None:
    ann, bob, cat, dan = await _people(server, "ann", "bob", "cat", "dan")
    room_id = await _group(server, ann, bob, cat, dan)
    assert (await _leave(server, dan, room_id)).status_code == 200
    three = await _post_dm(server, bob, {"UIDs": [ann.uid, cat.uid]})
    assert (three.status_code, three.json()["RoomID"]) == (200, room_id)


async def test_members_hear_of_a_new_conversation_and_of_its_messages(
    server: Server, clients: Clients
) -> None:
    ann, bob, cat = await _people(server, "ann", "bob", "cat")
    lobby_ws = await clients.json("/ws", token=bob.token)
    room_id = await _group(server, ann, bob, cat)
    invited = await lobby_ws.receive()
    assert invited == {
        "Type": "invited",
        "RoomID": room_id,
        "Name": None,
        "By": {"UID": ann.uid, "Username": "ann"},
    }
    cats = await entered(clients, cat, room_id)
    anns = await entered(clients, ann, room_id)
    await anns.send({"Type": "message", "Text": "hello both"})
    assert (await anns.receive())["Text"] == "hello both"
    heard = await cats.receive()
    assert (heard["Type"], heard["Text"], heard["UID"]) == ("message", "hello both", ann.uid)


async def test_members_hear_who_the_members_are_when_someone_is_added_or_leaves(
    server: Server, clients: Clients
) -> None:
    ann, bob, cat, dan = await _people(server, "ann", "bob", "cat", "dan")
    room_id = await _group(server, ann, bob, cat)
    anns = await entered(clients, ann, room_id)
    assert (await _add(server, bob, room_id, dan.uid)).status_code == 200
    everyone = [ann.uid, bob.uid, cat.uid, dan.uid]
    assert await anns.receive() == {"Type": "members", "RoomID": room_id, "UIDs": everyone}
    assert (await _leave(server, cat, room_id)).status_code == 200
    assert await anns.receive() == {
        "Type": "members",
        "RoomID": room_id,
        "UIDs": [ann.uid, bob.uid, dan.uid],
    }
