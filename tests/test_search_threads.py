"""Finding thread replies and opening them: a search result that is a thread reply
carries its thread's root (``ThreadID``, and ``AlsoToRoom`` when so sent), and the page
of the room's history around a reply the main timeline leaves out is a 404 that names
the thread, whose own pages hold the reply, so a client opens the thread there."""

from __future__ import annotations

from typing import Any

from support import Account, Server, account, create_room, http_client
from test_search import search


async def _post(server: Server, user: Account, room_id: int, text: str, **fields: Any) -> Any:
    async with http_client(server) as client:
        posted = await client.post(
            f"/messages/{room_id}", headers=user.auth, json={"Text": text, **fields}
        )
    assert posted.status_code == 201, posted.text
    return posted.json()


async def _a_thread(server: Server) -> tuple[Account, int, int]:
    """alice, her room, and the root of a thread in it (no reply yet)."""
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "ops")
    return alice, room_id, (await _post(server, alice, room_id, "deploy at five?"))["MessageID"]


async def test_a_thread_reply_is_found_with_its_thread_root(server: Server) -> None:
    alice, room_id, root = await _a_thread(server)
    sent = await _post(server, alice, room_id, "the rollback plan is ready", ThreadID=root)
    (found,) = await search(server, alice, "rollback")
    assert found["ThreadID"] == root and "AlsoToRoom" not in found
    assert {k: v for k, v in found.items() if k != "Snippet"} == sent


async def test_a_thread_reply_also_sent_to_the_room_is_found_saying_so(server: Server) -> None:
    alice, room_id, root = await _a_thread(server)
    await _post(server, alice, room_id, "rollback done", ThreadID=root, AlsoToRoom=True)
    (found,) = await search(server, alice, "rollback")
    assert (found["ThreadID"], found["AlsoToRoom"]) == (root, True)


async def test_a_message_outside_threads_is_found_without_a_thread_id(server: Server) -> None:
    alice, _room_id, _root = await _a_thread(server)
    (found,) = await search(server, alice, "deploy")
    assert "ThreadID" not in found


async def _around(server: Server, user: Account, path: str) -> Any:
    async with http_client(server) as client:
        return await client.get(path, headers=user.auth)


async def test_history_around_a_thread_only_reply_names_its_thread(server: Server) -> None:
    alice, room_id, root = await _a_thread(server)
    reply = (await _post(server, alice, room_id, "in the thread", ThreadID=root))["MessageID"]
    for _ in range(2):  # the second may come from the room's window in memory
        answer = await _around(server, alice, f"/messages/{room_id}?around={reply}")
        assert answer.status_code == 404
        assert answer.json() == {
            "error": f"MessageID {reply} is a reply in thread {root} of room {room_id},"
            " not on the room's timeline: read it in the thread"
            f" (GET /messages/{room_id}/threads/{root}?around={reply})",
            "ThreadID": root,
        }


async def test_the_thread_named_holds_the_reply_around_which_it_opens(server: Server) -> None:
    alice, room_id, root = await _a_thread(server)
    reply = (await _post(server, alice, room_id, "in the thread", ThreadID=root))["MessageID"]
    named = (await _around(server, alice, f"/messages/{room_id}?around={reply}")).json()
    thread = await _around(
        server, alice, f"/messages/{room_id}/threads/{named['ThreadID']}?around={reply}"
    )
    assert thread.status_code == 200, thread.text
    assert [m["MessageID"] for m in thread.json()] == [reply, root]


async def test_history_around_a_reply_also_sent_to_the_room_is_the_rooms_page(
    server: Server,
) -> None:
    alice, room_id, root = await _a_thread(server)
    both = await _post(server, alice, room_id, "for all", ThreadID=root, AlsoToRoom=True)
    answer = await _around(server, alice, f"/messages/{room_id}?around={both['MessageID']}")
    assert answer.status_code == 200, answer.text
    assert [m["MessageID"] for m in answer.json()] == [both["MessageID"], root]


async def test_history_around_an_unknown_or_deleted_message_is_a_plain_404(
    server: Server,
) -> None:
    alice, room_id, root = await _a_thread(server)
    reply = (await _post(server, alice, room_id, "soon gone", ThreadID=root))["MessageID"]
    async with http_client(server) as client:
        deleted = await client.delete(f"/messages/{room_id}/{reply}", headers=alice.auth)
    assert deleted.status_code == 204, deleted.text
    for message_id in (reply, 987654):
        answer = await _around(server, alice, f"/messages/{room_id}?around={message_id}")
        assert answer.status_code == 404
        assert answer.json() == {
            "error": f"no message with MessageID {message_id} in room {room_id}"
        }
