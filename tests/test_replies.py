"""Replies: a room message may name, with ``ReplyTo``, an earlier
message of the same room; the stored message and every frame and history item of it
carry it, and a ReplyTo that is not a message of that room is refused with nothing
stored."""

from __future__ import annotations

import pytest
from support import Clients, Server, account, create_room, entered, room_history


async def test_a_reply_names_the_message_it_answers_live_and_inroom_history(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    asker, answerer = await entered(clients, alice, room_id), await entered(clients, bob, room_id)
    question = await asker.request({"Type": "message", "Text": "lunch?"})
    assert (await answerer.receive())["MessageID"] == question["MessageID"]
    await answerer.send({"Type": "message", "Text": "yes!", "ReplyTo": question["MessageID"]})
    for ws in (asker, answerer):  # the answerer's own copy is its confirmation
        frame = await ws.receive()
        assert (frame["Text"], frame["ReplyTo"]) == ("yes!", question["MessageID"])
    newest, oldest = await room_history(server, alice, room_id)
    assert newest["ReplyTo"] == question["MessageID"]
    assert "ReplyTo" not in oldest  # not a reply: no ReplyTo at all, as before replies


async def test_a_resumed_room_sends_replies_with_what_they_answer(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    ws = await entered(clients, alice, room_id)
    first = await ws.request({"Type": "message", "Text": "one"})
    await ws.request({"Type": "message", "Text": "two", "ReplyTo": first["MessageID"]})
    again = await clients.json("/ws", token=alice.token)
    await again.send(
        {"Type": "enter", "RoomID": room_id, "SinceID": first["MessageID"], "Presence": False}
    )
    frames = [await again.receive(), await again.receive()]
    answer, reply = sorted(frames, key=lambda frame: frame["Type"])
    assert answer["Type"] == "entered"
    assert (reply["Text"], reply["ReplyTo"]) == ("two", first["MessageID"])


async def test_a_reply_to_a_message_of_another_room_is_refused_and_nothing_is_stored(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    here = await create_room(server, alice, "here")
    there = await create_room(server, alice, "there")
    elsewhere = await (await entered(clients, alice, there)).request(
        {"Type": "message", "Text": "over there"}
    )
    ws = await entered(clients, alice, here)
    answer = await ws.request(
        {"Type": "message", "Text": "re", "ReplyTo": elsewhere["MessageID"], "ClientMsgID": "r1"}
    )
    assert answer == {
        "Type": "error",
        "Error": f"ReplyTo {elsewhere['MessageID']} is not a message of room {here}",
        "ClientMsgID": "r1",
    }
    assert await room_history(server, alice, here) == []


async def test_a_reply_to_an_unknown_message_gets_the_same_answer(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    ws = await entered(clients, alice, room_id)
    answer = await ws.request({"Type": "message", "Text": "re", "ReplyTo": 987654})
    assert answer == {
        "Type": "error",
        "Error": f"ReplyTo 987654 is not a message of room {room_id}",
    }
    assert await room_history(server, alice, room_id) == []


@pytest.mark.parametrize(
    "reply_to,problem",
    [
        ("1", 'field "ReplyTo" must be an integer'),
        (0, 'field "ReplyTo" must be between 1'),
        (-3, 'field "ReplyTo" must be between 1'),
        (True, 'field "ReplyTo" must be an integer'),
    ],
)
async def test_a_reply_to_that_is_not_an_id_is_refused(
    server: Server, clients: Clients, reply_to: object, problem: str
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    ws = await entered(clients, alice, room_id)
    answer = await ws.request({"Type": "message", "Text": "re", "ReplyTo": reply_to})
    assert answer["Type"] == "error" and problem in answer["Error"], answer


async def test_a_null_reply_to_is_no_reply(server: Server, clients: Clients) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    ws = await entered(clients, alice, room_id)
    frame = await ws.request({"Type": "message", "Text": "plain", "ReplyTo": None})
    assert frame["Text"] == "plain" and "ReplyTo" not in frame
