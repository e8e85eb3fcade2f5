"""Finding people (``GET /users?prefix=``), the public rooms' directory
(``GET /rooms/public``) and live invitations (``{"Type": "invited"}`` on /ws)."""

from __future__ import annotations

import pytest
import trio
from httpx import Response
from support import Account, Clients, Server, account, create_room, http_client


async def _users(server: Server, caller: Account, prefix: str) -> list[dict]:
    async with http_client(server) as client:
        response = await client.get("/users", headers=caller.auth, params={"prefix": prefix})
    assert response.status_code == 200, response.text
    return response.json()


# --- finding people ---


async def test_user_search_is_case_insensitive_and_capped_at_20(server: Server) -> None:
    caller = await account(server, "caller")
    made = [await account(server, f"Al{i:02d}") for i in range(22)]
    await account(server, "bob")
    found = await _users(server, caller, "aL")
    assert found == [{"UID": a.uid, "Username": a.name, "Online": False} for a in made[:20]]


async def test_user_search_lists_names_in_order_and_leaves_the_caller_out(
    server: Server,
) -> None:
    alice = await account(server, "alice")
    albert, alfred = await account(server, "albert"), await account(server, "Alfred")
    assert await _users(server, alice, "al") == [
        {"UID": albert.uid, "Username": "albert", "Online": False},
        {"UID": alfred.uid, "Username": "Alfred", "Online": False},
    ]


async def test_a_prefix_with_a_percent_sign_matches_literally(server: Server) -> None:
    caller = await account(server, "caller")
    await account(server, "abc")
    assert await _users(server, caller, "%") == []
    assert await _users(server, caller, "a%") == []


async def test_a_prefix_with_an_underscore_matches_literally(server: Server) -> None:
    caller = await account(server, "caller")
    await account(server, "abc")
    under = await account(server, "a_c")
    assert await _users(server, caller, "a_") == [
        {"UID": under.uid, "Username": "a_c", "Online": False}
    ]


async def test_user_search_says_who_is_online_while_a_websocket_is_open(
    server: Server, clients: Clients
) -> None:
    caller, alice = await account(server, "caller"), await account(server, "alice")
    assert [u["Online"] for u in await _users(server, caller, "alice")] == [False]
    talker = await clients.talker(token=alice.token)  # any path counts, not just /ws
    assert [u["Online"] for u in await _users(server, caller, "alice")] == [True]
    await talker.ws.aclose()
    with trio.fail_after(5):
        while (await _users(server, caller, "alice"))[0]["Online"]:  # noqa: ASYNC110
            await trio.sleep(0.02)


@pytest.mark.parametrize(
    "query,problem",
    [
        ({}, 'query parameter "prefix" is required'),
        ({"prefix": ""}, 'query parameter "prefix" is required'),
        ({"prefix": "a" * 256}, 'query parameter "prefix" must be at most 255 characters'),
        ({"prefix": "a\x00"}, 'query parameter "prefix" must not contain NUL'),
    ],
    ids=["missing", "empty", "too-long", "nul"],
)
async def test_a_missing_empty_or_overlong_prefix_is_400_naming_the_parameter(
    server: Server, query: dict, problem: str
) -> None:
    caller = await account(server, "caller")
    async with http_client(server) as client:
        response = await client.get("/users", headers=caller.auth, params=query)
    assert response.status_code == 400
    assert problem in response.json()["error"]


async def test_user_search_needs_a_token(server: Server) -> None:
    async with http_client(server) as client:
        response = await client.get("/users", params={"prefix": "a"})
    assert response.status_code == 401


# --- the public rooms' directory ---


async def test_public_rooms_list_names_and_member_counts_but_no_private_room(
    server: Server,
) -> None:
    alice, bob, carol = [await account(server, n) for n in ("alice", "bob", "carol")]
    busy = await create_room(server, alice, "busy", bob, carol)
    quiet = await create_room(server, bob, "Quiet")
    await create_room(server, alice, "hidden", private=True)
    async with http_client(server) as client:
        dm = await client.get(f"/dm/{bob.uid}", headers=alice.auth)
        assert dm.status_code == 200
        response = await client.get("/rooms/public", headers=carol.auth)
    assert response.status_code == 200, response.text
    # The busiest first (tests/test_rooms_directory.py has the whole order).
    assert response.json() == [
        {"RoomID": busy, "Name": "busy", "Members": 3},
        {"RoomID": quiet, "Name": "Quiet", "Members": 1},
    ]


async def test_public_rooms_need_a_token(server: Server) -> None:
    async with http_client(server) as client:
        response = await client.get("/rooms/public")
    assert response.status_code == 401


# --- live invitations ---


async def _invite(server: Server, owner: Account, room_id: int, guest: Account) -> Response:
    async with http_client(server) as client:
        return await client.put(
            "/invite", headers=owner.auth, json={"RoomID": room_id, "UID": guest.uid}
        )


async def test_an_invited_user_hears_of_it_on_their_open_connection(
    server: Server, clients: Clients
) -> None:
    owner, guest = await account(server, "owner"), await account(server, "guest")
    room_id = await create_room(server, owner, "secret", private=True)
    phone = await clients.json("/ws", token=guest.token)
    laptop = await clients.json("/ws", token=guest.token)
    invited = await _invite(server, owner, room_id, guest)
    assert invited.status_code == 200, invited.text
    expected = {
        "Type": "invited",
        "RoomID": room_id,
        "Name": "secret",
        "By": {"UID": owner.uid, "Username": "owner"},
    }
    assert await phone.receive() == expected
    assert await laptop.receive() == expected
    # The room can be entered at once.
    entered = await phone.request({"Type": "enter", "RoomID": room_id, "Presence": False})
    assert entered["Type"] == "entered"


async def test_nobody_but_the_invited_user_hears_of_an_invitation(
    server: Server, clients: Clients
) -> None:
    owner, guest = await account(server, "owner"), await account(server, "guest")
    room_id = await create_room(server, owner, "secret", private=True)
    owners = await clients.json("/ws", token=owner.token)
    invited = await _invite(server, owner, room_id, guest)
    assert invited.status_code == 200
    # The owner's next frame is the answer to its own request, not a notice.
    assert (await owners.request({"Type": "enter", "RoomID": 0}))["Type"] == "left"
