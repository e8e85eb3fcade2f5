"""Erasing an account: ``DELETE /me`` {"Password"} and ``chat user delete
--erase``. The user's messages become tombstones (connected clients see them deleted),
their edits and reactions go, their files (records and bytes), sessions, push
subscriptions, read markers and login addresses go, their tokens are refused; what others
wrote to them stays; their name is held for 30 days; a room they were the last owner of
gets a new owner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from cluster import open_cluster
from files_support import post_files, upload
from support import (
    Account,
    Clients,
    Server,
    account,
    chat_environ,
    create_room,
    entered,
    execute_sql,
    http_client,
    open_clients,
    run_chat,
    select_rows,
    throwaway_postgres_schema,
)
from test_token_revocation import closed

from chat.core.config import Config
from chat.core.outgoing import OutgoingMessage
from chat.core.records import NewMessage
from chat.files.opening import storage_directory
from chat.store import open_store
from chat.store.account_data import ERASED_NAME

PASSWORD = "correct horse battery"


async def lobby_of(config: Config) -> int:
    ((lobby,),) = await select_rows(config, "SELECT id FROM rooms WHERE kind = 'lobby'")
    return int(lobby)


async def post(server: Server, user: Account, room_id: int, text: str) -> dict[str, Any]:
    async with http_client(server) as client:
        response = await client.post(f"/messages/{room_id}", headers=user.auth, json={"Text": text})
    assert response.status_code == 201, response.text
    return response.json()


async def direct_room(server: Server, user: Account, other: Account) -> int:
    """The RoomID of `user`'s direct conversation with `other` (opened if new)."""
    async with http_client(server) as client:
        response = await client.get(f"/dm/{other.uid}", headers=user.auth)
    assert response.status_code == 200, response.text
    return int(response.json()["RoomID"])


async def erase(server: Server, user: Account, password: str = PASSWORD) -> httpx.Response:
    async with http_client(server) as client:
        return await client.request("DELETE", "/me", headers=user.auth, json={"Password": password})


async def erased(server: Server, user: Account) -> None:
    response = await erase(server, user)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "erased"}


async def history(server: Server, user: Account, room_id: int) -> list[dict[str, Any]]:
    async with http_client(server) as client:
        response = await client.get(f"/messages/{room_id}", headers=user.auth)
    assert response.status_code == 200, response.text
    return list(reversed(response.json()))


async def register(server: Server, name: str) -> httpx.Response:
    async with http_client(server) as client:
        return await client.post(
            "/register",
            json={"Username": name, "Email": f"new-{name}@example.com", "Password": PASSWORD},
        )


async def test_erase_with_a_wrong_password_is_refused_and_changes_nothing(
    server: Server,
) -> None:
    alice = await account(server, "alice", PASSWORD)
    refused = await erase(server, alice, "not the password")
    assert refused.status_code == 401, refused.text
    assert refused.json() == {"error": "invalid credentials"}
    async with http_client(server) as client:
        assert (await client.get("/profile", headers=alice.auth)).status_code == 200


async def test_erase_needs_the_password_field(server: Server) -> None:
    alice = await account(server, "alice", PASSWORD)
    async with http_client(server) as client:
        response = await client.request("DELETE", "/me", headers=alice.auth, json={})
    assert response.status_code == 400, response.text


async def test_erase_tombstones_the_users_messages_and_keeps_what_others_wrote(
    config: Config, server: Server
) -> None:
    alice, bob = await account(server, "alice", PASSWORD), await account(server, "bob")
    lobby = await lobby_of(config)
    await post(server, alice, lobby, "alice in the lobby")
    await post(server, bob, lobby, "bob in the lobby")
    direct = await direct_room(server, bob, alice)
    await post(server, bob, direct, "bob to alice")
    await post(server, alice, direct, "alice to bob")
    await erased(server, alice)

    lobby_now = await history(server, bob, lobby)
    assert [(m["Text"], m.get("Deleted", False)) for m in lobby_now[-2:]] == [
        ("", True),
        ("bob in the lobby", False),
    ]
    direct_now = await history(server, bob, direct)
    assert [(m["Text"], m.get("Deleted", False)) for m in direct_now] == [
        ("bob to alice", False),
        ("", True),
    ]
    assert direct_now[1]["Username"] == ERASED_NAME.format(id=alice.uid)


async def test_a_direct_message_to_an_erased_account_is_refused_over_http(
    server: Server,
) -> None:
    """As on /ws: 410, saying the account was deleted; nothing stored."""
    alice, bob = await account(server, "alice", PASSWORD), await account(server, "bob")
    direct = await direct_room(server, bob, alice)
    await post(server, bob, direct, "bob to alice")
    await erased(server, alice)
    async with http_client(server) as client:
        response = await client.post(
            f"/messages/{direct}", headers=bob.auth, json={"Text": "still there?"}
        )
    assert response.status_code == 410, response.text
    assert response.json() == {"error": _closed(alice)}
    assert [m["Text"] for m in await history(server, bob, direct)] == ["bob to alice"]


def _closed(user: Account) -> str:
    return (
        f"UID {user.uid}'s account was deleted: the conversation is closed,"
        " nobody can write to them any more"
    )


async def test_opening_a_conversation_with_an_erased_account_is_a_410(server: Server) -> None:
    """GET /dm/{UID}: whether bob had a conversation with the account or not."""
    alice, bob = await account(server, "alice", PASSWORD), await account(server, "bob")
    carol = await account(server, "carol", PASSWORD)
    await direct_room(server, bob, alice)
    await erased(server, alice)
    await erased(server, carol)
    async with http_client(server) as client:
        answers = [await client.get(f"/dm/{u.uid}", headers=bob.auth) for u in (alice, carol)]
        unknown = await client.get("/dm/4242", headers=bob.auth)
    assert [a.status_code for a in answers] == [410, 410], [a.text for a in answers]
    assert [a.json() for a in answers] == [{"error": _closed(alice)}, {"error": _closed(carol)}]
    assert unknown.status_code == 404


async def test_the_room_list_marks_a_conversation_with_an_erased_account_closed(
    server: Server,
) -> None:
    alice, bob = await account(server, "alice", PASSWORD), await account(server, "bob")
    carol = await account(server, "carol")
    closed, open_one = await direct_room(server, bob, alice), await direct_room(server, bob, carol)
    await erased(server, alice)
    async with http_client(server) as client:
        response = await client.get("/rooms/details", headers=bob.auth)
    listed = {room["RoomID"]: room for room in response.json()}
    assert listed[closed]["Closed"] is True
    assert "Closed" not in listed[open_one]


async def test_a_direct_message_to_an_erased_account_is_refused_in_the_room_protocol(
    server: Server, clients: Clients
) -> None:
    """Entering the conversation still works (its history stays); sending in it does not."""
    alice, bob = await account(server, "alice", PASSWORD), await account(server, "bob")
    direct = await direct_room(server, bob, alice)
    await erased(server, alice)
    ws = await entered(clients, bob, direct)
    answer = await ws.request({"Type": "message", "Text": "still there?", "ClientMsgID": "c1"})
    assert answer == {
        "Type": "error",
        "Error": _closed(alice),
        "ClientMsgID": "c1",
    }
    assert await history(server, bob, direct) == []


async def test_erase_keeps_the_operators_answers_in_the_users_support_thread(
    config: Config, server: Server
) -> None:
    alice = await account(server, "alice", PASSWORD)
    op = await account(server, "op")
    async with open_store(config) as store:
        thread = await store.support_room(alice.uid, create=True)
        assert thread is not None
        await store.add_messages(
            [
                NewMessage(thread.id, alice.uid, OutgoingMessage("help")),
                NewMessage(thread.id, op.uid, OutgoingMessage("here")),
            ]
        )
    await erased(server, alice)
    rows = await select_rows(
        config,
        "SELECT sender_id, body, deleted_at IS NULL FROM messages"
        f" WHERE room_id = {thread.id} ORDER BY id",
    )
    assert [(row[0], row[1], bool(row[2])) for row in rows] == [
        (alice.uid, "", False),
        (op.uid, "here", True),
    ]


async def test_erase_removes_the_users_edits_and_reactions(config: Config, server: Server) -> None:
    alice, bob = await account(server, "alice", PASSWORD), await account(server, "bob")
    lobby = await lobby_of(config)
    mine = await post(server, alice, lobby, "secret first version")
    bobs = await post(server, bob, lobby, "react to this")
    async with http_client(server) as client:
        edited = await client.patch(
            f"/messages/{lobby}/{mine['MessageID']}", headers=alice.auth, json={"Text": "v2"}
        )
        assert edited.status_code == 200, edited.text
        for user in (alice, bob):
            reacted = await client.put(
                f"/messages/{lobby}/{bobs['MessageID']}/reactions/🎉", headers=user.auth
            )
            assert reacted.status_code in (200, 204), reacted.text
    await erased(server, alice)

    texts = await select_rows(
        config,
        f"SELECT body, original_body FROM messages WHERE id = {mine['MessageID']}"
        f" UNION ALL SELECT coalesce(body, ''), NULL FROM message_changes"
        f" WHERE message_id = {mine['MessageID']}",
    )
    assert all("secret" not in (body or "") and original is None for body, original in texts)
    assert (
        await select_rows(config, f"SELECT 1 FROM message_reactions WHERE user_id = {alice.uid}")
        == []
    )
    (bobs_now,) = [
        m for m in await history(server, bob, lobby) if m["MessageID"] == bobs["MessageID"]
    ]
    assert bobs_now["Reactions"] == [{"Emoji": "🎉", "Count": 1, "UIDs": [bob.uid]}]


async def test_erase_removes_the_users_files_records_and_bytes(
    config: Config, server: Server
) -> None:
    alice, bob = await account(server, "alice", PASSWORD), await account(server, "bob")
    lobby = await lobby_of(config)
    attached = await upload(server, alice, b"attached bytes", "a.txt", "text/plain")
    await upload(server, alice, b"loose bytes", "b.txt", "text/plain")
    bobs = await upload(server, bob, b"bob's bytes", "c.txt", "text/plain")
    assert (await post_files(server, alice, lobby, [attached["FileID"]])).status_code == 201
    await erased(server, alice)
    assert await select_rows(config, f"SELECT id FROM files WHERE uploader_id = {alice.uid}") == []
    directory = storage_directory(config)
    assert directory is not None
    left = sorted(path.name.split(".")[1] for path in directory.glob("*/*") if path.is_file())
    assert left == [bobs["FileID"]]


async def test_erase_removes_sessions_subscriptions_markers_and_login_addresses(
    config: Config, server: Server
) -> None:
    alice = await account(server, "alice", PASSWORD)
    lobby = await lobby_of(config)
    async with http_client(server) as client:
        signed_in = await client.post("/session", json={"Username": "alice", "Password": PASSWORD})
        assert signed_in.status_code == 200, signed_in.text
    await execute_sql(
        config,
        f"INSERT INTO read_markers (user_id, room_id, message_id) VALUES ({alice.uid}, {lobby}, 1)",
    )
    now = "now()" if config.is_postgres else "0"
    await execute_sql(
        config,
        "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, created_at)"
        f" VALUES ({alice.uid}, 'https://push.example/1', 'k', 'a', {now})",
    )
    await execute_sql(
        config,
        "INSERT INTO login_addresses (user_id, address, used_at)"
        f" VALUES ({alice.uid}, '192.0.2.1', {now})",
    )
    await erased(server, alice)
    for table in ("sessions", "push_subscriptions", "read_markers", "login_addresses"):
        rows = await select_rows(config, f"SELECT 1 FROM {table} WHERE user_id = {alice.uid}")
        assert rows == [], table
    ((email, erased_at),) = await select_rows(
        config, f"SELECT email, erased_at FROM users WHERE id = {alice.uid}"
    )
    assert email is None and erased_at is not None


async def test_an_erased_users_token_is_refused_and_their_session_closed(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice", PASSWORD)
    ws = await clients.json("/ws", token=alice.token)
    await erased(server, alice)
    frames, code, reason = await closed(ws.ws)
    # Not "token has been revoked", though the erasure's first step revokes the tokens.
    assert (code, reason) == (1008, "account deleted")
    assert [f["Error"] for f in map(json.loads, frames) if "Error" in f] == ["account deleted"]
    async with http_client(server) as client:
        assert (await client.get("/profile", headers=alice.auth)).status_code == 401
        login = await client.post("/auth", json={"name": "alice", "password": PASSWORD})
        assert login.status_code == 401


async def test_connected_clients_see_the_erased_messages_deleted(
    config: Config, server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice", PASSWORD), await account(server, "bob")
    room = await create_room(server, bob, "room", alice)
    listener = await entered(clients, bob, room)
    sent = await post(server, alice, room, "soon gone")
    assert (await listener.receive())["MessageID"] == sent["MessageID"]
    await erased(server, alice)
    frame = await listener.receive()
    while frame.get("Type") != "deleted":  # a notice of alice leaving may come first
        frame = await listener.receive()
    assert (frame["RoomID"], frame["MessageID"]) == (room, sent["MessageID"])


async def test_the_erased_name_is_held_for_30_days_then_free(
    config: Config, server: Server
) -> None:
    alice = await account(server, "alice", PASSWORD)
    await erased(server, alice)
    for name in ("alice", "ALICE"):
        held = await register(server, name)
        assert held.status_code == 409, held.text
        assert "was released recently" in held.json()["error"]
    past = "now() - interval '1 day'" if config.is_postgres else "0"
    await execute_sql(config, f"UPDATE name_holds SET held_until = {past}")
    assert (await register(server, "alice")).status_code == 201


async def test_a_held_name_cannot_be_taken_by_a_rename_either(
    config: Config, server: Server
) -> None:
    alice, bob = await account(server, "alice", PASSWORD), await account(server, "bob")
    await erased(server, alice)
    async with http_client(server) as client:
        renamed = await client.put("/change-name", headers=bob.auth, json={"NewName": "alice"})
    assert renamed.status_code == 409, renamed.text
    assert "was released recently" in renamed.json()["error"]


async def test_a_room_whose_last_owner_is_erased_gets_its_longest_standing_member(
    config: Config, server: Server
) -> None:
    alice, bob, carol = [await account(server, n, PASSWORD) for n in ("alice", "bob", "carol")]
    room = await create_room(server, alice, "alices-room", bob, carol)
    await erased(server, alice)
    roles = await select_rows(
        config, f"SELECT user_id, role FROM room_members WHERE room_id = {room} ORDER BY user_id"
    )
    assert roles == [(bob.uid, "owner"), (carol.uid, "member")]


async def test_chat_user_delete_erase_keeps_the_other_sides_messages(
    config: Config, server: Server
) -> None:
    alice, bob = await account(server, "alice", PASSWORD), await account(server, "bob")
    direct = await direct_room(server, bob, alice)
    await post(server, bob, direct, "bob to alice")
    await post(server, alice, direct, "alice to bob")
    result = await run_chat("user", "delete", "--erase", "--yes", "alice", env=chat_environ(config))
    assert result.returncode == 0, result.stderr
    assert [(m["Text"], m.get("Deleted", False)) for m in await history(server, bob, direct)] == [
        ("bob to alice", False),
        ("", True),
    ]


async def test_erased_tokens_are_refused_and_sessions_closed_on_another_instance(
    tmp_path: Path,
) -> None:
    async with (
        throwaway_postgres_schema() as url,
        open_cluster(tmp_path, url, 2, revocation_sweep=1.0) as instances,
    ):
        a, b = instances[0].server, instances[1].server
        alice = await account(a, "alice", PASSWORD)
        async with open_clients(b) as clients:
            ws = await clients.json("/ws", token=alice.token)
            await erased(a, alice)
            _, code, reason = await closed(ws.ws)
            assert (code, reason) == (1008, "account deleted")
        async with http_client(b) as client:
            assert (await client.get("/profile", headers=alice.auth)).status_code == 401


async def test_clients_on_another_instance_see_the_erased_messages_deleted(
    tmp_path: Path,
) -> None:
    async with (
        throwaway_postgres_schema() as url,
        open_cluster(tmp_path, url, 2) as instances,
    ):
        a, b = instances[0].server, instances[1].server
        alice, bob = await account(a, "alice", PASSWORD), await account(a, "bob")
        room = await create_room(a, bob, "room", alice)
        async with open_clients(b) as clients:
            listener = await entered(clients, bob, room)
            sent = await post(a, alice, room, "soon gone everywhere")
            assert (await listener.receive())["MessageID"] == sent["MessageID"]
            await erased(a, alice)
            frame = await listener.receive()
            while frame.get("Type") != "deleted":
                frame = await listener.receive()
            assert (frame["RoomID"], frame["MessageID"]) == (room, sent["MessageID"])
