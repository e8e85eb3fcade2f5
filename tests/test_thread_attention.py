"""What a thread's replies ask of people outside the thread: a reply not sent to the room
is not the room's unread nor its mentions (``GET /rooms/unread``), nor its activity,
except that those it mentions are told (an activity frame with Mention, wherever they
are), and so are the thread's followers (without Mention), each frame naming the thread
(ThreadID). A reply also sent to the
room is one of the room's messages in every way."""

from __future__ import annotations

from typing import Any

from support import Account, Clients, JsonClient, Server, account, create_room, entered, http_client
from test_activity import _nothing_within, _watching


async def _counts(server: Server, user: Account, room_id: int) -> dict[str, Any]:
    async with http_client(server) as client:
        response = await client.get("/rooms/unread", headers=user.auth)
    assert response.status_code == 200, response.text
    (row,) = [row for row in response.json() if row["RoomID"] == room_id]
    return {"Unread": row["Unread"], "Mentions": row["Mentions"]}


async def _reply(writer: JsonClient, frame: dict[str, Any]) -> dict[str, Any]:
    """Send a thread reply: its echo, past the root's new summary that follows it."""
    echo = await writer.request(frame)
    assert (await writer.receive())["Type"] == "thread"
    return echo


async def _thread(server: Server, clients: Clients) -> tuple[Account, int, JsonClient, int]:
    """Alice and Bob in a room, Alice's connection in it, and the root of a thread she
    started there, which Bob has read up to."""
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    writer = await entered(clients, alice, room_id)
    root = (await writer.request({"Type": "message", "Text": "root"}))["MessageID"]
    reader = await entered(clients, bob, room_id)
    await reader.request({"Type": "read", "RoomID": room_id, "MessageID": root})
    return bob, room_id, writer, root


async def test_thread_replies_not_sent_to_the_room_are_not_its_unread(
    server: Server, clients: Clients
) -> None:
    bob, room_id, writer, root = await _thread(server, clients)
    for text in ("one", "two"):
        await _reply(writer, {"Type": "message", "Text": text, "ThreadID": root})
    assert await _counts(server, bob, room_id) == {"Unread": 0, "Mentions": 0}


async def test_a_thread_reply_also_sent_to_the_room_is_its_unread(
    server: Server, clients: Clients
) -> None:
    bob, room_id, writer, root = await _thread(server, clients)
    sent = {"Type": "message", "Text": "both", "ThreadID": root, "AlsoToRoom": True}
    await _reply(writer, sent)
    assert await _counts(server, bob, room_id) == {"Unread": 1, "Mentions": 0}


async def test_a_thread_reply_mentioning_someone_is_not_the_rooms_mention(
    server: Server, clients: Clients
) -> None:
    bob, room_id, writer, root = await _thread(server, clients)
    for text in ("@bob see here", "@room all of you"):
        await _reply(writer, {"Type": "message", "Text": text, "ThreadID": root})
    also = {"Type": "message", "Text": "@bob and here", "ThreadID": root, "AlsoToRoom": True}
    await _reply(writer, also)
    assert await _counts(server, bob, room_id) == {"Unread": 1, "Mentions": 1}


async def test_a_thread_reply_is_not_activity_for_the_room(
    server: Server, clients: Clients
) -> None:
    bob, _room_id, writer, root = await _thread(server, clients)
    watcher = await _watching(clients, bob)
    await _reply(writer, {"Type": "message", "Text": "quiet", "ThreadID": root})
    await _nothing_within(watcher, 1.2)


async def test_a_thread_reply_mentioning_someone_is_heard_by_them_as_a_mention(
    server: Server, clients: Clients
) -> None:
    bob, room_id, writer, root = await _thread(server, clients)
    watcher = await _watching(clients, bob)
    sent = await _reply(writer, {"Type": "message", "Text": "@bob here", "ThreadID": root})
    assert await watcher.receive() == {
        "Type": "activity",
        "RoomID": room_id,
        "MessageID": sent["MessageID"],
        "Mention": True,
        "ThreadID": root,
    }


async def test_a_thread_reply_is_heard_as_activity_by_the_threads_followers(
    server: Server, clients: Clients
) -> None:
    bob, room_id, writer, root = await _thread(server, clients)
    async with http_client(server) as client:
        followed = await client.put(f"/threads/{root}/follow", headers=bob.auth)
        assert followed.status_code == 200, followed.text
    watcher = await _watching(clients, bob)
    sent = await _reply(writer, {"Type": "message", "Text": "news", "ThreadID": root})
    assert await watcher.receive() == {
        "Type": "activity",
        "RoomID": room_id,
        "MessageID": sent["MessageID"],
        "Mention": False,
        "ThreadID": root,
    }
