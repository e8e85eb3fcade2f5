"""Entering a room with its newest page: ``{"Type": "enter", "RoomID", "Page": n}`` on /ws.

The ``entered`` frame carries the room's n newest messages (``"Messages"``), newest first
and shaped as ``GET /messages/{roomID}?limit=n`` pages them; the live frames follow, with
nothing missing and nothing twice where the two meet. A switch of rooms is then one round
trip instead of two.
"""

from __future__ import annotations

import pytest
import trio
from support import (
    Clients,
    Server,
    account,
    create_room,
    entered,
    http_client,
    open_clients,
    post_confirmed,
)
from test_frame_limits import assert_refused, limited_server

from chat.core.config import Config

LOBBY = 1


async def test_entered_carries_the_newest_messages_newest_first_as_a_page_of_get_messages(
    server: Server, clients: Clients
) -> None:
    reader, writer = await account(server, "reader"), await account(server, "writer")
    room_id = await create_room(server, writer, "news", reader)
    writing = await entered(clients, writer, room_id)
    posted = await post_confirmed(writing, "one", "two", "three", "four")
    async with http_client(server) as client:
        page = (await client.get(f"/messages/{room_id}?limit=3", headers=reader.auth)).json()

    ws = await clients.json("/ws", token=reader.token)
    answer = await ws.request({"Type": "enter", "RoomID": room_id, "Page": 3, "Presence": False})

    assert answer == {"Type": "entered", "RoomID": room_id, "Name": "news", "Messages": page}
    assert [m["MessageID"] for m in answer["Messages"]] == [m["MessageID"] for m in posted[:0:-1]]


async def test_an_empty_room_is_entered_with_an_empty_page(
    server: Server, clients: Clients
) -> None:
    owner = await account(server, "owner")
    room_id = await create_room(server, owner, "quiet")
    ws = await clients.json("/ws", token=owner.token)
    answer = await ws.request({"Type": "enter", "RoomID": room_id, "Page": 50, "Presence": False})
    assert answer == {"Type": "entered", "RoomID": room_id, "Name": "quiet", "Messages": []}


async def test_an_enter_without_page_carries_no_messages(server: Server, clients: Clients) -> None:
    owner = await account(server, "owner")
    room_id = await create_room(server, owner, "plain")
    writing = await entered(clients, owner, room_id)
    await post_confirmed(writing, "hello")
    ws = await clients.json("/ws", token=owner.token)
    answer = await ws.request({"Type": "enter", "RoomID": room_id, "Presence": False})
    assert answer == {"Type": "entered", "RoomID": room_id, "Name": "plain"}


async def test_the_page_and_the_live_messages_meet_with_no_gap_and_no_duplicate(
    server: Server, clients: Clients
) -> None:
    reader, writer = await account(server, "reader"), await account(server, "writer")
    room_id = await create_room(server, writer, "busy", reader)
    writing = await entered(clients, writer, room_id)
    await post_confirmed(writing, "before")
    sent = 40
    ws = await clients.json("/ws", token=reader.token)
    # The writer keeps writing while the reader enters, so messages are committed while
    # its page is read: each must be on one side of the seam, once.
    async with trio.open_nursery() as nursery:

        async def keep_writing() -> None:
            for i in range(sent):
                await writing.send({"Type": "message", "Text": f"during {i}"})
                await trio.sleep(0.002)

        nursery.start_soon(keep_writing)
        await trio.sleep(0.02)
        answer = await ws.request(
            {"Type": "enter", "RoomID": room_id, "Page": 100, "Presence": False}
        )
        texts = [m["Text"] for m in reversed(answer["Messages"])]
        assert texts[0] == "before"
        while len(texts) < sent + 1:
            texts.append((await ws.receive())["Text"])
    assert texts == ["before"] + [f"during {i}" for i in range(sent)]


async def test_the_page_shows_edits_deletions_and_reactions_as_they_are_now(
    server: Server, clients: Clients
) -> None:
    owner = await account(server, "owner")
    room_id = await create_room(server, owner, "changes")
    writing = await entered(clients, owner, room_id)
    kept, edited, deleted = await post_confirmed(writing, "kept", "typo", "oops")
    for change, answer in (
        ({"Type": "edit", "MessageID": edited["MessageID"], "Text": "fixed"}, "edited"),
        ({"Type": "delete", "MessageID": deleted["MessageID"]}, "deleted"),
        ({"Type": "react", "MessageID": kept["MessageID"], "Emoji": "👍"}, "reactions"),
    ):
        assert (await writing.request(change))["Type"] == answer

    ws = await clients.json("/ws", token=owner.token)
    answer = await ws.request({"Type": "enter", "RoomID": room_id, "Page": 10, "Presence": False})

    newest, middle, oldest = answer["Messages"]
    assert (newest["MessageID"], newest["Deleted"], newest["Text"]) == (
        deleted["MessageID"],
        True,
        "",
    )
    assert (middle["Text"], middle["EditedAt"] is not None) == ("fixed", True)
    assert oldest["Reactions"] == [{"Emoji": "👍", "Count": 1, "UIDs": [owner.uid]}]


async def test_the_page_comes_before_the_people_present(server: Server, clients: Clients) -> None:
    owner = await account(server, "owner")
    room_id = await create_room(server, owner, "people")
    writing = await entered(clients, owner, room_id)
    await post_confirmed(writing, "hi")
    ws = await clients.json("/ws", token=owner.token)
    answer = await ws.request({"Type": "enter", "RoomID": room_id, "Page": 5, "Presence": "list"})
    assert answer["Type"] == "entered" and len(answer["Messages"]) == 1
    present = await ws.receive()
    assert present["Type"] == "presence-list" and present["RoomID"] == room_id


@pytest.mark.parametrize("page", [0, 101, -1, "50", 1.5, True, [50]])
async def test_a_bad_page_is_refused_and_the_client_stays_where_it_was(
    server: Server, clients: Clients, page: object
) -> None:
    owner = await account(server, "owner")
    room_id = await create_room(server, owner, "elsewhere")
    ws = await entered(clients, owner, room_id)
    answer = await ws.request({"Type": "enter", "RoomID": LOBBY, "Page": page, "Presence": False})
    assert answer == {
        "Type": "error",
        "Error": 'field "Page" must be an integer between 1 and 100',
    }
    (still_here,) = await post_confirmed(ws, "still here")
    assert still_here["RoomID"] == room_id


async def test_page_and_since_id_together_are_refused(server: Server, clients: Clients) -> None:
    owner = await account(server, "owner")
    ws = await clients.json("/ws", token=owner.token)
    answer = await ws.request(
        {"Type": "enter", "RoomID": LOBBY, "Page": 10, "SinceID": 0, "Presence": False}
    )
    assert answer["Type"] == "error"
    assert answer["Error"].startswith('give "SinceID"') and '"Page"' in answer["Error"]


async def test_a_non_member_gets_no_page_of_a_private_room(
    server: Server, clients: Clients
) -> None:
    owner, stranger = await account(server, "owner"), await account(server, "stranger")
    async with http_client(server) as client:
        created = await client.post(
            "/create-room", headers=owner.auth, json={"Name": "secret", "IsPrivate": True}
        )
    room_id = created.json()["RoomID"]
    writing = await entered(clients, owner, room_id)
    await post_confirmed(writing, "for members only")
    ws = await clients.json("/ws", token=stranger.token)
    answer = await ws.request({"Type": "enter", "RoomID": room_id, "Page": 10, "Presence": False})
    assert answer == {"Type": "error", "Error": f"you are not a member of room {room_id}"}


async def test_a_page_is_a_history_request_past_whose_limit_the_client_stays_where_it_was(
    nursery: trio.Nursery, config: Config
) -> None:
    server, user = await limited_server(nursery, config, "switcher", rate_history="2/minute")
    room_id = await create_room(server, user, "mine")
    async with open_clients(server) as clients:
        ws = await clients.json("/ws", token=user.token)
        for room in (room_id, LOBBY):
            answer = await ws.request(
                {"Type": "enter", "RoomID": room, "Page": 5, "Presence": False}
            )
            assert answer["Type"] == "entered", answer
        refused = await ws.request(
            {"Type": "enter", "RoomID": room_id, "Page": 5, "Presence": False}
        )
        assert_refused(refused, "too many history requests")
        (still_here,) = await post_confirmed(ws, "still in the lobby")
        assert still_here["RoomID"] == LOBBY


async def test_a_page_is_charged_to_the_history_budget(
    nursery: trio.Nursery, config: Config
) -> None:
    server, user = await limited_server(nursery, config, "reader", rate_history_bytes=2000)
    async with open_clients(server) as clients:
        writing = await entered(clients, user, LOBBY)
        await post_confirmed(writing, *[f"{n:04}" + "x" * 500 for n in range(6)])
        ws = await clients.json("/ws", token=user.token)
        enter = {"Type": "enter", "RoomID": LOBBY, "Page": 6, "Presence": False}
        answer = await ws.request(enter)
        assert len(answer["Messages"]) == 6  # more than the budget, sent all the same
        assert_refused(await ws.request(enter), "too much history sent")
