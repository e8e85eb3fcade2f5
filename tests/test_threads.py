"""Threads: a room message may reply in a thread started by another message of the same
room, naming its root with ``ThreadID`` (on /ws and ``POST /messages/{roomID}``); the
stored reply and every frame of it carry it, a reply naming a reply joins the root's
thread, and a root that is not a visible message of the room is refused with nothing
stored. Thread replies stay out of the room's main timeline (its pages, an ``enter``'s
page, a resume, a TokenTalker's history, from memory and from the table) unless also
sent to the room."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from support import (
    Account,
    Clients,
    JsonClient,
    Server,
    account,
    create_room,
    entered,
    http_client,
    open_clients,
    room_history,
    start_server,
)

from chat.core.config import Config

LOBBY = 1


async def _two_in_a_room(
    server: Server, clients: Clients
) -> tuple[Account, int, JsonClient, JsonClient]:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    return (
        alice,
        room_id,
        await entered(clients, alice, room_id),
        await entered(clients, bob, room_id),
    )


async def _root(sender: JsonClient, other: JsonClient, text: str = "root") -> dict[str, Any]:
    root = await sender.request({"Type": "message", "Text": text})
    assert (await other.receive())["MessageID"] == root["MessageID"]
    return root


async def test_a_thread_reply_carries_its_root_live_to_every_connection_of_the_room(
    server: Server, clients: Clients
) -> None:
    _alice, _room_id, asker, answerer = await _two_in_a_room(server, clients)
    root = await _root(asker, answerer)
    await answerer.send({"Type": "message", "Text": "in thread", "ThreadID": root["MessageID"]})
    for ws in (asker, answerer):  # the answerer's own copy is its confirmation
        frame = await ws.receive()
        assert (frame["Text"], frame["ThreadID"]) == ("in thread", root["MessageID"])
        assert "AlsoToRoom" not in frame


async def test_a_thread_reply_also_sent_to_the_room_says_so_live_and_in_history(
    server: Server, clients: Clients
) -> None:
    alice, room_id, asker, answerer = await _two_in_a_room(server, clients)
    root = await _root(asker, answerer)
    sent = {"Type": "message", "Text": "both", "ThreadID": root["MessageID"], "AlsoToRoom": True}
    await answerer.send(sent)
    frame = await asker.receive()
    assert (frame["ThreadID"], frame["AlsoToRoom"]) == (root["MessageID"], True)
    newest, oldest = await room_history(server, alice, room_id)
    assert (newest["ThreadID"], newest["AlsoToRoom"]) == (root["MessageID"], True)
    assert "ThreadID" not in oldest  # the root: not in a thread itself


async def test_a_reply_naming_a_thread_reply_joins_the_roots_thread(
    server: Server, clients: Clients
) -> None:
    _alice, _room_id, asker, answerer = await _two_in_a_room(server, clients)
    root = await _root(asker, answerer)
    first = await asker.request({"Type": "message", "Text": "1", "ThreadID": root["MessageID"]})
    assert (await answerer.receive())["MessageID"] == first["MessageID"]
    assert (await answerer.receive())["Type"] == "thread"  # the root's new summary
    second = await answerer.request(
        {"Type": "message", "Text": "2", "ThreadID": first["MessageID"]}
    )
    assert second["ThreadID"] == root["MessageID"]


async def test_a_thread_root_of_another_room_is_refused_and_nothing_is_stored(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    here, there = (
        await create_room(server, alice, "here"),
        await create_room(server, alice, "there"),
    )
    elsewhere = await (await entered(clients, alice, there)).request(
        {"Type": "message", "Text": "over there"}
    )
    ws = await entered(clients, alice, here)
    answer = await ws.request(
        {"Type": "message", "Text": "re", "ThreadID": elsewhere["MessageID"], "ClientMsgID": "t1"}
    )
    assert answer == {
        "Type": "error",
        "Error": f"ThreadID {elsewhere['MessageID']} is not a message of room {here}",
        "ClientMsgID": "t1",
    }
    assert await room_history(server, alice, here) == []


async def test_a_deleted_thread_root_is_refused_as_an_unknown_one(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    ws = await entered(clients, alice, room_id)
    root = await ws.request({"Type": "message", "Text": "soon gone"})
    await ws.send({"Type": "delete", "MessageID": root["MessageID"]})
    assert (await ws.receive())["Type"] == "deleted"
    for thread_id in (root["MessageID"], 987654):
        answer = await ws.request({"Type": "message", "Text": "re", "ThreadID": thread_id})
        assert answer == {
            "Type": "error",
            "Error": f"ThreadID {thread_id} is not a message of room {room_id}",
        }


async def test_a_root_deleted_after_a_reply_refuses_the_next_reply_and_stores_nothing(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    ws = await entered(clients, alice, room_id)
    root = await ws.request({"Type": "message", "Text": "soon gone"})
    first = await ws.request({"Type": "message", "Text": "re 1", "ThreadID": root["MessageID"]})
    assert first["ThreadID"] == root["MessageID"]
    assert (await ws.receive())["Type"] == "thread"
    await ws.send({"Type": "delete", "MessageID": root["MessageID"]})
    assert (await ws.receive())["Type"] == "deleted"
    answer = await ws.request(
        {"Type": "message", "Text": "re 2", "ThreadID": root["MessageID"], "ClientMsgID": "r2"}
    )
    assert answer == {
        "Type": "error",
        "Error": f"ThreadID {root['MessageID']} is not a message of room {room_id}",
        "ClientMsgID": "r2",
    }
    async with http_client(server) as http:
        page = await http.get(
            f"/messages/{room_id}/threads/{root['MessageID']}", headers=alice.auth
        )
    assert [m["Text"] for m in page.json()] == ["re 1", ""]


async def test_a_message_deleted_after_a_reply_to_it_refuses_the_next_reply(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    ws = await entered(clients, alice, room_id)
    target = await ws.request({"Type": "message", "Text": "soon gone"})
    await ws.request({"Type": "message", "Text": "re 1", "ReplyTo": target["MessageID"]})
    await ws.send({"Type": "delete", "MessageID": target["MessageID"]})
    assert (await ws.receive())["Type"] == "deleted"
    answer = await ws.request({"Type": "message", "Text": "re 2", "ReplyTo": target["MessageID"]})
    assert answer == {
        "Type": "error",
        "Error": f"ReplyTo {target['MessageID']} is not a message of room {room_id}",
    }


async def test_also_to_room_without_a_thread_is_refused(server: Server, clients: Clients) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    ws = await entered(clients, alice, room_id)
    answer = await ws.request({"Type": "message", "Text": "x", "AlsoToRoom": True})
    assert answer == {"Type": "error", "Error": "AlsoToRoom needs a ThreadID"}
    assert await room_history(server, alice, room_id) == []


async def test_a_posted_thread_reply_names_its_root(server: Server) -> None:
    bot = await account(server, "bot")
    room_id = await create_room(server, bot, "builds")
    async with http_client(server) as client:
        root = await client.post(f"/messages/{room_id}", headers=bot.auth, json={"Text": "a"})
        root_id = root.json()["MessageID"]
        reply = await client.post(
            f"/messages/{room_id}",
            headers=bot.auth,
            json={"Text": "b", "ThreadID": root_id, "AlsoToRoom": False},
        )
        stray = await client.post(
            f"/messages/{room_id}", headers=bot.auth, json={"Text": "c", "ThreadID": 424242}
        )
    assert reply.status_code == 201 and reply.json()["ThreadID"] == root_id
    assert stray.status_code == 400
    assert stray.json() == {"error": f"ThreadID 424242 is not a message of room {room_id}"}


async def _post(server: Server, user: Account, room_id: int, text: str, **fields: Any) -> int:
    async with http_client(server) as client:
        response = await client.post(
            f"/messages/{room_id}", headers=user.auth, json={"Text": text, **fields}
        )
    assert response.status_code == 201, response.text
    return int(response.json()["MessageID"])


async def _a_thread(server: Server, user: Account, room_id: int) -> int:
    """A root, a thread reply, one also sent to the room, then a room message: the root's
    id. The main timeline holds the three texts "root", "both" and "after"."""
    root = await _post(server, user, room_id, "root")
    await _post(server, user, room_id, "thread only", ThreadID=root)
    await _post(server, user, room_id, "both", ThreadID=root, AlsoToRoom=True)
    await _post(server, user, room_id, "after")
    return root


async def _main_timeline_pages(server: Server, user: Account, room_id: int) -> list[list[str]]:
    """The texts of GET /messages's first page, its page after 0 and a page of the
    whole room entered (twice each: the second may come from memory), newest first."""
    pages = []
    async with http_client(server) as client:
        for _ in range(2):
            for query in ("", "?after=0"):
                response = await client.get(f"/messages/{room_id}{query}", headers=user.auth)
                pages.append([m["Text"] for m in response.json()])
    return pages


@pytest.mark.parametrize("cache_mb", [64, 0], ids=["memory", "table"])
async def test_the_main_timeline_leaves_out_thread_replies_not_sent_to_the_room(
    nursery: trio.Nursery, config: Config, cache_mb: int
) -> None:
    server = await start_server(nursery, config.replace(history_cache_mb=cache_mb))
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    await _a_thread(server, alice, room_id)
    for page in await _main_timeline_pages(server, alice, room_id):
        assert page == ["after", "both", "root"]
    async with open_clients(server) as clients:
        ws = await clients.json("/ws", token=alice.token)
        answer = await ws.request({"Type": "enter", "RoomID": room_id, "Page": 10})
        assert [m["Text"] for m in answer["Messages"]] == ["after", "both", "root"]


async def test_thread_replies_do_not_push_room_messages_out_of_a_talkers_history(
    server: Server,
) -> None:
    alice = await account(server, "alice")
    await _a_thread(server, alice, LOBBY)
    async with open_clients(server) as clients:
        talker = await clients.talker(token=alice.token, name="alice")
        for _ in range(2):  # the second from the window the first may have opened
            await talker.say("history 3")
            frames = [await talker.receive() for _ in range(3)]
            assert [frame["message"] for frame in frames] == ["root", "both", "after"]


async def test_a_resume_brings_the_main_timeline_without_thread_only_replies(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    root = await _a_thread(server, alice, room_id)
    again = await clients.json("/ws", token=alice.token)
    await again.send({"Type": "enter", "RoomID": room_id, "SinceID": root, "Presence": False})
    frames = [await again.receive() for _ in range(4)]
    assert sorted(f.get("Text", f["Type"]) for f in frames) == [
        "after",
        "both",
        "entered",
        "thread",  # the root's summary, changed since: two replies
    ]


def _replies_of(threads: list[dict[str, Any]]) -> list[int]:
    return [thread["Thread"]["Replies"] for thread in threads]


async def _threads(server: Server, user: Account, room_id: int) -> list[dict[str, Any]]:
    threads: list[dict[str, Any]] = await _get(server, user, f"/room/{room_id}/threads")
    return threads


async def _get(server: Server, user: Account, path: str) -> Any:
    async with http_client(server) as client:
        response = await client.get(path, headers=user.auth)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_thread_is_paged_as_a_room_with_its_root_oldest(server: Server) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    root = await _a_thread(server, alice, room_id)
    await _post(server, alice, room_id, "third", ThreadID=root)
    path = f"/messages/{room_id}/threads/{root}"
    whole = [m["Text"] for m in await _get(server, alice, path)]
    newest = await _get(server, alice, f"{path}?limit=2")
    older = await _get(server, alice, f"{path}?last_id={newest[-1]['MessageID']}")
    after = await _get(server, alice, f"{path}?after={root}&limit=2")
    around = await _get(server, alice, f"{path}?around={newest[-1]['MessageID']}&limit=3")
    assert whole == ["third", "both", "thread only", "root"]
    assert [m["Text"] for m in newest] == ["third", "both"]
    assert [m["Text"] for m in older] == ["thread only", "root"]
    assert [m["Text"] for m in after] == ["both", "thread only"]
    assert [m["Text"] for m in around] == ["third", "both", "thread only"]


async def test_a_thread_of_a_reply_or_of_another_room_is_not_found(server: Server) -> None:
    alice = await account(server, "alice")
    here, there = await create_room(server, alice, "here"), await create_room(server, alice, "b")
    root = await _post(server, alice, here, "root")
    reply = await _post(server, alice, here, "re", ThreadID=root)
    async with http_client(server) as client:
        for room_id, thread_id in ((here, reply), (there, root), (here, 987654)):
            response = await client.get(
                f"/messages/{room_id}/threads/{thread_id}", headers=alice.auth
            )
            assert response.status_code == 404
            assert response.json() == {"error": f"no thread {thread_id} in room {room_id}"}


async def test_a_rooms_threads_come_by_last_activity_with_their_summaries(
    server: Server,
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    first = await _post(server, alice, room_id, "first")
    second = await _post(server, alice, room_id, "second")
    await _post(server, alice, room_id, "quiet")  # no replies: not a thread yet
    await _post(server, bob, room_id, "b1", ThreadID=first)
    await _post(server, alice, room_id, "a2", ThreadID=second)
    await _post(server, alice, room_id, "a1", ThreadID=first)
    gone = await _post(server, bob, room_id, "b2", ThreadID=second)
    async with http_client(server) as client:
        await client.delete(f"/messages/{room_id}/{gone}", headers=bob.auth)
    with trio.fail_after(10):  # the summaries count the replies soon after them
        while _replies_of(threads := await _threads(server, bob, room_id)) != [2, 1]:  # noqa: ASYNC110 (over HTTP)
            await trio.sleep(0.02)
    assert [t["MessageID"] for t in threads] == [first, second]
    newest = await _get(server, alice, f"/messages/{room_id}/threads/{first}?limit=1")
    assert threads[0]["Thread"] == {
        "Replies": 2,
        "LastReplyAt": newest[0]["CreatedAt"],
        "Participants": [bob.uid, alice.uid],
    }
    assert (threads[1]["Thread"]["Replies"], threads[1]["Thread"]["Participants"]) == (
        1,
        [alice.uid],
    )
