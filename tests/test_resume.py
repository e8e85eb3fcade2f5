"""Resuming a room after a reconnection: ``{"Type": "enter", "RoomID", "SinceID"}`` on /ws."""

from __future__ import annotations

import pytest
import trio
from support import (
    STEP,
    Clients,
    Server,
    account,
    create_room,
    http_client,
    post_confirmed,
)

import chat.app.service
from chat.app.history.backlog import MAX_RESUME


async def test_since_id_sends_the_missed_messages_oldest_first_after_entered(
    server: Server, clients: Clients
) -> None:
    reader, writer = await account(server, "reader"), await account(server, "writer")
    room_id = await create_room(server, writer, "news", reader)
    writing = await clients.json("/ws", token=writer.token)
    await writing.request({"Type": "enter", "RoomID": room_id, "Presence": False})
    seen, *missed = await post_confirmed(writing, "seen", "missed 1", "missed 2")

    resumed = await clients.json("/ws", token=reader.token)
    entered = await resumed.request(
        {"Type": "enter", "RoomID": room_id, "SinceID": seen["MessageID"], "Presence": False}
    )
    assert entered == {"Type": "entered", "RoomID": room_id, "Name": "news"}
    assert [await resumed.receive() for _ in missed] == missed


async def test_a_resume_goes_live_with_no_gap_and_no_duplicate(
    server: Server, clients: Clients
) -> None:
    reader, writer = await account(server, "reader"), await account(server, "writer")
    room_id = await create_room(server, writer, "busy", reader)
    writing = await clients.json("/ws", token=writer.token)
    await writing.request({"Type": "enter", "RoomID": room_id, "Presence": False})
    (first,) = await post_confirmed(writing, "before")
    resumed = await clients.json("/ws", token=reader.token)
    sent = []
    # The writer keeps writing while the reader resumes, so messages are stored during
    # the backlog's query and must land on one side of the seam or the other, once.
    async with trio.open_nursery() as nursery:

        async def keep_writing() -> None:
            for i in range(30):
                await writing.send({"Type": "message", "Text": f"during {i}"})
                sent.append(i)
                await trio.sleep(0.002)

        nursery.start_soon(keep_writing)
        await resumed.request(
            {"Type": "enter", "RoomID": room_id, "SinceID": first["MessageID"], "Presence": False}
        )
        texts = [(await resumed.receive())["Text"] for _ in range(30)]
    assert texts == [f"during {i}" for i in range(30)]


async def test_since_id_zero_resumes_from_the_rooms_first_message(
    server: Server, clients: Clients
) -> None:
    owner = await account(server, "owner")
    room_id = await create_room(server, owner, "room")
    writing = await clients.json("/ws", token=owner.token)
    await writing.request({"Type": "enter", "RoomID": room_id, "Presence": False})
    posted = await post_confirmed(writing, "one", "two")
    resumed = await clients.json("/ws", token=owner.token)
    await resumed.request({"Type": "enter", "RoomID": room_id, "SinceID": 0, "Presence": False})
    assert [await resumed.receive() for _ in posted] == posted


async def test_a_resume_sends_only_the_entered_rooms_messages(
    server: Server, clients: Clients
) -> None:
    owner = await account(server, "owner")
    here, elsewhere = (
        await create_room(server, owner, "here"),
        await create_room(server, owner, "elsewhere"),
    )
    other = await clients.json("/ws", token=owner.token)
    await other.request({"Type": "enter", "RoomID": elsewhere, "Presence": False})
    await post_confirmed(other, "not for you")
    writing = await clients.json("/ws", token=owner.token)
    await writing.request({"Type": "enter", "RoomID": here, "Presence": False})
    (mine,) = await post_confirmed(writing, "for you")
    resumed = await clients.json("/ws", token=owner.token)
    await resumed.request({"Type": "enter", "RoomID": here, "SinceID": 0, "Presence": False})
    assert await resumed.receive() == mine
    # Nothing else was sent: the next frame is the answer to the next request.
    await resumed.ws.send_message("ping")
    with trio.fail_after(STEP):
        assert await resumed.ws.get_message() == "pong"


async def test_a_resume_past_the_bound_says_where_to_page_back(
    server: Server, clients: Clients
) -> None:
    owner = await account(server, "owner")
    room_id = await create_room(server, owner, "long")
    writing = await clients.json("/ws", token=owner.token)
    await writing.request({"Type": "enter", "RoomID": room_id, "Presence": False})
    ids: list[int] = []
    async with trio.open_nursery() as nursery:

        async def confirmations() -> None:
            while len(ids) < MAX_RESUME + 5:
                ids.append((await writing.receive())["MessageID"])

        nursery.start_soon(confirmations)
        for i in range(MAX_RESUME + 5):
            await writing.send({"Type": "message", "Text": f"m{i}"})
    resumed = await clients.json("/ws", token=owner.token)
    await resumed.request({"Type": "enter", "RoomID": room_id, "SinceID": 0, "Presence": False})
    truncated = await resumed.receive()
    kept = ids[-MAX_RESUME:]
    assert truncated["Type"] == "truncated"
    assert (truncated["RoomID"], truncated["SinceID"], truncated["BeforeID"]) == (
        room_id,
        0,
        kept[0],
    )
    assert f"/messages/{room_id}?last_id={kept[0]}" in truncated["Error"]
    received = [(await resumed.receive())["MessageID"] for _ in kept]
    assert received == kept
    # The page it points to is exactly what was left out.
    async with http_client(server) as client:
        page = await client.get(f"/messages/{room_id}?last_id={kept[0]}", headers=owner.auth)
    assert [m["MessageID"] for m in page.json()] == ids[: len(ids) - MAX_RESUME][::-1]


async def test_a_since_id_newer_than_every_message_is_an_error(
    server: Server, clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chat.app.service, "RESUME_WAIT_S", 0.2)
    owner = await account(server, "owner")
    room_id = await create_room(server, owner, "room")
    ws = await clients.json("/ws", token=owner.token)
    answer = await ws.request(
        {"Type": "enter", "RoomID": room_id, "SinceID": 10**9, "Presence": False}
    )
    assert answer["Type"] == "error"
    assert "SinceID 1000000000 is newer than the newest message" in answer["Error"]
    # The client is in no room, and the connection works.
    assert (await ws.request({"Type": "message", "Text": "x"}))["Error"].startswith("enter a room")


@pytest.mark.parametrize("since", [-1, "5", 1.5, True])
async def test_a_bad_since_id_is_refused(server: Server, clients: Clients, since: object) -> None:
    owner = await account(server, "owner")
    ws = await clients.json("/ws", token=owner.token)
    answer = await ws.request({"Type": "enter", "RoomID": 1, "SinceID": since, "Presence": False})
    assert answer["Type"] == "error" and "SinceID" in answer["Error"]


async def test_a_non_member_cannot_resume_a_private_room(server: Server, clients: Clients) -> None:
    owner, stranger = await account(server, "owner"), await account(server, "stranger")
    async with http_client(server) as client:
        created = await client.post(
            "/create-room", headers=owner.auth, json={"Name": "secret", "IsPrivate": True}
        )
    room_id = created.json()["RoomID"]
    ws = await clients.json("/ws", token=stranger.token)
    answer = await ws.request({"Type": "enter", "RoomID": room_id, "SinceID": 0, "Presence": False})
    assert answer == {"Type": "error", "Error": f"you are not a member of room {room_id}"}
