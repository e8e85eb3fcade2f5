"""Finding rooms, on both backends: the directory of public rooms
(``GET /rooms/public``) lists the busiest first, so a crowd of throwaway rooms cannot
hide the real ones; a user's own rooms come described in one request
(``GET /rooms/details``), however many there are."""

from __future__ import annotations

from typing import Any

import httpx
from support import Account, Clients, Server, account, create_room, http_client

from chat.app.rooms.operations import MAX_PUBLIC_ROOMS
from chat.store import open_store

#: How many throwaway rooms the spammer makes: enough to fill the directory's one page.
SPAM_ROOMS = MAX_PUBLIC_ROOMS


async def directory(client: httpx.AsyncClient, user: Account) -> list[dict[str, Any]]:
    response = await client.get("/rooms/public", headers=user.auth)
    assert response.status_code == 200, response.text
    return response.json()


async def names_in_directory(server: Server, user: Account) -> list[str]:
    async with http_client(server) as client:
        return [room["Name"] for room in await directory(client, user)]


async def say(clients: Clients, user: Account, room_id: int, text: str) -> None:
    """Post `text` in a room through the room protocol; return once it is stored."""
    ws = await clients.json("/ws", token=user.token)
    assert (await ws.request({"Type": "enter", "RoomID": room_id, "Presence": False}))[
        "Type"
    ] == "entered"
    echo = await ws.request({"Type": "message", "Text": text})
    assert echo["Text"] == text, echo  # the sender's copy comes once it is committed


# --- the directory's order ---


async def test_a_thousand_spam_rooms_do_not_push_the_busy_rooms_off_the_directory(
    server: Server, clients: Clients
) -> None:
    alice, bob, carol = [await account(server, name) for name in ("alice", "bob", "carol")]
    books = await create_room(server, alice, "books", bob, carol)
    cooking = await create_room(server, bob, "cooking", carol)
    await say(clients, carol, books, "chapter one")
    await say(clients, bob, cooking, "soup")
    spammer = await account(server, "spammer")
    # Cheaply, straight into the database: names that sort before every real one.
    async with open_store(server.config) as store:
        for i in range(SPAM_ROOMS):
            await store.create_room(f"!{i:04d} buy now", is_private=False, creator_id=spammer.uid)
    async with http_client(server) as client:
        listed = await directory(client, alice)
    assert len(listed) == MAX_PUBLIC_ROOMS  # one full page: the spam does not all fit
    assert listed[:2] == [
        {"RoomID": books, "Name": "books", "Members": 3},
        {"RoomID": cooking, "Name": "cooking", "Members": 2},
    ]


async def test_rooms_with_more_members_come_first(server: Server) -> None:
    alice, bob, carol = [await account(server, name) for name in ("alice", "bob", "carol")]
    await create_room(server, alice, "pair", bob)
    await create_room(server, alice, "alone")
    await create_room(server, alice, "crowd", bob, carol)
    assert await names_in_directory(server, alice) == ["crowd", "pair", "alone"]


async def test_among_rooms_with_as_many_members_the_latest_written_in_comes_first(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    early = await create_room(server, alice, "written early")
    await create_room(server, alice, "a silent room")
    late = await create_room(server, alice, "written late")
    await say(clients, alice, early, "first")
    await say(clients, alice, late, "second")
    assert await names_in_directory(server, alice) == [
        "written late",
        "written early",
        "a silent room",  # never written in: last
    ]


async def test_rooms_alike_in_members_and_silence_come_by_name_case_aside(
    server: Server,
) -> None:
    alice = await account(server, "alice")
    for name in ("beta", "Gamma", "alpha"):
        await create_room(server, alice, name)
    assert await names_in_directory(server, alice) == ["alpha", "beta", "Gamma"]


# --- the caller's rooms, described in one request ---


async def test_room_details_describe_each_room_of_get_rooms_as_get_room_does(
    server: Server,
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    await create_room(server, alice, "hers")
    await create_room(server, bob, "joined", alice)
    await create_room(server, bob, "not hers")
    invited = await create_room(server, bob, "invited", private=True)
    async with http_client(server) as client:
        response = await client.put(
            "/invite", headers=bob.auth, json={"RoomID": invited, "UID": alice.uid}
        )
        assert response.status_code == 200, response.text
        ids = (await client.get("/rooms", headers=alice.auth)).json()
        response = await client.get("/rooms/details", headers=alice.auth)
        assert response.status_code == 200, response.text
        one_by_one = [(await client.get(f"/room/{i}", headers=alice.auth)).json() for i in ids]
    # Each as GET /room describes it, plus the caller's notification level and role in it.
    details = response.json()
    own = ("Notifications", "Role")
    assert [{k: v for k, v in room.items() if k not in own} for room in details] == one_by_one
    assert [room["Notifications"] for room in details] == ["mentions"] * 4
    assert [room["Role"] for room in details] == ["member", "owner", "member", "member"]
    assert [room["Name"] for room in one_by_one] == ["lobby", "hers", "joined", "invited"]


async def test_room_details_name_the_two_users_of_a_direct_conversation(
    server: Server,
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    async with http_client(server) as client:
        room_id = (await client.get(f"/dm/{bob.uid}", headers=alice.auth)).json()["RoomID"]
        renamed = await client.put("/change-name", headers=bob.auth, json={"NewName": "robert"})
        assert renamed.status_code == 200, renamed.text
        response = await client.get("/rooms/details", headers=bob.auth)
    direct = next(room for room in response.json() if room["RoomID"] == room_id)
    assert direct["UIDs"] == [alice.uid, bob.uid]
    assert direct["Users"] == [
        {"UID": alice.uid, "Username": "alice"},
        {"UID": bob.uid, "Username": "robert"},  # the name as it is now
    ]


async def test_room_details_need_a_token(server: Server) -> None:
    async with http_client(server) as client:
        response = await client.get("/rooms/details")
    assert response.status_code == 401
