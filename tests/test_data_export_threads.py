"""A user's data export holds their thread replies as their other messages (``GET
/me/export``'s messages.jsonl): each with its thread's root (``ThreadID``) and whether
it was sent to the room too (``AlsoToRoom``); a message outside threads has a null
``ThreadID``."""

from __future__ import annotations

from support import Server, account, create_room
from test_data_export import archive_of, export, lines
from test_threads import _post


async def test_an_export_holds_the_users_thread_replies_with_their_thread(
    server: Server,
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, bob, "ops", alice)
    root = await _post(server, bob, room_id, "deploy at five?")
    await _post(server, alice, room_id, "in the thread", ThreadID=root)
    await _post(server, alice, room_id, "to all", ThreadID=root, AlsoToRoom=True)
    await _post(server, alice, room_id, "outside")
    await _post(server, bob, room_id, "bob's reply", ThreadID=root)
    response = await export(server, alice)
    assert response.status_code == 200, response.text
    messages = lines(archive_of(response.content), "messages.jsonl")
    assert [(m["Text"], m["ThreadID"], m["AlsoToRoom"]) for m in messages] == [
        ("in the thread", root, False),
        ("to all", root, True),
        ("outside", None, False),
    ]
    assert {m["Room"]["RoomID"] for m in messages} == {room_id}
