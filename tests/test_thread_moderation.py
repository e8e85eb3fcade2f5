"""A room's moderation holds for its thread replies as for its messages, over /ws and
``POST /messages/{roomID}`` alike: a muted member's reply is refused with the room's
words, slow mode counts replies and room messages as one stream of sends, and a member
banned or removed from the room cannot reply in its threads. The rules are the store's,
checked in the transaction that stores a batch (`chat.store.room_rules`), whatever the
message is."""

from __future__ import annotations

from typing import Any

import trio
from support import Account, Clients, JsonClient, Server, entered
from test_room_moderation import call, ok, receive_type, refused, team


async def _thread(server: Server, clients: Clients) -> tuple[Account, Account, int, int]:
    """The moderator and the member of `team`'s room, its id, and the root of a thread
    the moderator started there."""
    _owner, mod, member, room_id = await team(server)
    root = await ok(server, mod, "POST", f"/messages/{room_id}", {"Text": "root"})
    return mod, member, room_id, root["MessageID"]


def _reply(root: int, text: str = "in thread", **fields: Any) -> dict[str, Any]:
    return {"Type": "message", "Text": text, "ThreadID": root, **fields}


async def _muted(server: Server, mod: Account, member: Account, room_id: int) -> str:
    """Mute `member` for ten minutes; the words a send of theirs is refused with."""
    answer = await ok(server, mod, "PUT", f"/room/{room_id}/mutes/{member.uid}", {"Seconds": 600})
    return f"you are muted in room {room_id} until {answer['Until']}"


async def test_a_muted_members_thread_reply_is_refused_on_ws_as_a_room_message_is(
    server: Server, clients: Clients
) -> None:
    mod, member, room_id, root = await _thread(server, clients)
    ws = await entered(clients, member, room_id)
    error = await _muted(server, mod, member, room_id)
    await receive_type(ws, "muted")
    for frame in (_reply(root, ClientMsgID="t-1"), _reply(root, AlsoToRoom=True)):
        refusal = await ws.request(frame)
        expected = {"Type": "error", "Error": error}
        if "ClientMsgID" in frame:
            expected["ClientMsgID"] = frame["ClientMsgID"]
        assert refusal == expected
    room_message = await ws.request({"Type": "message", "Text": "plain"})
    assert room_message == {"Type": "error", "Error": error}


async def test_a_muted_members_posted_thread_reply_is_refused_as_a_room_message_is(
    server: Server, clients: Clients
) -> None:
    mod, member, room_id, root = await _thread(server, clients)
    error = await _muted(server, mod, member, room_id)
    path = f"/messages/{room_id}"
    assert await refused(server, member, "POST", path, {"Text": "x", "ThreadID": root}) == (
        403,
        error,
    )
    assert await refused(server, member, "POST", path, {"Text": "x"}) == (403, error)
    thread = await ok(server, mod, "GET", f"/messages/{room_id}/threads/{root}")
    assert [m["Text"] for m in thread] == ["root"]


async def _slowed(server: Server, clients: Clients) -> tuple[JsonClient, Account, int, int]:
    """The member's connection in the room once slow mode is on (60 s); the member, the
    room and the thread's root."""
    mod, member, room_id, root = await _thread(server, clients)
    await ok(server, mod, "PUT", f"/room/{room_id}/settings", {"SlowModeSeconds": 60})
    return await entered(clients, member, room_id), member, room_id, root


def _assert_slowed(answer: dict[str, Any], room_id: int) -> None:
    assert answer["Type"] == "error" and answer["RetryAfter"] in range(58, 61), answer
    assert answer["Error"] == (
        f"slow mode: you may send again in room {room_id} in {answer['RetryAfter']} s"
    )


async def test_slow_mode_refuses_a_thread_reply_after_a_room_message(
    server: Server, clients: Clients
) -> None:
    ws, _member, room_id, root = await _slowed(server, clients)
    assert (await ws.request({"Type": "message", "Text": "one"}))["Type"] == "message"
    _assert_slowed(await ws.request(_reply(root)), room_id)


async def test_slow_mode_refuses_a_room_message_after_a_thread_reply(
    server: Server, clients: Clients
) -> None:
    ws, _member, room_id, root = await _slowed(server, clients)
    assert (await ws.request(_reply(root)))["Type"] == "message"
    assert (await ws.receive())["Type"] == "thread"  # the root's new summary
    _assert_slowed(await ws.request({"Type": "message", "Text": "two"}), room_id)
    _assert_slowed(await ws.request(_reply(root, "again")), room_id)


async def test_slow_mode_refuses_a_posted_thread_reply_after_a_ws_message(
    server: Server, clients: Clients
) -> None:
    ws, member, room_id, root = await _slowed(server, clients)
    assert (await ws.request({"Type": "message", "Text": "one"}))["Type"] == "message"
    body = {"Text": "posted", "ThreadID": root}
    response = await call(server, member, "POST", f"/messages/{room_id}", body)
    assert response.status_code == 429, response.text
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert response.json()["error"].startswith(f"slow mode: you may send again in room {room_id}")


async def test_slow_mode_does_not_slow_a_moderators_thread_replies(
    server: Server, clients: Clients
) -> None:
    mod, _member, room_id, root = await _thread(server, clients)
    await ok(server, mod, "PUT", f"/room/{room_id}/settings", {"SlowModeSeconds": 60})
    for text in ("one", "two"):
        await ok(server, mod, "POST", f"/messages/{room_id}", {"Text": text, "ThreadID": root})


async def _out_of_the_room(
    server: Server, clients: Clients, how: str
) -> tuple[JsonClient, Account, Account, int, int]:
    """The member's connection in the room once the moderator has removed or banned them
    (and it has been told): the connection, the moderator, the member, the room, the
    thread's root."""
    mod, member, room_id, root = await _thread(server, clients)
    ws = await entered(clients, member, room_id)
    if how == "ban":
        await ok(server, mod, "PUT", f"/room/{room_id}/bans/{member.uid}", {"Reason": "spam"})
    else:
        await ok(server, mod, "DELETE", f"/room/{room_id}/members/{member.uid}")
    await receive_type(ws, "removed")
    return ws, mod, member, room_id, root


async def _cannot_reply(server: Server, clients: Clients, how: str) -> None:
    ws, mod, member, room_id, root = await _out_of_the_room(server, clients, how)
    answer = await ws.request(_reply(root))
    assert answer["Type"] == "error" and "enter a room first" in answer["Error"]
    again = await ws.request({"Type": "enter", "RoomID": room_id})
    assert again["Type"] == "error", again
    body = {"Text": "still here", "ThreadID": root}
    assert await refused(server, member, "POST", f"/messages/{room_id}", body) == (
        403,
        f"you are not a member of room {room_id}",
    )
    thread = await ok(server, mod, "GET", f"/messages/{room_id}/threads/{root}")
    assert [m["Text"] for m in thread] == ["root"]


async def test_a_banned_member_cannot_reply_in_a_thread(server: Server, clients: Clients) -> None:
    await _cannot_reply(server, clients, "ban")


async def test_a_removed_member_cannot_reply_in_a_thread(server: Server, clients: Clients) -> None:
    await _cannot_reply(server, clients, "remove")


async def test_a_ban_placed_while_a_connection_is_still_in_the_room_holds_back_its_reply(
    server: Server, clients: Clients
) -> None:
    """The store decides, whatever the connection's view: a ban committed a moment
    before a reply, before the connection has heard of it, still refuses the reply."""
    mod, member, room_id, root = await _thread(server, clients)
    ws = await entered(clients, member, room_id)
    await ok(server, mod, "PUT", f"/room/{room_id}/bans/{member.uid}", {"Reason": "spam"})
    # The reply may be handled before or after the "removed" notice: either way it is
    # refused (by the store, or for want of a room) and no thread reply is stored.
    await ws.send(_reply(root, ClientMsgID="late"))
    seen: dict[str, dict[str, Any]] = {}
    with trio.fail_after(5):
        while not {"removed", "error"} <= seen.keys():
            frame = await ws.receive()
            assert frame["Type"] != "message", frame
            seen[frame["Type"]] = frame
    assert seen["error"]["ClientMsgID"] == "late"
    thread = await ok(server, mod, "GET", f"/messages/{room_id}/threads/{root}")
    assert [m["Text"] for m in thread] == ["root"]
