"""Who may read a file, on each of its routes:
``GET /files/{FileID}/{name}`` and ``GET /files/{FileID}/thumbnail`` answer the uploader
before the file is attached, then whoever may read a message carrying it (a room's
members, everyone for the lobby, the two people of a direct conversation, a support
thread's user and the operators); anyone else gets 404, in the words a file that does
not exist gets, and so does everyone once the message is deleted. Nobody attaches a file
but its uploader: reading a file is no right to carry it elsewhere."""

from __future__ import annotations

from typing import Any

import pytest
from files_support import fetch, png, post_files, upload
from support import (
    Account,
    Clients,
    Server,
    account,
    create_room,
    entered,
    http_client,
    select_rows,
)
from test_sessions import COOKIE, cookie_of, sign_in
from test_support import operator

from chat.store import open_store

ROUTES = ["file", "thumbnail"]


@pytest.fixture(params=ROUTES)
def route(request: pytest.FixtureRequest) -> str:
    """Each of a file's two routes in turn."""
    return str(request.param)


def _path(file: dict[str, Any], route: str) -> str:
    last = "thumbnail" if route == "thumbnail" else file["Name"]
    return f"/files/{file['FileID']}/{last}"


async def _image(server: Server, uploader: Account) -> dict[str, Any]:
    """An image (so that both routes have something to serve), not attached."""
    return await upload(server, uploader, png(120, 80), "plan.png")


async def _post(server: Server, sender: Account, room_id: int, file: dict[str, Any]) -> int:
    """A message carrying `file`, sent over HTTP; its MessageID."""
    posted = await post_files(server, sender, room_id, [file["FileID"]])
    assert posted.status_code == 201, posted.text
    return int(posted.json()["MessageID"])


async def _reads(server: Server, user: Account, file: dict[str, Any], route: str) -> bool:
    """Whether `user` gets the file on `route`; a refusal must be the 404 of a file that
    does not exist, word for word but the id."""
    response = await fetch(server, user, _path(file, route))
    if response.status_code == 200:
        return True
    assert response.status_code == 404, response.text
    unknown = {**file, "FileID": "A" * len(file["FileID"])}
    none = await fetch(server, user, _path(unknown, route))
    assert response.json()["error"].replace(file["FileID"], "ID") == none.json()["error"].replace(
        unknown["FileID"], "ID"
    )
    return False


async def _direct_room(server: Server, user: Account, other: Account) -> int:
    async with http_client(server) as client:
        answer = await client.get(f"/dm/{other.uid}", headers=user.auth)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["RoomID"])


async def _support_room(server: Server, user: Account) -> int:
    async with open_store(server.config) as store:
        room = await store.support_room(user.uid, create=True)
    assert room is not None
    return room.id


# -- before it is attached ---------------------------------------------------------------


async def test_the_uploader_reads_a_file_before_attaching_it(server: Server, route: str) -> None:
    alice = await account(server, "alice")
    file = await _image(server, alice)
    assert await _reads(server, alice, file, route)


async def test_a_stranger_gets_404_for_a_file_not_attached_yet(server: Server, route: str) -> None:
    alice, eve = await account(server, "alice"), await account(server, "eve")
    file = await _image(server, alice)
    assert not await _reads(server, eve, file, route)


async def test_an_operator_gets_404_for_someone_elses_file_not_attached_yet(
    server: Server, route: str
) -> None:
    alice, op = await account(server, "alice"), await operator(server)
    file = await _image(server, alice)
    assert not await _reads(server, op, file, route)


async def test_without_a_token_a_file_is_401(server: Server, route: str) -> None:
    alice = await account(server, "alice")
    file = await _image(server, alice)
    assert (await fetch(server, None, _path(file, route))).status_code == 401
    forged = await fetch(server, None, _path(file, route), {"Authorization": "Bearer x.y.z"})
    assert forged.status_code == 401


async def test_the_browser_sessions_cookie_reads_a_file(server: Server, route: str) -> None:
    """What an <img src> sends: no token, the session's cookie."""
    alice = await account(server, "alice")
    file = await _image(server, alice)
    cookie = cookie_of(await sign_in(server, "alice"))
    async with http_client(server) as client:
        response = await client.get(_path(file, route), headers={"Cookie": f"{COOKIE}={cookie}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": "https://evil.example"}, 403),
        ({"Sec-Fetch-Site": "same-site"}, 403),
        ({}, 403),
        ({"Sec-Fetch-Site": "same-origin"}, 201),
        (None, 201),  # the server's own Origin
    ],
    ids=["foreign-origin", "same-site", "no-origin", "same-origin-fetch", "own-origin"],
)
async def test_an_upload_by_the_sessions_cookie_must_come_from_this_sites_pages(
    server: Server, headers: dict[str, str] | None, status: int
) -> None:
    """CSRF, as on every route the cookie authenticates to change something."""
    await account(server, "alice")
    cookie = cookie_of(await sign_in(server, "alice"))
    sent = {"Origin": server.http} if headers is None else headers
    async with http_client(server) as client:
        response = await client.post(
            "/files", content=b"x", headers={**sent, "Cookie": f"{COOKIE}={cookie}"}
        )
    assert response.status_code == status, response.text
    files = await select_rows(server.config, "SELECT id FROM files")
    assert len(files) == (1 if status == 201 else 0)


# -- attached: a group room and the lobby --------------------------------------------------


async def test_a_member_reads_a_file_of_their_room(server: Server, route: str) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    file = await _image(server, alice)
    await _post(server, alice, room_id, file)
    assert await _reads(server, bob, file, route)
    assert await _reads(server, alice, file, route)


async def test_a_non_member_gets_404_for_a_rooms_file(server: Server, route: str) -> None:
    alice, eve = await account(server, "alice"), await account(server, "eve")
    room_id = await create_room(server, alice, "room")
    file = await _image(server, alice)
    await _post(server, alice, room_id, file)
    assert not await _reads(server, eve, file, route)


async def test_an_operator_outside_a_private_room_gets_404_for_its_file(
    server: Server, route: str
) -> None:
    alice, op = await account(server, "alice"), await operator(server)
    room_id = await create_room(server, alice, "secret", private=True)
    file = await _image(server, alice)
    await _post(server, alice, room_id, file)
    assert not await _reads(server, op, file, route)


async def test_everyone_reads_a_file_in_the_lobby(server: Server, route: str) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    file = await _image(server, alice)
    await _post(server, alice, 1, file)
    assert await _reads(server, bob, file, route)


# -- attached: a direct conversation and a support thread ---------------------------------


async def test_both_people_of_a_direct_conversation_read_its_file(
    server: Server, route: str
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    file = await _image(server, alice)
    await _post(server, alice, await _direct_room(server, alice, bob), file)
    assert await _reads(server, bob, file, route)
    assert await _reads(server, alice, file, route)


async def test_a_stranger_and_an_operator_get_404_for_a_direct_conversations_file(
    server: Server, route: str
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    eve, op = await account(server, "eve"), await operator(server)
    file = await _image(server, alice)
    await _post(server, alice, await _direct_room(server, alice, bob), file)
    assert not await _reads(server, eve, file, route)
    assert not await _reads(server, op, file, route)


async def test_the_user_and_every_operator_read_a_support_threads_file(
    server: Server, route: str
) -> None:
    alice, op = await account(server, "alice"), await operator(server)
    other_op = await operator(server, "op2")
    file = await _image(server, alice)
    await _post(server, alice, await _support_room(server, alice), file)
    assert await _reads(server, alice, file, route)
    assert await _reads(server, op, file, route)
    assert await _reads(server, other_op, file, route)


async def test_an_operators_file_in_a_support_thread_reaches_its_user(
    server: Server, route: str
) -> None:
    alice, op = await account(server, "alice"), await operator(server)
    room_id = await _support_room(server, alice)
    file = await _image(server, op)
    await _post(server, op, room_id, file)
    assert await _reads(server, alice, file, route)


async def test_another_user_gets_404_for_a_support_threads_file(server: Server, route: str) -> None:
    alice, eve = await account(server, "alice"), await account(server, "eve")
    file = await _image(server, alice)
    await _post(server, alice, await _support_room(server, alice), file)
    assert not await _reads(server, eve, file, route)


# -- after the message is deleted ----------------------------------------------------------


async def test_nobody_reads_a_deleted_messages_file(server: Server, route: str) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    op = await operator(server)
    room_id = await create_room(server, alice, "room", bob)
    file = await _image(server, alice)
    message_id = await _post(server, alice, room_id, file)
    async with http_client(server) as client:
        deleted = await client.delete(f"/messages/{room_id}/{message_id}", headers=alice.auth)
    assert deleted.status_code in (200, 204), deleted.text
    for user in (alice, bob, op):
        assert not await _reads(server, user, file, route)


async def test_nobody_reads_a_deleted_support_messages_file(server: Server, route: str) -> None:
    alice, op = await account(server, "alice"), await operator(server)
    room_id = await _support_room(server, alice)
    file = await _image(server, alice)
    message_id = await _post(server, alice, room_id, file)
    async with http_client(server) as client:
        deleted = await client.delete(f"/messages/{room_id}/{message_id}", headers=alice.auth)
    assert deleted.status_code in (200, 204), deleted.text
    assert not await _reads(server, alice, file, route)
    assert not await _reads(server, op, file, route)


# -- attaching: the uploader's own files only ----------------------------------------------


async def test_a_reader_cannot_attach_someone_elses_file_to_show_it_elsewhere(
    server: Server, clients: Clients
) -> None:
    """Bob reads Alice's file in their room; carrying it into his room with Eve is
    refused (over HTTP and /ws), and Eve still gets 404."""
    alice, bob = await account(server, "alice"), await account(server, "bob")
    eve = await account(server, "eve")
    shared = await create_room(server, alice, "shared", bob)
    elsewhere = await create_room(server, bob, "elsewhere", eve)
    file = await _image(server, alice)
    await _post(server, alice, shared, file)
    posted = await post_files(server, bob, elsewhere, [file["FileID"]], "look")
    assert posted.status_code == 400
    assert "not a file you uploaded" in posted.json()["error"]
    ws = await entered(clients, bob, elsewhere)
    answer = await ws.request({"Type": "message", "Text": "look", "Files": [file["FileID"]]})
    assert answer["Type"] == "error"
    assert "not a file you uploaded" in answer["Error"]
    assert not await _reads(server, eve, file, "file")


async def test_an_operator_cannot_attach_a_users_file(server: Server) -> None:
    alice, op = await account(server, "alice"), await operator(server)
    file = await _image(server, alice)
    posted = await post_files(server, op, 1, [file["FileID"]], "x")
    assert posted.status_code == 400
    assert "not a file you uploaded" in posted.json()["error"]


@pytest.mark.parametrize("file_id", ["%00", "a%00b", "%ED%A0%80", "x" * 65, "%20", "a.b"])
async def test_an_id_that_is_no_file_id_is_404(server: Server, route: str, file_id: str) -> None:
    """Found by tests/test_fuzz.py: a NUL in the id was PostgreSQL's error, a 500."""
    alice = await account(server, "alice")
    last = "thumbnail" if route == "thumbnail" else "x"
    response = await fetch(server, alice, f"/files/{file_id}/{last}")
    assert response.status_code == 404
    assert "no file" in response.json()["error"]
