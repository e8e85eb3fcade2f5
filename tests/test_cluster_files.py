"""Files in a cluster, on each storage kind: instances that share a
files directory, or a bucket, serve one another's uploads; a message's files reach its
readers on every instance, in the frame, in history, and as bytes; and when every
instance's collector sweeps at once, each file is removed by one of them, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import trio
from cluster import Instance, open_cluster
from files_support import (
    StorageUnderTest,
    fetch,
    file_storage,
    png,
    race_uploads,
    s3_server,
    sweep,
    upload,
)
from support import account, create_room, open_clients, room_history, select_rows
from test_cluster import _enter, database_url

__all__ = ["database_url", "file_storage", "s3_server"]  # fixtures


@pytest.fixture
async def sharing(
    tmp_path: Path, database_url: str, file_storage: StorageUnderTest
) -> AsyncIterator[list[Instance]]:
    """Two instances on one database and one storage: a directory both mount, or a
    bucket both are given."""
    shared = file_storage.url or str(tmp_path / "shared-files")
    async with open_cluster(tmp_path, database_url, 2, files_url=shared) as instances:
        yield instances


async def test_an_image_sent_on_one_instance_reaches_a_reader_on_the_other(
    sharing: list[Instance],
) -> None:
    a, b = sharing
    alice, bob = await account(a.server, "alice"), await account(b.server, "bob")
    room_id = await create_room(a.server, alice, "room", bob)
    image = await upload(a.server, alice, png(640, 480), "screen.png")
    async with open_clients(a.server) as on_a, open_clients(b.server) as on_b:
        ws_a = await on_a.json("/ws", token=alice.token)
        ws_b = await on_b.json("/ws", token=bob.token)
        await _enter(ws_a, room_id)
        await _enter(ws_b, room_id)
        await ws_a.send({"Type": "message", "Text": "", "Files": [image["FileID"]]})
        frame = await ws_b.receive()
    assert frame["Files"][0]["FileID"] == image["FileID"]
    assert (frame["Files"][0]["Width"], frame["Files"][0]["Height"]) == (640, 480)
    (item,) = await room_history(b.server, bob, room_id)
    assert item["Files"] == frame["Files"]
    thumbnail = await fetch(b.server, bob, f"/files/{image['FileID']}/thumbnail")
    original = await fetch(b.server, bob, f"/files/{image['FileID']}/screen.png")
    assert thumbnail.status_code == 200
    assert original.content == png(640, 480)


async def test_the_uploader_reads_a_file_on_the_other_instance_before_attaching_it(
    sharing: list[Instance],
) -> None:
    a, b = sharing
    alice = await account(a.server, "alice")
    file = await upload(a.server, alice, b"draft", "draft.txt")
    response = await fetch(b.server, alice, f"/files/{file['FileID']}/draft.txt")
    assert response.content == b"draft"


async def test_two_instances_sweeping_at_once_remove_each_file_once(
    sharing: list[Instance], file_storage: StorageUnderTest
) -> None:
    a, b = sharing
    alice = await account(a.server, "alice")
    for n in range(30):
        await upload((a, b)[n % 2].server, alice, b"old %d" % n, f"f{n}")
    removed: list[int] = []

    async def collect(instance: Instance) -> None:
        removed.append(await sweep(instance.config, later=timedelta(hours=25)))

    async with trio.open_nursery() as sweeps:
        sweeps.start_soon(collect, a)
        sweeps.start_soon(collect, b)
    assert sum(removed) == 30
    assert await select_rows(a.config, "SELECT id FROM files") == []
    assert await file_storage.keys(a.config) == []


async def test_uploads_racing_on_two_instances_exceed_the_quota_by_none(
    tmp_path: Path, database_url: str
) -> None:
    """Ten 750 KB uploads, half through each instance, against a 1 MiB quota, their last
    bytes sent at once: one is kept (the uploader's row is held across instances while
    one is reserved)."""
    quota, size = 1024 * 1024, 750_000
    async with open_cluster(tmp_path, database_url, 2, user_quota_bytes=quota) as (a, b):
        alice = await account(a.server, "alice")
        statuses = await race_uploads([a.server, b.server], alice, 10, size)
        assert sorted(statuses) == [201] + [413] * 9
        assert await select_rows(a.config, "SELECT sum(size) FROM files") == [(size,)]
