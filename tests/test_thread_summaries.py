"""A thread's summary under its root: ``"Thread": {"Replies", "LastReplyAt",
"Participants"}`` in history (from memory and from the table) and in the ``thread``
change every connection of the room receives when a reply is stored or deleted, with its
``Seq``; exact after deletions (who replied first, the newest reply), absent once no reply
shows, untouched by edits, and the first ten repliers only."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from support import (
    Account,
    Clients,
    JsonClient,
    Server,
    StoppableServer,
    account,
    create_room,
    entered,
    http_client,
    open_clients,
    start_server,
)

from chat.core.config import Config
from chat.core.outgoing import OutgoingMessage
from chat.core.records import NewMessage
from chat.store import open_store


async def _room_of(
    server: Server, clients: Clients, *names: str
) -> tuple[list[Account], int, list[JsonClient]]:
    """Accounts named `names`, a room of the first with all of them, and each one's
    connection in it."""
    people = [await account(server, name) for name in names]
    room_id = await create_room(server, people[0], "room", *people[1:])
    return people, room_id, [await entered(clients, person, room_id) for person in people]


async def _next_of_type(ws: JsonClient, kind: str) -> dict[str, Any]:
    with trio.fail_after(10):
        while (frame := await ws.receive())["Type"] != kind:
            pass
    return frame


async def _said(ws: JsonClient, text: str) -> dict[str, Any]:
    """Say `text` in the room: its stored message."""
    await ws.send({"Type": "message", "Text": text, "ClientMsgID": text})
    with trio.fail_after(10):
        while (frame := await ws.receive()).get("ClientMsgID") != text:
            pass
    return frame


async def _reply(ws: JsonClient, root_id: int, text: str) -> dict[str, Any]:
    """Reply `text` in thread `root_id`: its stored message, past the frames of others
    the connection hears meanwhile."""
    await ws.send({"Type": "message", "Text": text, "ThreadID": root_id, "ClientMsgID": text})
    with trio.fail_after(10):
        while (frame := await ws.receive()).get("ClientMsgID") != text:
            pass
    return frame


async def _history_root(server: Server, user: Account, room_id: int) -> dict[str, Any]:
    async with http_client(server) as client:
        response = await client.get(f"/messages/{room_id}", headers=user.auth)
    assert response.status_code == 200, response.text
    (root,) = [m for m in response.json() if m["Text"] == "root" or m.get("Deleted")]
    return root


async def test_each_reply_sends_every_connection_the_roots_new_summary_with_its_seq(
    server: Server, clients: Clients
) -> None:
    (alice, bob), room_id, (ws_a, ws_b) = await _room_of(server, clients, "alice", "bob")
    root = await _said(ws_a, "root")
    reply = await _reply(ws_b, root["MessageID"], "re")
    for ws in (ws_a, ws_b):
        change = await _next_of_type(ws, "thread")
        assert change == {
            "Type": "thread",
            "RoomID": room_id,
            "MessageID": root["MessageID"],
            "Thread": {
                "Replies": 1,
                "LastReplyAt": reply["CreatedAt"],
                "Participants": [bob.uid],
            },
            "Seq": change["Seq"],
        }
        assert change["Seq"] > reply["MessageID"]
    del alice


@pytest.mark.parametrize("cache_mb", [64, 0], ids=["memory", "table"])
async def test_history_shows_the_summary_under_the_root(
    nursery: trio.Nursery, config: Config, cache_mb: int
) -> None:
    server = await start_server(nursery, config.replace(history_cache_mb=cache_mb))
    async with open_clients(server) as clients:
        (alice, bob, carol), room_id, (ws_a, ws_b, ws_c) = await _room_of(
            server, clients, "alice", "bob", "carol"
        )
        root = await _said(ws_a, "root")
        await _history_root(server, alice, room_id)  # opens the room's window, if any
        await _reply(ws_c, root["MessageID"], "1")
        await _reply(ws_b, root["MessageID"], "2")
        last = await _reply(ws_c, root["MessageID"], "3")
        while (await _next_of_type(ws_a, "thread"))["Thread"]["Replies"] < 3:
            pass
        shown = await _history_root(server, alice, room_id)
    assert shown["Thread"] == {
        "Replies": 3,
        "LastReplyAt": last["CreatedAt"],
        "Participants": [carol.uid, bob.uid],
    }


async def test_a_deleted_reply_leaves_the_summary_exact(server: Server, clients: Clients) -> None:
    (alice, bob, carol), room_id, (ws_a, ws_b, ws_c) = await _room_of(
        server, clients, "alice", "bob", "carol"
    )
    root = await _said(ws_a, "root")
    first = await _reply(ws_c, root["MessageID"], "carol first")
    second = await _reply(ws_b, root["MessageID"], "bob second")
    while (await _next_of_type(ws_a, "thread"))["Thread"]["Replies"] != 2:
        pass
    await ws_c.send({"Type": "delete", "MessageID": first["MessageID"]})
    change = await _next_of_type(ws_a, "thread")
    assert change["Thread"] == {
        "Replies": 1,
        "LastReplyAt": second["CreatedAt"],
        "Participants": [bob.uid],
    }
    assert (await _history_root(server, alice, room_id))["Thread"] == change["Thread"]
    del carol


async def test_a_thread_with_no_reply_left_shows_no_summary(
    server: Server, clients: Clients
) -> None:
    (alice,), room_id, (ws,) = await _room_of(server, clients, "alice")
    root = await _said(ws, "root")
    reply = await _reply(ws, root["MessageID"], "soon gone")
    await _next_of_type(ws, "thread")
    await ws.send({"Type": "delete", "MessageID": reply["MessageID"]})
    change = await _next_of_type(ws, "thread")
    assert change["Thread"] == {"Replies": 0, "LastReplyAt": None, "Participants": []}
    assert "Thread" not in await _history_root(server, alice, room_id)


async def test_an_edited_reply_changes_nothing_in_the_summary(
    server: Server, clients: Clients
) -> None:
    (alice,), room_id, (ws,) = await _room_of(server, clients, "alice")
    root = await _said(ws, "root")
    reply = await _reply(ws, root["MessageID"], "typo")
    before = (await _next_of_type(ws, "thread"))["Thread"]
    await ws.send({"Type": "edit", "MessageID": reply["MessageID"], "Text": "fixed"})
    assert (await ws.receive())["Type"] == "edited"  # and no thread change
    assert (await _history_root(server, alice, room_id))["Thread"] == before


async def test_the_summary_names_the_first_ten_repliers(server: Server, clients: Clients) -> None:
    names = [f"user{n}" for n in range(12)]
    people, room_id, connections = await _room_of(server, clients, *names)
    root = await _said(connections[0], "root")
    for n, ws in reversed(list(enumerate(connections))[1:]):  # user11 replies first
        await _reply(ws, root["MessageID"], f"me too {n}")
    while (await _next_of_type(connections[0], "thread"))["Thread"]["Replies"] < 11:
        pass  # counted soon after the replies, a few at a time
    shown = await _history_root(server, people[0], room_id)
    assert shown["Thread"]["Replies"] == 11
    assert shown["Thread"]["Participants"] == [p.uid for p in reversed(people[2:])]


async def test_replies_no_summary_counted_are_counted_when_a_server_starts(
    nursery: trio.Nursery, config: Config
) -> None:
    # As if an instance stopped between storing replies and counting them: stored here
    # by the store alone, with no server to count them.
    restartable = StoppableServer(nursery, config)
    server = await restartable.start()
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    async with http_client(server) as client:
        answer = await client.post(
            f"/messages/{room_id}", json={"Text": "root"}, headers=alice.auth
        )
    root_id = answer.json()["MessageID"]
    await restartable.stop()
    async with open_store(config) as store:
        sent = OutgoingMessage("re", thread_id=root_id)
        await store.add_messages(
            [NewMessage(room_id, bob.uid, sent), NewMessage(room_id, alice.uid, sent)]
        )
    server = await restartable.start()
    with trio.fail_after(10):
        while "Thread" not in (root := await _history_root(server, alice, room_id)):  # noqa: ASYNC110 (over HTTP)
            await trio.sleep(0.02)
    assert (root["Thread"]["Replies"], root["Thread"]["Participants"]) == (2, [bob.uid, alice.uid])
