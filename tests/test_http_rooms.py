"""Rooms and paged messages over HTTP (spec 004), with the access rules tested from the
attacker's side."""

from __future__ import annotations

import pytest
from support import Account, Clients, Server, account, http_client


async def _create(server: Server, owner: Account, name: str, private: bool) -> int:
    async with http_client(server) as client:
        response = await client.post(
            "/create-room", headers=owner.auth, json={"Name": name, "IsPrivate": private}
        )
    assert response.status_code == 201, response.text
    return response.json()["RoomID"]


async def _post_in_room(clients: Clients, user: Account, room_id: int, texts: list[str]) -> None:
    ws = await clients.json("/ws", token=user.token)
    assert (await ws.request({"Type": "enter", "RoomID": room_id, "Presence": False}))[
        "Type"
    ] == "entered"
    for text in texts:
        await ws.send({"Type": "message", "Text": text})
        assert (await ws.receive())["Text"] == text


# --- creating, joining, inviting ---


async def test_create_room_returns_201_and_the_creator_is_a_member(server: Server) -> None:
    owner = await account(server, "owner")
    room_id = await _create(server, owner, "GeneralChat", private=False)
    async with http_client(server) as client:
        rooms = await client.get("/rooms", headers=owner.auth)
        room = await client.get(f"/room/{room_id}")
    assert room_id in rooms.json()
    body = room.json()
    assert (body["RoomID"], body["Name"], body["IsPrivate"], body["CreatorUID"]) == (
        room_id,
        "GeneralChat",
        False,
        owner.uid,
    )
    assert body["CreatedAt"].endswith("Z")


async def test_create_public_room_with_a_public_room_s_name_is_409(server: Server) -> None:
    owner = await account(server, "owner")
    await _create(server, owner, "GeneralChat", private=False)
    async with http_client(server) as client:
        response = await client.post(
            "/create-room", headers=owner.auth, json={"Name": "GeneralChat", "IsPrivate": False}
        )
    assert response.status_code == 409
    assert response.json()["error"] == "a public room named 'GeneralChat' exists already"


@pytest.mark.parametrize(
    "body,problem",
    [
        ({"IsPrivate": False}, 'field "Name" is required'),
        ({"Name": "x"}, 'field "IsPrivate" is required'),
        ({"Name": "x", "IsPrivate": "no"}, 'field "IsPrivate" must be true or false'),
        ({"Name": "x", "IsPrivate": 0}, 'field "IsPrivate" must be true or false'),
        ({"Name": 7, "IsPrivate": False}, 'field "Name" must be a string'),
        ({"Name": "", "IsPrivate": False}, "room name must not be empty"),
        ({"Name": "r" * 256, "IsPrivate": False}, "at most 255"),
    ],
)
async def test_create_room_refuses_bad_bodies_with_400(
    server: Server, body: dict, problem: str
) -> None:
    owner = await account(server, "owner")
    async with http_client(server) as client:
        response = await client.post("/create-room", headers=owner.auth, json=body)
    assert response.status_code == 400
    assert problem in response.json()["error"]


async def test_room_routes_need_a_token(server: Server) -> None:
    async with http_client(server) as client:
        for method, path, body in [
            ("POST", "/create-room", {"Name": "x", "IsPrivate": False}),
            ("PUT", "/join", {"RoomID": 1}),
            ("PUT", "/invite", {"RoomID": 1, "UID": 1}),
            ("GET", "/rooms", None),
            ("GET", "/messages/1", None),
            ("GET", "/dm/1", None),
        ]:
            response = await client.request(method, path, json=body)
            assert response.status_code == 401, (method, path)


async def test_joining_a_public_room_twice_is_fine(server: Server) -> None:
    owner, guest = await account(server, "owner"), await account(server, "guest")
    room_id = await _create(server, owner, "open", private=False)
    async with http_client(server) as client:
        for _ in range(2):
            response = await client.put("/join", headers=guest.auth, json={"RoomID": room_id})
            assert response.status_code == 200
            assert response.json() == {"RoomID": room_id}
        rooms = await client.get("/rooms", headers=guest.auth)
    assert rooms.json().count(room_id) == 1


async def test_joining_a_private_room_is_403(server: Server) -> None:
    owner, intruder = await account(server, "owner"), await account(server, "intruder")
    room_id = await _create(server, owner, "secret", private=True)
    async with http_client(server) as client:
        response = await client.put("/join", headers=intruder.auth, json={"RoomID": room_id})
        rooms = await client.get("/rooms", headers=intruder.auth)
    assert response.status_code == 403
    assert room_id not in rooms.json()


async def test_the_creator_of_a_private_room_may_put_join(server: Server) -> None:
    owner = await account(server, "owner")
    room_id = await _create(server, owner, "secret", private=True)
    async with http_client(server) as client:
        response = await client.put("/join", headers=owner.auth, json={"RoomID": room_id})
    assert (response.status_code, response.json()) == (200, {"RoomID": room_id})


async def test_an_invited_user_may_put_join_a_private_room(server: Server) -> None:
    owner, guest = await account(server, "owner"), await account(server, "guest")
    room_id = await _create(server, owner, "secret", private=True)
    async with http_client(server) as client:
        invited = await client.put(
            "/invite", headers=owner.auth, json={"RoomID": room_id, "UID": guest.uid}
        )
        assert invited.status_code == 200
        response = await client.put("/join", headers=guest.auth, json={"RoomID": room_id})
        rooms = await client.get("/rooms", headers=guest.auth)
    assert (response.status_code, response.json()) == (200, {"RoomID": room_id})
    assert rooms.json().count(room_id) == 1


async def test_a_member_of_a_direct_conversation_may_not_put_join_it(server: Server) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    async with http_client(server) as client:
        room_id = (await client.get(f"/dm/{bob.uid}", headers=alice.auth)).json()["RoomID"]
        response = await client.put("/join", headers=alice.auth, json={"RoomID": room_id})
    assert response.status_code == 403


@pytest.mark.parametrize(
    "body,status",
    [
        ({"RoomID": 999}, 404),
        ({"RoomID": 0}, 400),
        ({"RoomID": -3}, 400),
        ({"RoomID": "1"}, 400),
        ({"RoomID": True}, 400),
        ({"RoomID": 2**63}, 400),
        ({}, 400),
    ],
)
async def test_join_with_an_unknown_or_invalid_room_id(
    server: Server, body: dict, status: int
) -> None:
    guest = await account(server, "guest")
    async with http_client(server) as client:
        response = await client.put("/join", headers=guest.auth, json=body)
    assert response.status_code == status
    assert "error" in response.json()


async def test_the_creator_can_invite_into_a_private_room(server: Server) -> None:
    owner, friend = await account(server, "owner"), await account(server, "friend")
    room_id = await _create(server, owner, "secret", private=True)
    async with http_client(server) as client:
        response = await client.put(
            "/invite", headers=owner.auth, json={"RoomID": room_id, "UID": friend.uid}
        )
        assert response.status_code == 200
        rooms = await client.get("/rooms", headers=friend.auth)
        room = await client.get(f"/room/{room_id}", headers=friend.auth)
    assert room_id in rooms.json()
    assert room.status_code == 200


async def test_only_the_creator_can_invite(server: Server) -> None:
    owner = await account(server, "owner")
    member = await account(server, "member")
    outsider = await account(server, "outsider")
    room_id = await _create(server, owner, "open", private=False)
    async with http_client(server) as client:
        await client.put("/join", headers=member.auth, json={"RoomID": room_id})
        # A member who did not create the room may not invite, nor may an outsider
        # invite themselves.
        for who, uid in ((member, outsider.uid), (outsider, outsider.uid)):
            response = await client.put(
                "/invite", headers=who.auth, json={"RoomID": room_id, "UID": uid}
            )
            assert response.status_code == 403
        rooms = await client.get("/rooms", headers=outsider.auth)
    assert room_id not in rooms.json()


async def test_inviting_an_unknown_user_is_404(server: Server) -> None:
    owner = await account(server, "owner")
    room_id = await _create(server, owner, "open", private=False)
    async with http_client(server) as client:
        response = await client.put(
            "/invite", headers=owner.auth, json={"RoomID": room_id, "UID": 4242}
        )
    assert response.status_code == 404


async def test_rooms_lists_the_lobby_then_the_callers_rooms(server: Server) -> None:
    owner = await account(server, "owner")
    first = await _create(server, owner, "one", private=False)
    second = await _create(server, owner, "two", private=True)
    async with http_client(server) as client:
        rooms = await client.get("/rooms", headers=owner.auth)
        lobby = await client.get(f"/room/{rooms.json()[0]}")
    assert rooms.json()[1:] == [first, second]
    assert lobby.json()["Name"] == "lobby"


async def test_a_private_room_is_described_only_to_members(server: Server) -> None:
    owner, outsider = await account(server, "owner"), await account(server, "outsider")
    room_id = await _create(server, owner, "secret", private=True)
    async with http_client(server) as client:
        anonymous = await client.get(f"/room/{room_id}")
        stranger = await client.get(f"/room/{room_id}", headers=outsider.auth)
        member = await client.get(f"/room/{room_id}", headers=owner.auth)
        missing = await client.get("/room/999")
    assert (anonymous.status_code, stranger.status_code, member.status_code) == (401, 403, 200)
    assert missing.status_code == 404


# --- members ---


async def _members(server: Server, who: Account, room_id: int, query: str = "") -> list[dict]:
    async with http_client(server) as client:
        response = await client.get(f"/room/{room_id}/members{query}", headers=who.auth)
    assert response.status_code == 200, response.text
    return response.json()


async def test_room_members_are_the_creator_and_those_who_joined_or_were_invited_by_uid(
    server: Server,
) -> None:
    owner, joiner, guest = [await account(server, name) for name in ("owner", "joiner", "guest")]
    room_id = await _create(server, owner, "open", private=False)
    async with http_client(server) as client:
        await client.put("/invite", headers=owner.auth, json={"RoomID": room_id, "UID": guest.uid})
        await client.put("/join", headers=joiner.auth, json={"RoomID": room_id})
    assert await _members(server, guest, room_id) == [
        {"UID": who.uid, "Username": who.name, "Online": False, "Role": role}
        for who, role in ((owner, "owner"), (joiner, "member"), (guest, "member"))
    ]


async def test_room_members_after_a_uid_are_the_next_page(server: Server) -> None:
    owner, joiner = await account(server, "owner"), await account(server, "joiner")
    room_id = await _create(server, owner, "open", private=False)
    async with http_client(server) as client:
        await client.put("/join", headers=joiner.auth, json={"RoomID": room_id})
    assert await _members(server, owner, room_id, f"?after={owner.uid}") == [
        {"UID": joiner.uid, "Username": "joiner", "Online": False, "Role": "member"}
    ]
    assert await _members(server, owner, room_id, f"?after={joiner.uid}") == []


async def test_room_members_online_are_those_connected_anywhere_in_any_room(
    server: Server, clients: Clients
) -> None:
    owner, joiner = await account(server, "owner"), await account(server, "joiner")
    room_id = await _create(server, owner, "open", private=False)
    async with http_client(server) as client:
        await client.put("/join", headers=joiner.auth, json={"RoomID": room_id})
    ws = await clients.json(token=joiner.token)  # in no room at all
    await ws.send({"Type": "typing"})  # answered (an error) once the connection is open
    assert (await ws.receive())["Type"] == "error"
    online = {m["Username"]: m["Online"] for m in await _members(server, owner, room_id)}
    assert online == {"owner": False, "joiner": True}


async def test_room_members_of_a_direct_conversation_are_its_two_users(server: Server) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    async with http_client(server) as client:
        room_id = (await client.get(f"/dm/{bob.uid}", headers=alice.auth)).json()["RoomID"]
    assert [member["UID"] for member in await _members(server, bob, room_id)] == sorted(
        (alice.uid, bob.uid)
    )


async def test_room_members_are_told_to_members_only(server: Server) -> None:
    owner, outsider = await account(server, "owner"), await account(server, "outsider")
    public = await _create(server, owner, "open", private=False)
    private = await _create(server, owner, "secret", private=True)
    async with http_client(server) as client:
        answers = [
            await client.get(f"/room/{room_id}/members", headers=outsider.auth)
            for room_id in (public, private)
        ]
        anonymous = await client.get(f"/room/{public}/members")
    assert [answer.status_code for answer in answers] == [403, 403]
    assert answers[0].json() == {"error": f"you are not a member of room {public}"}
    assert anonymous.status_code == 401


async def test_room_members_of_the_lobby_are_every_user_a_page_at_a_time(
    server: Server,
) -> None:
    users = [await account(server, name) for name in ("ann", "ben", "cat")]
    async with http_client(server) as client:
        lobby = (await client.get("/rooms", headers=users[0].auth)).json()[0]
        first = await client.get(f"/room/{lobby}/members?limit=2", headers=users[0].auth)
        last_uid = first.json()[-1]["UID"]
        rest = await client.get(
            f"/room/{lobby}/members?limit=2&after={last_uid}", headers=users[0].auth
        )
    assert first.status_code == 200 and rest.status_code == 200, (first.text, rest.text)
    listed = first.json() + rest.json()
    assert [(m["UID"], m["Username"], m["Role"]) for m in listed] == [
        (user.uid, user.name, "member") for user in users
    ]
    assert len(first.json()) == 2 and len(rest.json()) == 1


@pytest.mark.parametrize("query", ["?limit=0", "?limit=101", "?limit=x"])
async def test_room_members_refuse_a_limit_out_of_bounds_with_400(
    server: Server, query: str
) -> None:
    user = await account(server, "user")
    async with http_client(server) as client:
        lobby = (await client.get("/rooms", headers=user.auth)).json()[0]
        response = await client.get(f"/room/{lobby}/members{query}", headers=user.auth)
    assert response.status_code == 400
    assert "limit must be" in response.json()["error"]


@pytest.mark.parametrize("query", ["?after=x", "?after=-1", "?after=99999999999999999999999"])
async def test_room_members_refuse_a_bad_after_with_400(server: Server, query: str) -> None:
    owner = await account(server, "owner")
    room_id = await _create(server, owner, "open", private=False)
    async with http_client(server) as client:
        response = await client.get(f"/room/{room_id}/members{query}", headers=owner.auth)
        missing = await client.get("/room/999/members", headers=owner.auth)
    assert response.status_code == 400
    assert "after must be" in response.json()["error"]
    assert missing.status_code == 404


# --- messages ---


async def test_messages_are_paged_newest_first_100_at_a_time(
    server: Server, clients: Clients
) -> None:
    owner = await account(server, "owner")
    room_id = await _create(server, owner, "busy", private=False)
    await _post_in_room(clients, owner, room_id, [f"m{i}" for i in range(130)])
    async with http_client(server) as client:
        first = (await client.get(f"/messages/{room_id}", headers=owner.auth)).json()
        assert [m["Text"] for m in first] == [f"m{i}" for i in range(129, 29, -1)]
        # Spec 004 sends LastID in a JSON body, even on a GET.
        second = await client.request(
            "GET",
            f"/messages/{room_id}",
            headers=owner.auth,
            json={"LastID": first[-1]["MessageID"]},
        )
        by_query = await client.get(
            f"/messages/{room_id}?last_id={first[-1]['MessageID']}", headers=owner.auth
        )
    assert [m["Text"] for m in second.json()] == [f"m{i}" for i in range(29, -1, -1)]
    assert by_query.json() == second.json()
    message = first[0]
    assert set(message) == {
        "MessageID",
        "RoomID",
        "UID",
        "Username",
        "Text",
        "CreatedAt",
        "EditedAt",
        "Reactions",
        "Mentions",
    }
    assert (message["RoomID"], message["UID"], message["Username"]) == (room_id, owner.uid, "owner")


async def test_last_id_zero_starts_from_the_newest(server: Server, clients: Clients) -> None:
    owner = await account(server, "owner")
    room_id = await _create(server, owner, "r", private=False)
    await _post_in_room(clients, owner, room_id, ["a", "b"])
    async with http_client(server) as client:
        response = await client.request(
            "GET", f"/messages/{room_id}", headers=owner.auth, json={"LastID": 0}
        )
    assert [m["Text"] for m in response.json()] == ["b", "a"]


@pytest.mark.parametrize(
    "query,body,problem",
    [
        ("?last_id=-1", None, "last_id must be a positive integer"),
        ("?last_id=abc", None, "last_id must be a positive integer"),
        ("", {"LastID": "5"}, 'field "LastID" must be an integer'),
        ("", {"LastID": -5}, 'field "LastID" must be between 0'),
        ("?last_id=3", {"LastID": 4}, "disagree"),
        ("?limit=101", None, "limit must be between 1 and 100"),
        ("?limit=0", None, "limit must be between 1 and 100"),
        ("?limit=x", None, "limit must be a positive integer"),
        ("?last_id=99999999999999999999", None, "last_id must be at most"),
    ],
)
async def test_bad_paging_parameters_are_400(
    server: Server, query: str, body: dict | None, problem: str
) -> None:
    owner = await account(server, "owner")
    async with http_client(server) as client:
        rooms = (await client.get("/rooms", headers=owner.auth)).json()
        response = await client.request(
            "GET", f"/messages/{rooms[0]}{query}", headers=owner.auth, json=body
        )
    assert response.status_code == 400
    assert problem in response.json()["error"]


async def test_a_non_member_cannot_read_or_page_a_room(server: Server, clients: Clients) -> None:
    owner, outsider = await account(server, "owner"), await account(server, "outsider")
    for private in (True, False):
        room_id = await _create(server, owner, f"room-{private}", private=private)
        await _post_in_room(clients, owner, room_id, ["secret"])
        async with http_client(server) as client:
            for query in ("", "?last_id=1000", "?limit=1"):
                response = await client.get(f"/messages/{room_id}{query}", headers=outsider.auth)
                assert response.status_code == 403, (private, query)
                assert "secret" not in response.text


async def test_everyone_reads_the_lobby(server: Server, clients: Clients) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    talker = await clients.talker(token=alice.token)
    await talker.say("hi lobby")
    await talker.stored()
    async with http_client(server) as client:
        lobby_id = (await client.get("/rooms", headers=bob.auth)).json()[0]
        response = await client.get(f"/messages/{lobby_id}", headers=bob.auth)
    assert [(m["Username"], m["Text"]) for m in response.json()] == [("alice", "hi lobby")]
