"""Edits: ``{"Type": "edit", "MessageID", "Text"}`` by the message's
author is committed, then every connection in the room (the author's included, as its
confirmation) receives an ``edited`` frame with the new text, when, and its position
``Seq``; every version is kept (``GET /messages/{roomID}/{messageID}/edits``); only the
author may edit, within CHAT_EDIT_WINDOW."""

from __future__ import annotations

from pathlib import Path

import trio
from support import (
    Clients,
    Server,
    account,
    create_room,
    entered,
    http_client,
    open_clients,
    room_history,
    server_config,
    start_server,
)


async def test_an_edit_reaches_everyone_in_the_room_the_author_included(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    author, reader = await entered(clients, alice, room_id), await entered(clients, bob, room_id)
    sent = await author.request({"Type": "message", "Text": "teh plan"})
    await reader.receive()
    await author.send({"Type": "edit", "MessageID": sent["MessageID"], "Text": "the plan"})
    seen = [await author.receive(), await reader.receive()]
    assert seen[0] == seen[1]
    edited = seen[0]
    assert {k: edited[k] for k in ("Type", "RoomID", "MessageID", "Text")} == {
        "Type": "edited",
        "RoomID": room_id,
        "MessageID": sent["MessageID"],
        "Text": "the plan",
    }
    assert edited["Seq"] > sent["MessageID"]  # the same sequence as message ids
    assert edited["EditedAt"] >= sent["CreatedAt"]


async def test_history_shows_the_edited_text_and_when(server: Server, clients: Clients) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    ws = await entered(clients, alice, room_id)
    sent = await ws.request({"Type": "message", "Text": "draft"})
    edited = await ws.request({"Type": "edit", "MessageID": sent["MessageID"], "Text": "final"})
    (item,) = await room_history(server, alice, room_id)
    assert (item["Text"], item["EditedAt"]) == ("final", edited["EditedAt"])


async def test_a_message_never_edited_has_a_null_edited_at(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    sent = await (await entered(clients, alice, room_id)).request({"Type": "message", "Text": "x"})
    assert sent["EditedAt"] is None
    (item,) = await room_history(server, alice, room_id)
    assert item["EditedAt"] is None


async def test_every_version_is_kept_oldest_first(server: Server, clients: Clients) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    ws = await entered(clients, alice, room_id)
    sent = await ws.request({"Type": "message", "Text": "one"})
    for text in ("two", "three"):
        await ws.request({"Type": "edit", "MessageID": sent["MessageID"], "Text": text})
    async with http_client(server) as client:
        response = await client.get(
            f"/messages/{room_id}/{sent['MessageID']}/edits", headers=alice.auth
        )
    assert response.status_code == 200, response.text
    versions = response.json()
    assert [v["Text"] for v in versions] == ["one", "two", "three"]
    assert versions[0]["At"] == sent["CreatedAt"]
    assert versions == sorted(versions, key=lambda v: v["At"])


async def test_the_versions_are_for_members_only(server: Server, clients: Clients) -> None:
    alice, eve = await account(server, "alice"), await account(server, "eve")
    room_id = await create_room(server, alice, "room", private=True)
    sent = await (await entered(clients, alice, room_id)).request({"Type": "message", "Text": "x"})
    async with http_client(server) as client:
        response = await client.get(
            f"/messages/{room_id}/{sent['MessageID']}/edits", headers=eve.auth
        )
    assert response.status_code == 403, response.text


async def test_only_the_author_may_edit(server: Server, clients: Clients) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    author, other = await entered(clients, alice, room_id), await entered(clients, bob, room_id)
    sent = await author.request({"Type": "message", "Text": "mine"})
    await other.receive()
    answer = await other.request({"Type": "edit", "MessageID": sent["MessageID"], "Text": "no"})
    assert answer == {
        "Type": "error",
        "Error": f"only the author of message {sent['MessageID']} may edit it",
        "MessageID": sent["MessageID"],
    }
    (item,) = await room_history(server, alice, room_id)
    assert item["Text"] == "mine"


async def test_an_edit_of_an_unknown_message_names_it_in_the_error(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    ws = await entered(clients, alice, room_id)
    answer = await ws.request({"Type": "edit", "MessageID": 424242, "Text": "x"})
    assert answer == {
        "Type": "error",
        "Error": f"no message with MessageID 424242 in room {room_id}",
        "MessageID": 424242,
    }


async def test_a_message_of_another_room_cannot_be_edited_from_here(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    here, there = await create_room(server, alice, "here"), await create_room(server, alice, "t")
    elsewhere = await (await entered(clients, alice, there)).request(
        {"Type": "message", "Text": "over there"}
    )
    ws = await entered(clients, alice, here)
    answer = await ws.request({"Type": "edit", "MessageID": elsewhere["MessageID"], "Text": "x"})
    assert answer["Error"] == f"no message with MessageID {elsewhere['MessageID']} in room {here}"


async def test_an_edit_is_held_to_the_message_text_rules(server: Server, clients: Clients) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    ws = await entered(clients, alice, room_id)
    sent = await ws.request({"Type": "message", "Text": "fine"})
    blank = await ws.request({"Type": "edit", "MessageID": sent["MessageID"], "Text": "  "})
    assert blank["Error"] == "message text must not be empty"
    assert blank["MessageID"] == sent["MessageID"]
    multi = await ws.request({"Type": "edit", "MessageID": sent["MessageID"], "Text": "a\nb"})
    assert multi["Text"] == "a\nb"


async def test_an_edit_to_the_same_text_changes_nothing(server: Server, clients: Clients) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    ws = await entered(clients, alice, room_id)
    sent = await ws.request({"Type": "message", "Text": "same"})
    answer = await ws.request({"Type": "edit", "MessageID": sent["MessageID"], "Text": "same"})
    assert answer == {
        "Type": "edited",
        "RoomID": room_id,
        "MessageID": sent["MessageID"],
        "Text": "same",
        "EditedAt": None,
        "Mentions": [],
    }  # the present state, no Seq: nothing joined the stream


async def test_the_edit_window_closes_editing_after_its_seconds(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    server = await start_server(nursery, server_config(tmp_path, None, edit_window=0.5))
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    async with open_clients(server) as clients:
        ws = await entered(clients, alice, room_id)
        sent = await ws.request({"Type": "message", "Text": "quick"})
        in_time = await ws.request({"Type": "edit", "MessageID": sent["MessageID"], "Text": "ok"})
        assert in_time["Type"] == "edited"
        await trio.sleep(0.6)
        late = await ws.request({"Type": "edit", "MessageID": sent["MessageID"], "Text": "late"})
    assert late["Error"] == (
        f"message {sent['MessageID']} can no longer be edited: messages may be edited"
        " for 0.5 s after they are sent"
    )


async def test_an_edit_before_entering_a_room_is_refused(server: Server, clients: Clients) -> None:
    alice = await account(server, "alice")
    ws = await clients.json("/ws", token=alice.token)
    answer = await ws.request({"Type": "edit", "MessageID": 1, "Text": "x"})
    assert answer["Error"] == 'enter a room first: {"Type": "enter", "RoomID": <id>}'
    assert answer["MessageID"] == 1
