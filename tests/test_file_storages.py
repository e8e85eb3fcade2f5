"""Files through the server on each storage kind: a directory
(the data directory's files/) and S3-compatible object storage (a bucket on moto's server,
tests/s3_server.py), each on SQLite and PostgreSQL. What a client sees is the same on
both: upload, attach, serve (whole, a range, the thumbnail), collection of a deleted
message's file; and an upload that does not finish leaves nothing in either."""

from __future__ import annotations

import hashlib
import os

import pytest
import trio
from files_support import (
    StorageUnderTest,
    fetch,
    file_storage,
    png,
    s3_server,
    start_upload,
    sweep,
    upload,
)
from support import (
    Clients,
    Server,
    account,
    create_room,
    entered,
    select_rows,
    start_server,
)

from chat.core.config import Config

__all__ = ["file_storage", "s3_server"]  # fixtures


@pytest.fixture
async def server(nursery: trio.Nursery, config: Config, file_storage: StorageUnderTest) -> Server:
    return await start_server(nursery, file_storage.config(config))


async def _nothing_left(server: Server, file_storage: StorageUnderTest) -> None:
    """Wait (at most 30 s) until no record, object or leftover of any upload is there."""
    with trio.fail_after(30):
        while (  # noqa: ASYNC110 (polling what the server leaves behind)
            await select_rows(server.config, "SELECT id FROM files")
            or await file_storage.keys(server.config)
            or await file_storage.leftovers(server.config)
        ):
            await trio.sleep(0.05)


async def test_an_upload_is_stored_under_its_hash_and_id_with_its_thumbnail(
    server: Server, file_storage: StorageUnderTest
) -> None:
    alice = await account(server, "alice")
    image = await upload(server, alice, png(640, 480), "chart.png")
    stored = f"{image['SHA256']}.{image['FileID']}"
    assert await file_storage.keys(server.config) == [stored, f"{stored}.thumbnail"]
    assert await file_storage.leftovers(server.config) == []


async def test_a_messages_file_is_served_whole_in_a_range_and_as_a_thumbnail(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    data = png(900, 300)
    image = await upload(server, alice, data, "wide.png")
    ws = await entered(clients, alice, room_id)
    await ws.request({"Type": "message", "Text": "", "Files": [image["FileID"]]})
    whole = await fetch(server, bob, f"/files/{image['FileID']}/wide.png")
    part = await fetch(server, bob, f"/files/{image['FileID']}/wide.png", {"Range": "bytes=8-99"})
    thumbnail = await fetch(server, bob, f"/files/{image['FileID']}/thumbnail")
    assert (whole.status_code, whole.content) == (200, data)
    assert (part.status_code, part.content) == (206, data[8:100])
    assert thumbnail.status_code == 200
    assert thumbnail.headers["Content-Type"] == "image/jpeg"


async def test_a_file_larger_than_a_multipart_part_comes_back_whole(server: Server) -> None:
    alice = await account(server, "alice")
    data = os.urandom(12 * 1024 * 1024 + 12345)  # S3: two parts of 8 MiB
    answer = await upload(server, alice, data, "big.bin")
    assert answer["SHA256"] == hashlib.sha256(data).hexdigest()
    response = await fetch(server, alice, f"/files/{answer['FileID']}/big.bin")
    assert response.content == data


async def test_a_deleted_messages_file_is_collected_from_the_storage(
    server: Server, clients: Clients, file_storage: StorageUnderTest
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    kept = await upload(server, alice, b"kept", "kept.txt")
    gone = await upload(server, alice, png(64, 64), "gone.png")
    ws = await entered(clients, alice, room_id)
    await ws.request({"Type": "message", "Text": "", "Files": [kept["FileID"]]})
    sent = await ws.request({"Type": "message", "Text": "", "Files": [gone["FileID"]]})
    await ws.request({"Type": "delete", "MessageID": sent["MessageID"]})
    assert await sweep(server.config) == 1
    assert await file_storage.keys(server.config) == [f"{kept['SHA256']}.{kept['FileID']}"]
    assert (await fetch(server, alice, f"/files/{kept['FileID']}/k")).content == b"kept"


async def test_an_upload_cut_off_midway_leaves_nothing(
    server: Server, file_storage: StorageUnderTest
) -> None:
    alice = await account(server, "alice")
    with trio.fail_after(10):
        stream = await start_upload(server, alice, 1_000_000, b"z" * 300_000)
        uploads = server.config.data_dir / "uploads"
        while not any(uploads.iterdir()):  # the server is receiving it  # noqa: ASYNC110
            await trio.sleep(0.01)
        await stream.aclose()
    await _nothing_left(server, file_storage)


@pytest.mark.parametrize("file_storage", ["s3"], indirect=True)
async def test_a_client_gone_while_its_file_goes_up_to_the_bucket_leaves_nothing(
    server: Server, file_storage: StorageUnderTest
) -> None:
    """The whole body sent, the client leaves while the server's multipart upload to the
    bucket is under way: no object, no multipart upload left open, no record."""
    alice = await account(server, "alice")
    data = os.urandom(20 * 1024 * 1024)
    with trio.fail_after(30):
        stream = await start_upload(server, alice, len(data), data)
        # Until the bucket has an open multipart upload (its key names a path).
        while not any(  # noqa: ASYNC110
            "/" in name for name in await file_storage.leftovers(server.config)
        ):
            await trio.sleep(0.01)
        await stream.aclose()
    await _nothing_left(server, file_storage)
