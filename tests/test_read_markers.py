"""Read markers on /ws (``{"Type": "read"}``) and unread counts (``GET /rooms/unread``):
real servers, real sockets, both backends."""

from __future__ import annotations

import trio
from support import (
    Account,
    Clients,
    JsonClient,
    Server,
    account,
    add_message,
    create_room,
    http_client,
)

from chat.core.config import Config
from chat.store import open_store

LOBBY = 1


async def _in_room(clients: Clients, user: Account, room_id: int) -> JsonClient:
    ws = await clients.json("/ws", token=user.token)
    assert (await ws.request({"Type": "enter", "RoomID": room_id, "Presence": False}))[
        "Type"
    ] == "entered"
    return ws


async def _post(ws: JsonClient, *texts: str) -> list[int]:
    """Post texts in the room `ws` is in; their MessageIDs."""
    ids = []
    for text in texts:
        await ws.send({"Type": "message", "Text": text})
        echo = await ws.receive()
        assert echo["Text"] == text, echo
        ids.append(echo["MessageID"])
    return ids


async def _unread(server: Server, user: Account) -> dict[int, int]:
    async with http_client(server) as client:
        response = await client.get("/rooms/unread", headers=user.auth)
    assert response.status_code == 200, response.text
    return {row["RoomID"]: row["Unread"] for row in response.json()}


async def test_a_read_frame_is_answered_with_the_stored_marker(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    ws = await _in_room(clients, alice, LOBBY)
    first, _second = await _post(ws, "one", "two")
    answer = await ws.request({"Type": "read", "RoomID": LOBBY, "MessageID": first})
    assert answer == {"Type": "read", "RoomID": LOBBY, "MessageID": first}


async def test_a_read_marker_never_moves_back(server: Server, clients: Clients) -> None:
    alice = await account(server, "alice")
    ws = await _in_room(clients, alice, LOBBY)
    first, second = await _post(ws, "one", "two")
    await ws.request({"Type": "read", "RoomID": LOBBY, "MessageID": second})
    answer = await ws.request({"Type": "read", "RoomID": LOBBY, "MessageID": first})
    assert answer == {"Type": "read", "RoomID": LOBBY, "MessageID": second}


async def test_concurrent_read_frames_leave_the_newest_marker(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    ws = await _in_room(clients, alice, LOBBY)
    ids = await _post(ws, *(f"m{i}" for i in range(10)))
    tabs = [await clients.json("/ws", token=alice.token) for _ in range(5)]
    async with trio.open_nursery() as nursery:
        for tab, message_id in zip(tabs, reversed(ids), strict=False):
            nursery.start_soon(tab.send, {"Type": "read", "RoomID": LOBBY, "MessageID": message_id})
    # Whatever order they landed in, the last notice anyone gets names the newest.
    notices = [await ws.receive() for _ in tabs]
    assert max(n["MessageID"] for n in notices) == ids[-1]
    assert notices[-1]["MessageID"] == ids[-1]


async def test_every_connection_of_the_user_hears_the_read_marker(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    phone = await _in_room(clients, alice, LOBBY)
    laptop = await clients.json("/ws", token=alice.token)  # in no room at all
    bobs = await _in_room(clients, bob, LOBBY)
    (message_id,) = await _post(phone, "hello")
    assert (await bobs.receive())["Text"] == "hello"
    await phone.send({"Type": "read", "RoomID": LOBBY, "MessageID": message_id})
    expected = {"Type": "read", "RoomID": LOBBY, "MessageID": message_id}
    assert await phone.receive() == expected
    assert await laptop.receive() == expected
    # Bob hears nothing of Alice's marker: his next frame is his own answer.
    assert (await bobs.request({"Type": "enter", "RoomID": 0}))["Type"] == "left"


async def test_marking_a_room_one_is_not_a_member_of_is_refused(
    server: Server, clients: Clients
) -> None:
    owner, stranger = await account(server, "owner"), await account(server, "stranger")
    room_id = await create_room(server, owner, "secret", private=True)
    (message_id,) = await _post(await _in_room(clients, owner, room_id), "private")
    ws = await clients.json("/ws", token=stranger.token)
    answer = await ws.request({"Type": "read", "RoomID": room_id, "MessageID": message_id})
    assert answer == {"Type": "error", "Error": f"you are not a member of room {room_id}"}


async def test_marking_a_message_of_another_room_is_refused(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "elsewhere")
    (message_id,) = await _post(await _in_room(clients, alice, room_id), "not in the lobby")
    ws = await clients.json("/ws", token=alice.token)
    answer = await ws.request({"Type": "read", "RoomID": LOBBY, "MessageID": message_id})
    assert answer == {
        "Type": "error",
        "Error": f"no message with MessageID {message_id} in room {LOBBY}",
    }


async def test_a_read_frame_without_a_message_id_is_refused(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    ws = await clients.json("/ws", token=alice.token)
    answer = await ws.request({"Type": "read", "RoomID": LOBBY})
    assert answer == {"Type": "error", "Error": 'field "MessageID" is required'}


async def test_unread_counts_list_the_lobby_and_every_room_of_the_callers(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    shared = await create_room(server, alice, "shared", bob)
    await create_room(server, alice, "alices-only")
    bobs = await _in_room(clients, bob, shared)
    await _post(bobs, "one", "two")
    assert await _unread(server, bob) == {LOBBY: 0, shared: 0}
    alices = await _unread(server, alice)
    assert alices[shared] == 2 and alices[LOBBY] == 0 and len(alices) == 3


async def test_unread_counts_exclude_the_callers_own_messages(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    await _post(await _in_room(clients, alice, LOBBY), "mine")
    await _post(await _in_room(clients, bob, LOBBY), "bobs", "bobs again")
    assert (await _unread(server, alice))[LOBBY] == 2
    assert (await _unread(server, bob))[LOBBY] == 1


async def test_unread_counts_start_after_the_read_marker(server: Server, clients: Clients) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    first, _second, _third = await _post(await _in_room(clients, bob, LOBBY), "1", "2", "3")
    alices = await clients.json("/ws", token=alice.token)
    await alices.request({"Type": "read", "RoomID": LOBBY, "MessageID": first})
    assert (await _unread(server, alice))[LOBBY] == 2


async def test_unread_counts_need_a_token(server: Server) -> None:
    async with http_client(server) as client:
        response = await client.get("/rooms/unread")
    assert response.status_code == 401


async def test_deleting_a_user_with_read_markers_deletes_them_too(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "x")
        bob = await store.create_user("bob", "x")
        dm = await store.direct_room(alice.id, bob.id, create=True)
        assert dm is not None
        in_dm = await add_message(store, dm.id, bob.id, "hi")
        in_lobby = await add_message(store, store.lobby_id, alice.id, "hello")
        assert await store.mark_read(alice.id, dm.id, in_dm.id) == in_dm.id
        assert await store.mark_read(bob.id, store.lobby_id, in_lobby.id) == in_lobby.id
        # Her markers go with her (ON DELETE CASCADE), or this would break a foreign key.
        assert await store.delete_user(alice.id)
        # Bob's marker points at a message that went with Alice: it still counts from it.
        assert await store.unread_counts(bob.id, store.lobby_id) == [(store.lobby_id, 0, 0)]
