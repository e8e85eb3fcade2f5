"""Saved messages over HTTP: ``PUT`` and ``DELETE /me/saved/{messageID}``, ``GET
/me/saved`` (paged, newest saved first) and ``GET /me/saved/ids``; the same 404 for a
message that does not exist and one the caller may not read; the bound per user; what
drops out of the list; the frame the caller's connections get; the data export."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import httpx
import pytest
from support import Account, Clients, Server, account, create_room, entered, http_client

import chat.app.messages.saved

LOBBY = 1


async def _post(server: Server, user: Account, room_id: int, text: str) -> int:
    async with http_client(server) as client:
        response = await client.post(f"/messages/{room_id}", headers=user.auth, json={"Text": text})
    assert response.status_code == 201, response.text
    return int(response.json()["MessageID"])


async def _call(server: Server, user: Account, method: str, path: str) -> httpx.Response:
    async with http_client(server) as client:
        return await client.request(method, path, headers=user.auth)


async def _saved(server: Server, user: Account, query: str = "") -> list[dict[str, Any]]:
    response = await _call(server, user, "GET", f"/me/saved{query}")
    assert response.status_code == 200, response.text
    return response.json()


async def _texts(server: Server, user: Account, query: str = "") -> list[str]:
    return [item["Message"]["Text"] for item in await _saved(server, user, query)]


async def test_a_saved_message_is_listed_with_its_room_and_when_it_was_saved(
    server: Server,
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "plans")
    message_id = await _post(server, alice, room_id, "ship on friday")
    saved = await _call(server, alice, "PUT", f"/me/saved/{message_id}")
    assert (saved.status_code, saved.content) == (204, b"")
    async with http_client(server) as client:
        history = await client.get(f"/messages/{room_id}", headers=alice.auth)
    (item,) = await _saved(server, alice)
    assert item["Room"] == {"RoomID": room_id, "Name": "plans", "Kind": "group"}
    assert item["Message"] == history.json()[0]
    assert item["SavedAt"] and item["SavedID"] >= 1


async def test_saving_twice_lists_the_message_once(server: Server) -> None:
    alice = await account(server, "alice")
    message_id = await _post(server, alice, LOBBY, "hello")
    first = await _call(server, alice, "PUT", f"/me/saved/{message_id}")
    again = await _call(server, alice, "PUT", f"/me/saved/{message_id}")
    assert (first.status_code, again.status_code) == (204, 204)
    assert await _texts(server, alice) == ["hello"]


async def test_the_list_is_newest_saved_first_and_paged_by_saved_id(server: Server) -> None:
    alice = await account(server, "alice")
    ids = [await _post(server, alice, LOBBY, text) for text in ("a", "b", "c")]
    for message_id in (ids[1], ids[0], ids[2]):
        await _call(server, alice, "PUT", f"/me/saved/{message_id}")
    first = await _saved(server, alice, "?limit=2")
    rest = await _texts(server, alice, f"?limit=2&before={first[-1]['SavedID']}")
    assert [item["Message"]["Text"] for item in first] == ["c", "a"]
    assert rest == ["b"]
    ids_answer = await _call(server, alice, "GET", "/me/saved/ids")
    assert ids_answer.json() == {"MessageIDs": [ids[2], ids[0], ids[1]]}


@pytest.mark.parametrize("query", ["?limit=0", "?limit=101", "?limit=x", "?before=0"])
async def test_a_bad_page_is_refused(server: Server, query: str) -> None:
    alice = await account(server, "alice")
    response = await _call(server, alice, "GET", f"/me/saved{query}")
    assert response.status_code == 400, response.text


async def test_an_unknown_message_and_one_of_a_private_room_get_the_same_404(
    server: Server,
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    private = await create_room(server, bob, "secret", private=True)
    secret_id = await _post(server, bob, private, "secret")
    unknown_id = secret_id + 1000
    answers = {}
    for method in ("PUT", "DELETE"):
        for message_id in (secret_id, unknown_id):
            response = await _call(server, alice, method, f"/me/saved/{message_id}")
            answers[method, message_id] = (
                response.status_code,
                response.json()["error"].replace(str(message_id), "N"),
            )
    assert set(answers.values()) == {(404, "no message N that you may read")}
    assert await _saved(server, alice) == []


async def test_a_bad_message_id_is_refused(server: Server) -> None:
    alice = await account(server, "alice")
    response = await _call(server, alice, "PUT", "/me/saved/zero")
    assert response.status_code == 400, response.text


async def test_saved_messages_need_a_token(server: Server) -> None:
    async with http_client(server) as client:
        response = await client.get("/me/saved")
    assert response.status_code == 401


async def test_unsaving_takes_it_off_and_unsaving_again_is_fine(server: Server) -> None:
    alice = await account(server, "alice")
    message_id = await _post(server, alice, LOBBY, "hello")
    await _call(server, alice, "PUT", f"/me/saved/{message_id}")
    first = await _call(server, alice, "DELETE", f"/me/saved/{message_id}")
    again = await _call(server, alice, "DELETE", f"/me/saved/{message_id}")
    assert (first.status_code, again.status_code) == (204, 204)
    assert await _saved(server, alice) == []


async def test_saving_past_the_most_one_may_keep_is_refused(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chat.app.messages.saved, "MOST_SAVED", 2)
    alice = await account(server, "alice")
    ids = [await _post(server, alice, LOBBY, text) for text in ("a", "b", "c")]
    for message_id in ids[:2]:
        assert (await _call(server, alice, "PUT", f"/me/saved/{message_id}")).status_code == 204
    refused = await _call(server, alice, "PUT", f"/me/saved/{ids[2]}")
    assert refused.status_code == 409
    assert "you have saved 2 messages, the most one may keep" in refused.json()["error"]
    # Unsaving one makes room.
    await _call(server, alice, "DELETE", f"/me/saved/{ids[0]}")
    assert (await _call(server, alice, "PUT", f"/me/saved/{ids[2]}")).status_code == 204


async def test_another_persons_deleted_message_drops_out_of_the_list(server: Server) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    kept = await _post(server, bob, LOBBY, "kept")
    deleted = await _post(server, bob, LOBBY, "deleted")
    for message_id in (kept, deleted):
        await _call(server, alice, "PUT", f"/me/saved/{message_id}")
    gone = await _call(server, bob, "DELETE", f"/messages/{LOBBY}/{deleted}")
    assert gone.status_code == 204
    assert await _texts(server, alice) == ["kept"]


async def test_a_message_of_a_room_one_was_removed_from_drops_out(server: Server) -> None:
    owner, alice = await account(server, "owner"), await account(server, "alice")
    room_id = await create_room(server, owner, "room", alice)
    message_id = await _post(server, owner, room_id, "in the room")
    await _call(server, alice, "PUT", f"/me/saved/{message_id}")
    assert await _texts(server, alice) == ["in the room"]
    removed = await _call(server, owner, "DELETE", f"/room/{room_id}/members/{alice.uid}")
    assert removed.status_code == 200, removed.text
    assert await _saved(server, alice) == []
    assert (await _call(server, alice, "GET", "/me/saved/ids")).json() == {"MessageIDs": []}


async def test_saving_and_unsaving_tell_the_users_connections(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    other_tab = await entered(clients, alice, LOBBY)
    message_id = await _post(server, alice, LOBBY, "hello")
    assert (await other_tab.receive())["Type"] == "message"
    await _call(server, alice, "PUT", f"/me/saved/{message_id}")
    assert await other_tab.receive() == {"Type": "saved", "MessageID": message_id, "Saved": True}
    await _call(server, alice, "DELETE", f"/me/saved/{message_id}")
    assert await other_tab.receive() == {"Type": "saved", "MessageID": message_id, "Saved": False}


async def test_the_data_export_holds_the_saved_messages_ids(server: Server) -> None:
    alice = await account(server, "alice")
    first, second = [await _post(server, alice, LOBBY, text) for text in ("a", "b")]
    for message_id in (second, first):
        await _call(server, alice, "PUT", f"/me/saved/{message_id}")
    exported = await _call(server, alice, "GET", "/me/export")
    assert exported.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(exported.content))
    saved = [json.loads(line) for line in archive.read("saved.jsonl").decode().splitlines()]
    assert [item["MessageID"] for item in saved] == [second, first]
    assert all(item["SavedAt"] for item in saved)
