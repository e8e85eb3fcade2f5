"""The file collector, on each storage kind (a directory, a bucket):
files never attached go after 24 hours, files whose messages were deleted go at the next
sweep, record and bytes (the file and its thumbnail); attached files stay; objects
without a record at two listings a day apart are removed. Each sweep is another
collector's, as another instance's would be (tests/test_cluster_files.py runs two at
once)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio
from files_support import StorageUnderTest, fetch, file_storage, png, s3_server, sweep, upload
from support import Clients, Server, account, create_room, entered, select_rows, start_server

from chat.core.config import Config
from chat.files.collector import ORPHAN_SWEEP_EVERY, FileCollector
from chat.files.opening import open_storage
from chat.store import open_store

__all__ = ["file_storage", "s3_server"]  # fixtures


@pytest.fixture
async def server(nursery: trio.Nursery, config: Config, file_storage: StorageUnderTest) -> Server:
    return await start_server(nursery, file_storage.config(config))


async def test_an_unattached_file_goes_after_a_day_and_not_before(
    server: Server, file_storage: StorageUnderTest
) -> None:
    alice = await account(server, "alice")
    file = await upload(server, alice, png(50, 50), "draft.png")
    assert await sweep(server.config, later=timedelta(hours=23)) == 0
    assert (await fetch(server, alice, f"/files/{file['FileID']}/f")).status_code == 200
    assert await sweep(server.config, later=timedelta(hours=25)) == 1
    assert (await fetch(server, alice, f"/files/{file['FileID']}/f")).status_code == 404
    assert await file_storage.keys(server.config) == []


async def test_an_attached_file_stays(
    server: Server, clients: Clients, file_storage: StorageUnderTest
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    file = await upload(server, alice, b"kept")
    ws = await entered(clients, alice, room_id)
    await ws.request({"Type": "message", "Text": "x", "Files": [file["FileID"]]})
    assert await sweep(server.config, later=timedelta(days=30)) == 0
    assert (await fetch(server, alice, f"/files/{file['FileID']}/f")).content == b"kept"
    assert len(await file_storage.keys(server.config)) == 1


async def test_a_deleted_messages_files_are_removed(
    server: Server, clients: Clients, file_storage: StorageUnderTest
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    image = await upload(server, alice, png(50, 50), "gone.png")
    notes = await upload(server, alice, b"gone too")
    ws = await entered(clients, alice, room_id)
    files = [image["FileID"], notes["FileID"]]
    sent = await ws.request({"Type": "message", "Text": "x", "Files": files})
    await ws.request({"Type": "delete", "MessageID": sent["MessageID"]})
    assert await sweep(server.config) == 2
    assert await select_rows(server.config, "SELECT id FROM files") == []
    assert await file_storage.keys(server.config) == []


async def test_a_file_is_removed_once(server: Server) -> None:
    """A second sweep finds nothing more to do."""
    alice = await account(server, "alice")
    await upload(server, alice, b"old")
    assert await sweep(server.config, later=timedelta(hours=25)) == 1
    assert await sweep(server.config, later=timedelta(hours=25)) == 0


async def test_an_object_without_a_record_at_two_listings_a_day_apart_is_removed(
    server: Server, file_storage: StorageUnderTest, tmp_path: Path
) -> None:
    """Left by a crash between a record's removal and its bytes'. At the first listing it
    may be another instance's file in the middle of its removal: it is left alone until
    the next listing, a day later."""
    alice = await account(server, "alice")
    kept = await upload(server, alice, b"mine")
    stray = tmp_path / "stray"
    stray.write_bytes(b"left behind by a crash")
    now = [datetime.now(UTC)]
    async with open_store(server.config) as store, open_storage(server.config) as storage:
        await storage.put("ab12.nosuchfile", stray)
        collector = FileCollector(
            store, storage, clock=lambda: now[0], unattached_for=timedelta(days=7)
        )
        assert await collector.sweep() == 0
        assert len(await file_storage.keys(server.config)) == 2
        now[0] += ORPHAN_SWEEP_EVERY
        assert await collector.sweep() == 1
    assert await file_storage.keys(server.config) == [f"{kept['SHA256']}.{kept['FileID']}"]
