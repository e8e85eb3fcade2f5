"""Direct messages between users (spec 003), on every WebSocket path."""

from __future__ import annotations

import pytest
import trio
from support import STEP, Clients, JsonClient, Server, account, http_client

from chat.app.people.activity import Activity


async def test_a_direct_message_reaches_every_connection_of_the_recipient(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    sender = await clients.json("/", token=alice.token)
    phone = await clients.json("/", token=bob.token)
    laptop = await clients.json("/ws", token=bob.token)
    # No wait for the connections to be ready: each has subscribed before its first wait
    # since the handshake, so what is sent once it is open reaches it.
    await sender.send({"from": alice.uid, "to": bob.uid, "content": "hello"})
    for connection in (phone, laptop, sender):  # the sender's copy is its confirmation
        frame = await connection.receive()
        assert {k: frame[k] for k in ("from", "to", "content")} == {
            "from": alice.uid,
            "to": bob.uid,
            "content": "hello",
        }
        assert isinstance(frame["id"], int) and isinstance(frame["ts"], int)


async def test_direct_messages_work_both_ways(server: Server, clients: Clients) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    a = await clients.json("/", token=alice.token)
    b = await clients.json("/", token=bob.token)
    await a.send({"from": alice.uid, "to": bob.uid, "content": "ping?"})
    assert (await b.receive())["content"] == "ping?"
    await a.receive()
    await b.send({"from": bob.uid, "to": alice.uid, "content": "pong!"})
    frame = await a.receive()
    assert (frame["from"], frame["to"], frame["content"]) == (bob.uid, alice.uid, "pong!")


async def test_tokentalker_auth_also_enables_direct_messages(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    receiver = await clients.talker()
    await receiver.auth(bob.token)  # "auth <token>", not a handshake token
    sender = await clients.json("/", token=alice.token)
    await sender.send({"from": alice.uid, "to": bob.uid, "content": "via auth"})
    assert (await receiver.receive())["content"] == "via auth"


async def test_nobody_can_send_as_someone_else(server: Server, clients: Clients) -> None:
    alice, bob, mallory = (
        await account(server, "alice"),
        await account(server, "bob"),
        await account(server, "mallory"),
    )
    bob_ws = await clients.json("/", token=bob.token)
    attacker = await clients.json("/", token=mallory.token)
    reply = await attacker.request({"from": alice.uid, "to": bob.uid, "content": "it's alice"})
    assert reply == {"error": f'"from" must be your own user id ({mallory.uid})'}
    # Bob got nothing: his next frame is the answer to his own ping.
    await bob_ws.ws.send_message("ping")
    assert await bob_ws.ws.get_message() == "pong"


async def test_an_unauthenticated_connection_cannot_send_direct_messages(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    anonymous = await clients.json("/")
    reply = await anonymous.request({"from": alice.uid, "to": alice.uid, "content": "hi"})
    assert "not authenticated" in reply["error"]


async def test_an_unknown_recipient_is_an_error(server: Server, clients: Clients) -> None:
    alice = await account(server, "alice")
    ws = await clients.json("/", token=alice.token)
    reply = await ws.request({"from": alice.uid, "to": 4242, "content": "anyone?"})
    assert reply == {"error": "unknown recipient 4242"}


@pytest.mark.parametrize(
    "frame,problem",
    [
        ({"to": 2, "content": "x"}, 'field "from" is required'),
        ({"from": 1, "content": "x"}, 'field "to" is required'),
        ({"from": 1, "to": 2}, 'field "content" is required'),
        ({"from": "1", "to": 2, "content": "x"}, 'field "from" must be an integer'),
        ({"from": 1, "to": True, "content": "x"}, 'field "to" must be an integer'),
        ({"from": 1, "to": -2, "content": "x"}, 'field "to" must be between 1'),
        ({"from": 1, "to": 2**64, "content": "x"}, 'field "to" must be between 1'),
        ({"from": 1, "to": 2, "content": 5}, 'field "content" must be a string'),
        ({"from": 1, "to": 2, "content": "  "}, "content must not be empty"),
        ({"from": 1, "to": 2, "content": "x" * 4097}, "too long"),
    ],
)
async def test_bad_direct_frames_get_an_error_naming_the_problem(
    server: Server, clients: Clients, frame: dict, problem: str
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    assert (alice.uid, bob.uid) == (1, 2)
    ws = await clients.json("/", token=alice.token)
    reply = await ws.request(frame)
    assert problem in reply["error"]


async def test_an_offline_recipient_finds_the_message_in_the_history(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    sender = await clients.json("/", token=alice.token)
    await sender.send({"from": alice.uid, "to": bob.uid, "content": "while you were out"})
    sent = await sender.receive()
    async with http_client(server) as client:
        room = await client.get(f"/dm/{alice.uid}", headers=bob.auth)
        same_room = await client.get(f"/dm/{bob.uid}", headers=alice.auth)
        history = await client.get(f"/messages/{room.json()['RoomID']}", headers=bob.auth)
    assert room.json() == same_room.json()
    [message] = history.json()
    assert (message["MessageID"], message["UID"], message["Text"]) == (
        sent["id"],
        alice.uid,
        "while you were out",
    )


async def test_a_third_user_cannot_read_a_direct_conversation(
    server: Server, clients: Clients
) -> None:
    alice, bob, eve = (
        await account(server, "alice"),
        await account(server, "bob"),
        await account(server, "eve"),
    )
    sender = await clients.json("/", token=alice.token)
    await sender.send({"from": alice.uid, "to": bob.uid, "content": "private"})
    await sender.receive()
    async with http_client(server) as client:
        room_id = (await client.get(f"/dm/{bob.uid}", headers=alice.auth)).json()["RoomID"]
        read = await client.get(f"/messages/{room_id}", headers=eve.auth)
        describe = await client.get(f"/room/{room_id}", headers=eve.auth)
        join = await client.put("/join", headers=eve.auth, json={"RoomID": room_id})
        invite = await client.put(
            "/invite", headers=alice.auth, json={"RoomID": room_id, "UID": eve.uid}
        )
    assert (read.status_code, describe.status_code, join.status_code, invite.status_code) == (
        403,
        403,
        403,
        403,
    )
    eve_ws = await clients.json("/ws", token=eve.token)
    assert (await eve_ws.request({"Type": "enter", "RoomID": room_id}))["Type"] == "error"


async def test_dm_room_lookup_errors(server: Server) -> None:
    alice = await account(server, "alice")
    async with http_client(server) as client:
        unknown = await client.get("/dm/999", headers=alice.auth)
        invalid = await client.get("/dm/nobody", headers=alice.auth)
        anonymous = await client.get(f"/dm/{alice.uid}")
    assert (unknown.status_code, invalid.status_code, anonymous.status_code) == (404, 400, 401)


async def test_a_direct_conversation_names_its_two_users(server: Server) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    async with http_client(server) as client:
        room_id = (await client.get(f"/dm/{alice.uid}", headers=bob.auth)).json()["RoomID"]
        described = await client.get(f"/room/{room_id}", headers=alice.auth)
        lobby_id = (await client.get("/rooms", headers=alice.auth)).json()[0]
        lobby = await client.get(f"/room/{lobby_id}", headers=alice.auth)
    assert described.status_code == 200
    assert described.json()["UIDs"] == sorted([alice.uid, bob.uid])
    assert described.json()["IsPrivate"] is True
    assert "UIDs" not in lobby.json()  # only direct conversations have a fixed pair


async def test_a_direct_message_sent_while_the_recipients_connection_gets_ready_reaches_it(
    server: Server, clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    sender = await clients.json("/ws", token=alice.token)
    # A /ws connection is answered once its user's rooms are indexed (a database read,
    # which a busy server may take a while over), and subscribed before: bob's waits
    # until released.
    waiting, released = trio.Event(), trio.Event()
    ready = Activity.ready

    async def slow_ready(activity: Activity, user_id: int) -> None:
        await ready(activity, user_id)
        if user_id == bob.uid:
            waiting.set()
            await released.wait()

    monkeypatch.setattr(Activity, "ready", slow_ready)
    laptops: list[JsonClient] = []

    async def connect() -> None:
        laptops.append(await clients.json("/ws", token=bob.token))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(connect)
        with trio.fail_after(STEP):
            await waiting.wait()
        await sender.send({"from": alice.uid, "to": bob.uid, "content": "early"})
        assert (await sender.receive())["content"] == "early"  # stored and delivered
        released.set()
    assert (await laptops[0].receive())["content"] == "early"
