"""The WebSocket room protocol of spec 004 on /ws, and ping/pong on every path."""

from __future__ import annotations

import pytest
import trio
from support import STEP, Clients, Server, account, create_room, http_client, raw_upgrade

# --- the handshake ---


@pytest.mark.parametrize(
    "target",
    ["/ws", "/ws?token=", "/ws?token=garbage", "/?token=garbage"],
    ids=["no-token", "empty-token", "bad-token", "bad-token-on-root"],
)
async def test_a_missing_or_bad_token_is_refused_at_the_handshake_with_401(
    server: Server, target: str
) -> None:
    response = await raw_upgrade(server, target)
    assert response.startswith(b"HTTP/1.1 401 ")
    assert b'"error"' in response


async def test_the_token_may_come_in_the_authorization_header(
    server: Server, clients: Clients
) -> None:
    user = await account(server, "user")
    response = await raw_upgrade(server, "/ws", f"Authorization: Bearer {user.token}\r\n")
    assert response.startswith(b"HTTP/1.1 101 ")


# --- enter and message ---


async def test_enter_then_message_reaches_everyone_in_the_room_including_the_sender(
    server: Server, clients: Clients
) -> None:
    """Spec 004's own frames, as its example sends them; the presence frames that come
    with them by default are asserted too (tests/test_presence.py has the rest)."""
    owner, guest = await account(server, "owner"), await account(server, "guest")
    room_id = await create_room(server, owner, "general")
    async with http_client(server) as client:
        await client.put("/join", headers=guest.auth, json={"RoomID": room_id})
    a = await clients.json("/ws", token=owner.token)
    b = await clients.json("/ws", token=guest.token)
    assert await a.request({"Type": "enter", "RoomID": room_id}) == {
        "Type": "entered",
        "RoomID": room_id,
        "Name": "general",
    }
    assert (await a.receive())["Username"] == "owner"  # presence: who is here
    await b.request({"Type": "enter", "RoomID": room_id})
    for client, names in ((b, ["guest", "owner"]), (a, ["guest"])):
        arrivals = [await client.receive() for _ in names]
        assert sorted(f["Username"] for f in arrivals if f["Type"] == "presence") == names

    await a.send({"Type": "message", "Text": "my message"})
    for client in (a, b):
        frame = await client.receive()
        assert frame["Type"] == "message"
        assert (frame["RoomID"], frame["UID"], frame["Username"], frame["Text"]) == (
            room_id,
            owner.uid,
            "owner",
            "my message",
        )
        assert isinstance(frame["MessageID"], int) and frame["CreatedAt"].endswith("Z")


async def test_messages_only_reach_the_room_they_were_sent_to(
    server: Server, clients: Clients
) -> None:
    owner = await account(server, "owner")
    first, second = (
        await create_room(server, owner, "first"),
        await create_room(server, owner, "second"),
    )
    here = await clients.json("/ws", token=owner.token)
    there = await clients.json("/ws", token=owner.token)
    await here.request({"Type": "enter", "RoomID": first, "Presence": False})
    await there.request({"Type": "enter", "RoomID": second, "Presence": False})
    await here.send({"Type": "message", "Text": "for the first room"})
    assert (await here.receive())["Text"] == "for the first room"
    await there.send({"Type": "message", "Text": "for the second room"})
    assert (await there.receive())["Text"] == "for the second room"  # nothing came first


async def test_one_room_at_a_time_and_room_zero_leaves(server: Server, clients: Clients) -> None:
    owner = await account(server, "owner")
    first, second = (
        await create_room(server, owner, "first"),
        await create_room(server, owner, "second"),
    )
    mover = await clients.json("/ws", token=owner.token)
    speaker = await clients.json("/ws", token=owner.token)
    await mover.request({"Type": "enter", "RoomID": first, "Presence": False})
    await mover.request({"Type": "enter", "RoomID": second, "Presence": False})
    await speaker.request({"Type": "enter", "RoomID": first, "Presence": False})
    await speaker.send({"Type": "message", "Text": "to first"})
    await speaker.receive()
    assert await mover.request({"Type": "enter", "RoomID": 0}) == {"Type": "left", "RoomID": second}
    await mover.send({"Type": "message", "Text": "nowhere"})
    reply = await mover.receive()  # not "to first": the mover had left that room
    assert reply == {
        "Type": "error",
        "Error": 'enter a room first: {"Type": "enter", "RoomID": <id>}',
    }


async def test_entering_a_room_you_are_not_a_member_of_is_an_error(
    server: Server, clients: Clients
) -> None:
    owner, intruder = await account(server, "owner"), await account(server, "intruder")
    private = await create_room(server, owner, "secret", private=True)
    public = await create_room(server, owner, "open")
    ws = await clients.json("/ws", token=intruder.token)
    for room_id in (private, public):  # public rooms must be joined first
        reply = await ws.request({"Type": "enter", "RoomID": room_id, "Presence": False})
        assert reply["Type"] == "error" and "not a member" in reply["Error"]
    unknown = await ws.request({"Type": "enter", "RoomID": 999})
    assert unknown["Type"] == "error" and "no room" in unknown["Error"]
    # And nothing posted there reaches the intruder.
    insider = await clients.json("/ws", token=owner.token)
    await insider.request({"Type": "enter", "RoomID": private, "Presence": False})
    await insider.send({"Type": "message", "Text": "secret plans"})
    await insider.receive()
    await ws.send({"Type": "message", "Text": "can I post?"})
    assert (await ws.receive())["Type"] == "error"


async def test_the_lobby_joins_the_room_protocol_and_tokentalker(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    async with http_client(server) as client:
        lobby_id = (await client.get("/rooms", headers=alice.auth)).json()[0]
    room_client = await clients.json("/ws", token=alice.token)
    await room_client.request({"Type": "enter", "RoomID": lobby_id, "Presence": False})
    talker = await clients.talker(token=bob.token)
    await talker.say("from tokentalker")
    assert (await room_client.receive())["Text"] == "from tokentalker"
    await room_client.send({"Type": "message", "Text": "from /ws"})
    assert (await talker.receive())["message"] == "from /ws"


@pytest.mark.parametrize(
    "frame,problem",
    [
        ("not json", "frame is not valid JSON"),
        ("[1]", "frame must be a JSON object"),
        ('{"RoomID": 1}', 'field "Type" is required'),
        ('{"Type": 1}', 'field "Type" must be a string'),
        ('{"Type": "dance"}', "unknown Type 'dance'"),
        ('{"Type": "enter"}', 'field "RoomID" is required'),
        ('{"Type": "enter", "RoomID": "1"}', 'field "RoomID" must be an integer'),
        ('{"Type": "enter", "RoomID": -1}', 'field "RoomID" must be between 0'),
        ('{"Type": "enter", "RoomID": 1e3}', 'field "RoomID" must be an integer'),
        ('{"Type": "enter", "RoomID": 99999999999999999999}', 'field "RoomID" must be between 0'),
        ('{"Type": "message"}', 'field "Text" is required'),
        ('{"Type": "message", "Text": null}', 'field "Text" must be a string'),
    ],
)
async def test_bad_frames_get_an_error_frame_naming_the_problem(
    server: Server, clients: Clients, frame: str, problem: str
) -> None:
    user = await account(server, "user")
    ws = await clients.json("/ws", token=user.token)
    reply = await ws.request(frame)
    assert reply["Type"] == "error"
    assert problem in reply["Error"]
    assert (await ws.request({"Type": "enter", "RoomID": 0}))["Type"] == "left"  # still usable


async def test_text_limits_apply_to_room_messages(server: Server, clients: Clients) -> None:
    owner = await account(server, "owner")
    room_id = await create_room(server, owner, "r")
    ws = await clients.json("/ws", token=owner.token)
    await ws.request({"Type": "enter", "RoomID": room_id, "Presence": False})
    for text, problem in (("", "must not be empty"), ("x" * 4097, "too long")):
        reply = await ws.request({"Type": "message", "Text": text})
        assert reply["Type"] == "error" and problem in reply["Error"]


# --- ping ---


@pytest.mark.parametrize("path", ["/", "/ws"])
async def test_ping_is_answered_with_pong(server: Server, clients: Clients, path: str) -> None:
    user = await account(server, "user")
    ws = await clients.connect(f"{path}?token={user.token}")
    await ws.send_message("ping")
    with trio.fail_after(STEP):
        assert await ws.get_message() == "pong"


async def test_ping_needs_no_token_on_the_root_path(clients: Clients) -> None:
    ws = await clients.connect("/")
    await ws.send_message("ping")
    with trio.fail_after(STEP):
        assert await ws.get_message() == "pong"
