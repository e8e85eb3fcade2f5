"""Archiving and deleting a group room (`chat.app.rooms.lifecycle`), on both backends:
who may, what an archived room refuses (409, on HTTP and on ``/ws``) and still answers,
the directory, the frames members get, the typed confirmation, and what a deletion
erases (messages, files) and keeps (other rooms, the audit log)."""

from __future__ import annotations

from typing import Any

import pytest
from files_support import post_files, upload
from support import (
    Account,
    Clients,
    Server,
    account,
    add_message,
    create_room,
    entered,
    select_rows,
)
from test_room_moderation import call, ok, ready, receive_type, refused, team
from test_support import operator

from chat.core.config import Config
from chat.core.errors import RoomArchived
from chat.core.moderation_records import AuditEntry
from chat.files.opening import storage_directory
from chat.store import open_store

ARCHIVED = "is archived: it is read-only until its owners unarchive it"


async def _archive(server: Server, who: Account, room_id: int, archived: bool = True) -> Any:
    return await ok(server, who, "PUT", f"/room/{room_id}/archive", {"Archived": archived})


async def _post(server: Server, who: Account, room_id: int, text: str) -> tuple[int, Any]:
    response = await call(server, who, "POST", f"/messages/{room_id}", {"Text": text})
    return response.status_code, response.json()


# --- archiving ---


async def test_an_owner_archives_a_room_and_its_shape_says_so(server: Server) -> None:
    owner, _mod, _member, room_id = await team(server)
    room = await _archive(server, owner, room_id)
    assert room["RoomID"] == room_id and room["Archived"] is True
    assert (await ok(server, owner, "GET", f"/room/{room_id}"))["Archived"] is True


async def test_moderators_and_members_may_not_archive(server: Server) -> None:
    _owner, mod, member, room_id = await team(server)
    for who in (mod, member):
        status, error = await refused(
            server, who, "PUT", f"/room/{room_id}/archive", {"Archived": True}
        )
        assert (status, error) == (403, f"only an owner of room {room_id} may archive or delete it")


async def test_an_operator_archives_a_room_they_are_not_in(server: Server) -> None:
    owner = await account(server, "olga")
    room_id = await create_room(server, owner, "ops")
    assert (await _archive(server, await operator(server), room_id))["Archived"] is True


async def test_the_lobby_cannot_be_archived_or_deleted(server: Server, config: Config) -> None:
    oper = await operator(server)
    ((lobby,),) = await select_rows(config, "SELECT id FROM rooms WHERE kind = 'lobby'")
    words = f"room {lobby} is the lobby: nobody may archive or delete it there"
    body = {"Archived": True}
    assert await refused(server, oper, "PUT", f"/room/{lobby}/archive", body) == (409, words)
    confirm = {"Confirm": "lobby"}
    assert await refused(server, oper, "DELETE", f"/room/{lobby}", confirm) == (409, words)


async def test_an_archived_room_refuses_a_send_over_http_with_409(server: Server) -> None:
    owner, _mod, member, room_id = await team(server)
    await _archive(server, owner, room_id)
    status, answer = await _post(server, member, room_id, "still here?")
    assert (status, answer["error"]) == (409, f"room {room_id} {ARCHIVED}")


async def test_an_archived_room_refuses_a_send_over_ws_with_an_error_frame(
    server: Server, clients: Clients
) -> None:
    owner, _mod, member, room_id = await team(server)
    ws = await entered(clients, member, room_id)
    await _archive(server, owner, room_id)
    await receive_type(ws, "room")
    await ws.send({"Type": "message", "Text": "hello?", "ClientMsgID": "c1"})
    error = await receive_type(ws, "error")
    assert error["Error"] == f"room {room_id} {ARCHIVED}"
    assert error.get("ClientMsgID") == "c1"


async def test_an_archived_room_refuses_edits_reactions_deletions_and_pins(
    server: Server,
) -> None:
    owner, mod, member, room_id = await team(server)
    status, posted = await _post(server, member, room_id, "before")
    assert status == 201
    message = posted["MessageID"]
    await _archive(server, owner, room_id)
    attempts = [
        (member, "PATCH", f"/messages/{room_id}/{message}", {"Text": "after"}),
        (member, "PUT", f"/messages/{room_id}/{message}/reactions/👍", None),
        (member, "DELETE", f"/messages/{room_id}/{message}", None),
        (mod, "PUT", f"/messages/{room_id}/{message}/pin", None),
    ]
    for who, method, path, body in attempts:
        assert await refused(server, who, method, path, body) == (
            409,
            f"room {room_id} {ARCHIVED}",
        ), path


async def test_an_archived_room_refuses_an_edit_and_a_reaction_over_ws(
    server: Server, clients: Clients
) -> None:
    owner, _mod, member, room_id = await team(server)
    ws = await entered(clients, member, room_id)
    await ws.send({"Type": "message", "Text": "before"})
    message = (await receive_type(ws, "message"))["MessageID"]
    await _archive(server, owner, room_id)
    await receive_type(ws, "room")
    for frame in (
        {"Type": "edit", "MessageID": message, "Text": "after"},
        {"Type": "react", "MessageID": message, "Emoji": "👍"},
    ):
        await ws.send(frame)
        assert await receive_type(ws, "error") == {
            "Type": "error",
            "Error": f"room {room_id} {ARCHIVED}",
            "MessageID": message,
        }


async def test_an_archived_room_is_still_read(server: Server) -> None:
    owner, _mod, member, room_id = await team(server)
    await _post(server, member, room_id, "kept for the record")
    await _archive(server, owner, room_id)
    history = await ok(server, member, "GET", f"/messages/{room_id}")
    assert [m["Text"] for m in history] == ["kept for the record"]


async def test_an_archived_room_leaves_the_directory_and_refuses_joins(server: Server) -> None:
    owner, _mod, _member, room_id = await team(server)
    newcomer = await account(server, "nina")
    assert [r["Name"] for r in await ok(server, newcomer, "GET", "/rooms/public")] == ["ops"]
    await _archive(server, owner, room_id)
    assert await ok(server, newcomer, "GET", "/rooms/public") == []
    assert await refused(server, newcomer, "PUT", "/join", {"RoomID": room_id}) == (
        409,
        f"room {room_id} {ARCHIVED}",
    )


async def test_unarchiving_lets_sends_through_and_lists_the_room_again(server: Server) -> None:
    owner, _mod, member, room_id = await team(server)
    await _archive(server, owner, room_id)
    room = await _archive(server, owner, room_id, False)
    assert room["Archived"] is False
    assert (await _post(server, member, room_id, "back"))[0] == 201
    assert [r["Name"] for r in await ok(server, member, "GET", "/rooms/public")] == ["ops"]


async def test_members_hear_the_room_archived_and_unarchived(
    server: Server, clients: Clients
) -> None:
    owner, _mod, member, room_id = await team(server)
    ws = await ready(await clients.json("/ws", token=member.token))
    await _archive(server, owner, room_id)
    frame = await receive_type(ws, "room")
    assert frame["RoomID"] == room_id and frame["Archived"] is True
    await _archive(server, owner, room_id, False)
    assert (await receive_type(ws, "room"))["Archived"] is False


async def test_archive_and_unarchive_are_in_the_audit_log(server: Server) -> None:
    owner, _mod, _member, room_id = await team(server)
    await _archive(server, owner, room_id)
    await _archive(server, owner, room_id)  # no change: no entry
    await _archive(server, owner, room_id, False)
    entries = await ok(server, owner, "GET", f"/room/{room_id}/audit")
    actions = [(e["Action"], e["By"]["Username"]) for e in entries]
    assert actions[:2] == [("unarchive", "olga"), ("archive", "olga")]
    assert [e["Action"] for e in entries].count("archive") == 1


async def test_archived_must_be_a_boolean(server: Server) -> None:
    owner, _mod, _member, room_id = await team(server)
    status, error = await refused(
        server, owner, "PUT", f"/room/{room_id}/archive", {"Archived": "yes"}
    )
    assert (status, error) == (400, 'field "Archived" must be true or false')


# --- deleting ---


async def test_a_wrong_or_missing_confirmation_deletes_nothing(server: Server) -> None:
    owner, _mod, member, room_id = await team(server)
    await _post(server, member, room_id, "still here")
    for body in ({"Confirm": "OPS"}, {"Confirm": "op"}):
        assert await refused(server, owner, "DELETE", f"/room/{room_id}", body) == (
            400,
            "\"Confirm\" must be the room's name, exactly as it is: 'ops'",
        )
    status, error = await refused(server, owner, "DELETE", f"/room/{room_id}", {})
    assert (status, error) == (400, 'field "Confirm" is required')
    assert len(await ok(server, member, "GET", f"/messages/{room_id}")) == 1


async def test_moderators_may_not_delete_a_room(server: Server) -> None:
    _owner, mod, _member, room_id = await team(server)
    status, error = await refused(server, mod, "DELETE", f"/room/{room_id}", {"Confirm": "ops"})
    assert (status, error) == (403, f"only an owner of room {room_id} may archive or delete it")


async def test_deleting_a_room_erases_its_messages_and_keeps_other_rooms(
    server: Server, config: Config
) -> None:
    owner, _mod, member, room_id = await team(server)
    other = await create_room(server, owner, "elsewhere", member)
    for n in range(3):
        await _post(server, member, room_id, f"gone {n}")
    await _post(server, member, other, "kept")
    assert await ok(server, owner, "DELETE", f"/room/{room_id}", {"Confirm": "ops"}) == {
        "RoomID": room_id
    }
    assert await select_rows(config, f"SELECT id FROM messages WHERE room_id = {room_id}") == []
    assert await select_rows(config, f"SELECT id FROM rooms WHERE id = {room_id}") == []
    assert [m["Text"] for m in await ok(server, member, "GET", f"/messages/{other}")] == ["kept"]
    assert (await call(server, member, "GET", f"/messages/{room_id}")).status_code == 404
    rooms = await ok(server, member, "GET", "/rooms")
    assert room_id not in rooms and other in rooms


async def test_deleting_a_room_erases_the_files_its_messages_carried(
    server: Server, config: Config
) -> None:
    owner, _mod, member, room_id = await team(server)
    other = await create_room(server, owner, "elsewhere", member)
    gone = await upload(server, member, b"gone bytes", "a.txt", "text/plain")
    kept = await upload(server, member, b"kept bytes", "b.txt", "text/plain")
    assert (await post_files(server, member, room_id, [gone["FileID"]])).status_code == 201
    assert (await post_files(server, member, other, [kept["FileID"]])).status_code == 201
    await ok(server, owner, "DELETE", f"/room/{room_id}", {"Confirm": "ops"})
    assert await select_rows(config, "SELECT id FROM files") == [(kept["FileID"],)]
    directory = storage_directory(config)
    assert directory is not None
    left = sorted(path.name.split(".")[1] for path in directory.glob("*/*") if path.is_file())
    assert left == [kept["FileID"]]


async def test_members_hear_the_room_deleted_and_leave_it(server: Server, clients: Clients) -> None:
    owner, _mod, member, room_id = await team(server)
    inside = await entered(clients, member, room_id)
    await ok(server, owner, "DELETE", f"/room/{room_id}", {"Confirm": "ops"})
    assert await receive_type(inside, "room-deleted") == {
        "Type": "room-deleted",
        "RoomID": room_id,
    }
    await inside.send({"Type": "message", "Text": "anyone?"})
    assert (await receive_type(inside, "error"))["Error"].startswith("enter a room first")


async def test_the_deletion_is_in_the_server_wide_audit_log(server: Server) -> None:
    owner, _mod, member, room_id = await team(server)
    await _post(server, member, room_id, "one")
    oper = await operator(server)
    await ok(server, owner, "DELETE", f"/room/{room_id}", {"Confirm": "ops"})
    entries = await ok(server, oper, "GET", "/audit")
    (entry,) = [e for e in entries if e["Action"] == "delete-room"]
    assert entry["RoomID"] == room_id and entry["By"]["Username"] == "olga"
    assert entry["Details"] == {"Name": "ops", "Messages": 1}


async def test_the_store_deletes_a_room_a_batch_at_a_time_then_its_row(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        room = await store.create_room("ops", is_private=False, creator_id=alice.id)
        kept = await store.create_room("kept", is_private=False, creator_id=alice.id)
        for n in range(5):
            await add_message(store, room.id, alice.id, f"m{n}")
        await add_message(store, kept.id, alice.id, "kept")
        await store.set_archived(room.id, True, None)
        batches = []
        while True:
            batch = await store.delete_room_messages(room.id, limit=2)
            batches.append(batch.deleted)
            if batch.done:
                break
        entry = AuditEntry(room.id, "delete-room", alice.id, "alice")
        assert await store.delete_room(room.id, entry)
        assert not await store.delete_room(room.id, entry)  # gone already: no second entry
        assert batches == [2, 2, 1]
        assert await store.room_by_id(room.id) is None
        assert [e.action for e in await store.audit_entries(room.id, before=None, limit=9)] == [
            "delete-room"
        ]
        assert [m.body for m in await store.messages_before(kept.id, None, 10)] == ["kept"]


async def test_the_store_refuses_a_message_to_an_archived_room(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        room = await store.create_room("ops", is_private=False, creator_id=alice.id)
        archived, changed = await store.set_archived(room.id, True, None)
        assert changed and archived is not None and archived.archived
        with pytest.raises(RoomArchived) as refused:
            await add_message(store, room.id, alice.id, "too late")
        assert refused.value.room_id == room.id
