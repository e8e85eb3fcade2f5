"""A user's data, exported: ``GET /me/export`` and ``chat user export``
answer a zip archive of the user's own profile, messages (with rooms and edits),
reactions, read markers and files (records and bytes), and nothing of anyone else's;
streamed as it is written, limited per user and in number at once."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import httpx
import trio
from files_support import post_files, upload
from support import (
    STEP,
    Account,
    Server,
    account,
    chat_environ,
    execute_sql,
    http_client,
    run_chat,
    select_rows,
    server_config,
    start_server,
)

from chat.app.accounts.data import PAGE
from chat.core.config import Config
from chat.core.outgoing import OutgoingMessage
from chat.core.records import NewMessage
from chat.files.opening import storage_directory
from chat.store import open_store


async def lobby_of(config: Config) -> int:
    ((lobby,),) = await select_rows(config, "SELECT id FROM rooms WHERE kind = 'lobby'")
    return int(lobby)


async def post(server: Server, user: Account, room_id: int, text: str) -> dict[str, Any]:
    async with http_client(server) as client:
        response = await client.post(f"/messages/{room_id}", headers=user.auth, json={"Text": text})
    assert response.status_code == 201, response.text
    return response.json()


async def export(server: Server, user: Account) -> httpx.Response:
    async with http_client(server) as client:
        return await client.get("/me/export", headers=user.auth)


def archive_of(data: bytes) -> zipfile.ZipFile:
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None  # every entry's CRC checks out
    return archive


def lines(archive: zipfile.ZipFile, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in archive.read(name).decode().splitlines()]


async def test_export_holds_exactly_the_users_own_data(config: Config, server: Server) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    lobby = await lobby_of(config)
    first = await post(server, alice, lobby, "frist")
    await post(server, bob, lobby, "bob's own words")
    bobs = await post(server, bob, lobby, "react to me")
    async with http_client(server) as client:
        edited = await client.patch(
            f"/messages/{lobby}/{first['MessageID']}", headers=alice.auth, json={"Text": "first"}
        )
        assert edited.status_code == 200, edited.text
        reacted = await client.put(
            f"/messages/{lobby}/{bobs['MessageID']}/reactions/👍", headers=alice.auth
        )
        assert reacted.status_code in (200, 204), reacted.text
    alices_file = await upload(server, alice, b"alice's bytes", "notes.txt", "text/plain")
    sent = await post_files(server, alice, lobby, [alices_file["FileID"]], "see attached")
    assert sent.status_code == 201, sent.text
    await upload(server, bob, b"bob's bytes", "bob.txt", "text/plain")
    await execute_sql(
        config,
        f"INSERT INTO read_markers (user_id, room_id, message_id)"
        f" VALUES ({alice.uid}, {lobby}, {bobs['MessageID']})",
    )
    async with http_client(server) as client:
        status = {"Emoji": "🌴", "Text": "On holiday"}
        assert (await client.put("/me/status", headers=alice.auth, json=status)).is_success

    response = await export(server, alice)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    archive = archive_of(response.content)

    profile = json.loads(archive.read("profile.json"))
    assert (profile["UID"], profile["Username"], profile["Email"]) == (
        alice.uid,
        "alice",
        alice.email,
    )
    assert profile["Status"] == {**status, "Presence": "auto", "Until": None}
    messages = lines(archive, "messages.jsonl")
    assert [m["Text"] for m in messages] == ["first", "see attached"]
    assert messages[0]["OriginalText"] == "frist"
    assert [edit["Text"] for edit in messages[0]["Edits"]] == ["first"]
    assert messages[0]["Room"] == {"RoomID": lobby, "Name": "lobby", "Kind": "lobby"}
    assert messages[1]["Files"] == [alices_file["FileID"]]
    assert [(r["MessageID"], r["Emoji"]) for r in lines(archive, "reactions.jsonl")] == [
        (bobs["MessageID"], "👍")
    ]
    assert [(m["RoomID"], m["MessageID"]) for m in lines(archive, "read_markers.jsonl")] == [
        (lobby, bobs["MessageID"])
    ]
    (record,) = lines(archive, "files.jsonl")
    assert (record["FileID"], record["Name"]) == (alices_file["FileID"], "notes.txt")
    assert archive.read(record["Path"]) == b"alice's bytes"
    assert not [name for name in archive.namelist() if "bob" in name]
    assert b"bob's" not in b"".join(archive.read(name) for name in archive.namelist())


async def test_export_names_its_file_in_content_disposition(server: Server) -> None:
    alice = await account(server, "alice")
    response = await export(server, alice)
    assert response.status_code == 200, response.text
    disposition = response.headers["content-disposition"]
    assert disposition.startswith(f'attachment; filename="chat-data-{alice.uid}-')
    assert disposition.endswith('.zip"')


async def test_export_pages_through_many_messages(config: Config, server: Server) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    lobby = await lobby_of(config)
    count = 2 * PAGE + 7
    async with open_store(config) as store:
        await store.add_messages(
            [NewMessage(lobby, alice.uid, OutgoingMessage(f"m{i}")) for i in range(count)]
        )
        await store.add_messages([NewMessage(lobby, bob.uid, OutgoingMessage("not alice's"))])
    archive = archive_of((await export(server, alice)).content)
    assert [m["Text"] for m in lines(archive, "messages.jsonl")] == [f"m{i}" for i in range(count)]


async def test_export_streams_the_archive_as_it_is_written(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """The first bytes arrive while a large file is still being read: the bytes of the
    file after it, removed from the storage meanwhile, are not in the archive. Had the
    archive been made whole before it was sent, they would be."""
    config = server_config(tmp_path, None, max_file_bytes=24 * 1024 * 1024)
    server = await start_server(nursery, config)
    alice = await account(server, "alice")
    big = await upload(server, alice, os.urandom(24 * 1024 * 1024), "big.bin")
    small = await upload(server, alice, b"small", "small.bin")
    while small["FileID"] < big["FileID"]:  # exported in FileID order: small after big
        small = await upload(server, alice, b"small", "small.bin")
    directory = storage_directory(config)
    assert directory is not None
    async with http_client(server) as client:
        with trio.fail_after(STEP * 4):
            async with client.stream("GET", "/me/export", headers=alice.auth) as response:
                assert response.status_code == 200
                chunks = response.aiter_bytes()
                received = [await chunks.__anext__()]
                assert received[0].startswith(b"PK\x03\x04")  # a zip entry's header
                removed = list(directory.glob(f"*/*.{small['FileID']}"))
                assert removed
                for path in removed:
                    path.unlink()
                received.extend([chunk async for chunk in chunks])
    names = archive_of(b"".join(received)).namelist()
    assert f"files/{big['FileID']}/big.bin" in names
    assert f"files/{small['FileID']}/small.bin" not in names


async def test_export_needs_a_token(server: Server) -> None:
    async with http_client(server) as client:
        response = await client.get("/me/export")
    assert response.status_code == 401, response.text


async def test_export_is_limited_per_user(nursery: trio.Nursery, tmp_path: Path) -> None:
    config = server_config(tmp_path, None, rate_limits=True, rate_exports="1/hour")
    server = await start_server(nursery, config)
    alice = await account(server, "alice")
    assert (await export(server, alice)).status_code == 200
    refused = await export(server, alice)
    assert refused.status_code == 429, refused.text
    assert "exports" in refused.json()["error"] and "retry-after" in refused.headers


async def test_export_is_refused_while_as_many_as_allowed_are_under_way(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    config = server_config(tmp_path, None, exports_at_once=1, max_file_bytes=24 * 1024 * 1024)
    server = await start_server(nursery, config)
    alice, bob = await account(server, "alice"), await account(server, "bob")
    await upload(server, alice, os.urandom(24 * 1024 * 1024), "big.bin")
    async with http_client(server) as client:
        with trio.fail_after(STEP * 4):
            async with client.stream("GET", "/me/export", headers=alice.auth) as first:
                assert first.status_code == 200
                chunks = first.aiter_bytes()
                await chunks.__anext__()  # under way, held back by its reader
                refused = await export(server, bob)
                assert refused.status_code == 503, refused.text
                assert "too many exports" in refused.json()["error"]
                async for _ in chunks:
                    pass
    assert (await export(server, bob)).status_code == 200  # its slot was given back


async def test_chat_user_export_writes_the_archive_to_a_file(
    config: Config, server: Server, tmp_path: Path
) -> None:
    alice = await account(server, "alice")
    lobby = await lobby_of(config)
    await post(server, alice, lobby, "from the command line")
    await upload(server, alice, b"file bytes", "a.txt", "text/plain")
    output = tmp_path / "alice.zip"
    result = await run_chat(
        "user", "export", "alice", "--output", str(output), env=chat_environ(config)
    )
    assert result.returncode == 0, result.stderr
    assert b"wrote the data of 'alice'" in result.stdout
    archive = archive_of(output.read_bytes())
    assert [m["Text"] for m in lines(archive, "messages.jsonl")] == ["from the command line"]
    (record,) = lines(archive, "files.jsonl")
    assert archive.read(record["Path"]) == b"file bytes"


async def test_chat_user_export_of_an_unknown_user_exits_1_saying_so(config: Config) -> None:
    async with open_store(config):
        pass  # migrated already: the command says only what it has to
    result = await run_chat(
        "user", "export", "nobody", "--output", "x.zip", env=chat_environ(config)
    )
    assert (result.returncode, result.stderr) == (1, b"chat: no user named 'nobody'\n")
