"""Idempotent sends: a client's own id for a message (``ClientMsgID`` on /ws,
``client_msg_id`` on direct messages) makes resending it harmless."""

from __future__ import annotations

import pytest
import trio
from support import (
    STEP,
    Clients,
    Server,
    account,
    create_room,
    entered,
    room_history,
)


async def test_a_resend_stores_nothing_new_and_confirms_the_original(
    server: Server, clients: Clients
) -> None:
    sender = await account(server, "sender")
    room_id = await create_room(server, sender, "room")
    ws = await entered(clients, sender, room_id)
    await ws.send({"Type": "message", "Text": "hello", "ClientMsgID": "c-1"})
    original = await ws.receive()
    assert original["ClientMsgID"] == "c-1"
    reconnected = await entered(clients, sender, room_id)
    await reconnected.send({"Type": "message", "Text": "hello", "ClientMsgID": "c-1"})
    assert await reconnected.receive() == original
    assert [m["MessageID"] for m in await room_history(server, sender, room_id)] == [
        original["MessageID"]
    ]


async def test_nobody_else_receives_a_resend(server: Server, clients: Clients) -> None:
    sender, watcher = await account(server, "sender"), await account(server, "watcher")
    room_id = await create_room(server, sender, "room", watcher)
    watching = await entered(clients, watcher, room_id)
    ws = await entered(clients, sender, room_id)
    for _ in range(2):
        await ws.send({"Type": "message", "Text": "once", "ClientMsgID": "same"})
    await ws.send({"Type": "message", "Text": "then this"})
    assert [(await watching.receive())["Text"] for _ in range(2)] == ["once", "then this"]


async def test_a_resend_on_the_same_connection_is_confirmed_with_the_original_id(
    server: Server, clients: Clients
) -> None:
    sender = await account(server, "sender")
    room_id = await create_room(server, sender, "room")
    ws = await entered(clients, sender, room_id)
    # Pipelined: the resend is handled before the first one is even committed.
    await ws.send({"Type": "message", "Text": "x", "ClientMsgID": "dup"})
    await ws.send({"Type": "message", "Text": "x", "ClientMsgID": "dup"})
    first, second = await ws.receive(), await ws.receive()
    assert first["MessageID"] == second["MessageID"]
    assert len(await room_history(server, sender, room_id)) == 1


async def test_the_same_id_in_another_room_is_another_message(
    server: Server, clients: Clients
) -> None:
    sender = await account(server, "sender")
    one, two = await create_room(server, sender, "one"), await create_room(server, sender, "two")
    ids = []
    for room_id in (one, two):
        ws = await entered(clients, sender, room_id)
        await ws.send({"Type": "message", "Text": "x", "ClientMsgID": "same"})
        ids.append((await ws.receive())["MessageID"])
    assert ids[0] != ids[1]


async def test_the_same_id_from_another_user_is_another_message(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    alice_ws = await entered(clients, alice, room_id)
    bob_ws = await entered(clients, bob, room_id)
    await alice_ws.send({"Type": "message", "Text": "a", "ClientMsgID": "same"})
    await alice_ws.receive()
    await bob_ws.receive()
    await bob_ws.send({"Type": "message", "Text": "b", "ClientMsgID": "same"})
    assert (await alice_ws.receive())["Text"] == "b"
    assert len(await room_history(server, alice, room_id)) == 2


async def test_without_an_id_every_send_is_stored_and_frames_do_not_change(
    server: Server, clients: Clients
) -> None:
    sender = await account(server, "sender")
    room_id = await create_room(server, sender, "room")
    ws = await entered(clients, sender, room_id)
    for _ in range(2):
        await ws.send({"Type": "message", "Text": "same text"})
    frames = [await ws.receive(), await ws.receive()]
    assert frames[0]["MessageID"] != frames[1]["MessageID"]
    fields = {"Type", "MessageID", "RoomID", "UID", "Username", "Text", "CreatedAt"}
    fields |= {"EditedAt", "Reactions", "Mentions"}
    assert all(set(f) == fields for f in frames)  # no ClientMsgID


async def test_the_id_is_kept_in_theroom_history(server: Server, clients: Clients) -> None:
    sender = await account(server, "sender")
    room_id = await create_room(server, sender, "room")
    ws = await entered(clients, sender, room_id)
    await ws.send({"Type": "message", "Text": "x", "ClientMsgID": "kept"})
    sent = await ws.receive()
    (stored,) = await room_history(server, sender, room_id)
    assert stored == {k: v for k, v in sent.items() if k != "Type"}


@pytest.mark.parametrize(
    "client_msg_id,problem",
    [
        ("", "must be 1 to 64 characters long"),
        ("x" * 65, "must be 1 to 64 characters long"),
        (42, "must be a string"),
        ("a\nb", "must not contain control characters"),
        ("\ud800", "lone UTF-16 surrogate"),
    ],
    ids=["empty", "too-long", "number", "newline", "lone-surrogate"],
)
async def test_a_bad_id_is_refused_and_nothing_is_stored(
    server: Server, clients: Clients, client_msg_id: object, problem: str
) -> None:
    sender = await account(server, "sender")
    room_id = await create_room(server, sender, "room")
    ws = await entered(clients, sender, room_id)
    answer = await ws.request({"Type": "message", "Text": "x", "ClientMsgID": client_msg_id})
    assert answer["Type"] == "error"
    assert problem in answer["Error"], answer
    assert await room_history(server, sender, room_id) == []


async def test_a_bad_id_is_not_repeated_in_the_error(server: Server, clients: Clients) -> None:
    sender = await account(server, "sender")
    room_id = await create_room(server, sender, "room")
    ws = await entered(clients, sender, room_id)
    answer = await ws.request({"Type": "message", "Text": "x", "ClientMsgID": "x" * 65})
    assert "ClientMsgID" not in answer


async def test_an_error_answering_a_message_names_it_by_its_client_msg_id(
    server: Server, clients: Clients
) -> None:
    sender = await account(server, "sender")
    room_id = await create_room(server, sender, "room")
    ws = await entered(clients, sender, room_id)
    await ws.send({"Type": "message", "Text": "fine", "ClientMsgID": "m-1"})
    await ws.send({"Type": "message", "Text": "   ", "ClientMsgID": "m-2"})
    await ws.send({"Type": "message", "Text": "ding\x07", "ClientMsgID": "m-3"})
    # Refusals are sent at once, while "fine" may still be committing: the ids, not the
    # order, say which answer is whose.
    answers = sorted([await ws.receive() for _ in range(3)], key=lambda a: a["ClientMsgID"])
    assert (answers[0]["Type"], answers[0]["Text"]) == ("message", "fine")
    assert answers[1:] == [
        {"Type": "error", "Error": "message text must not be empty", "ClientMsgID": "m-2"},
        {
            "Type": "error",
            "Error": "message text must not contain control characters other than line"
            " breaks and tabs (U+0007)",
            "ClientMsgID": "m-3",
        },
    ]


async def test_an_error_answering_a_direct_message_names_it_by_its_client_msg_id(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    ws = await clients.json("/ws", token=alice.token)
    answer = await ws.request(
        {"from": alice.uid, "to": 4242, "content": "hi", "client_msg_id": "dm-9"}
    )
    assert answer == {"error": "unknown recipient 4242", "client_msg_id": "dm-9"}


async def test_a_resent_direct_message_stores_nothing_new(server: Server, clients: Clients) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    bob_ws = await clients.json("/ws", token=bob.token)
    alice_ws = await clients.json("/ws", token=alice.token)
    frame = {"from": alice.uid, "to": bob.uid, "content": "hi", "client_msg_id": "dm-1"}
    await alice_ws.send(frame)
    original = await alice_ws.receive()
    assert original["client_msg_id"] == "dm-1"
    assert await bob_ws.receive() == original
    await alice_ws.send(frame)
    assert await alice_ws.receive() == original
    # Bob hears nothing more: his next frame is the answer to his own ping.
    await bob_ws.ws.send_message("ping")
    with trio.fail_after(STEP):
        assert await bob_ws.ws.get_message() == "pong"


async def test_a_bad_direct_message_id_is_refused(server: Server, clients: Clients) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    ws = await clients.json("/ws", token=alice.token)
    answer = await ws.request(
        {"from": alice.uid, "to": bob.uid, "content": "hi", "client_msg_id": ""}
    )
    assert answer == {"error": 'field "client_msg_id" must be 1 to 64 characters long'}
