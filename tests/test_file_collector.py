"""The file collector (issue 24, item 9): files never attached go after 24 hours, files
whose messages were deleted go at the next sweep, record and bytes; attached files stay;
objects without a record are removed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from files_support import fetch, upload
from support import Clients, Server, account, create_room, entered, select_rows

from chat.files.collector import FileCollector
from chat.files.directory import DirectoryStorage
from chat.store import open_store


def _objects(server: Server) -> set[str]:
    root = server.config.data_dir / "files"
    return {
        path.name for path in root.rglob("*") if path.is_file() and not path.name.startswith(".")
    }


async def _sweep(server: Server, *, later: timedelta) -> int:
    async with open_store(server.config) as store:
        collector = FileCollector(
            store,
            DirectoryStorage(server.config.data_dir / "files"),
            clock=lambda: datetime.now(UTC) + later,
        )
        return await collector.sweep()


async def test_an_unattached_file_goes_after_a_day_and_not_before(server: Server) -> None:
    alice = await account(server, "alice")
    file = await upload(server, alice, b"forgotten")
    await _sweep(server, later=timedelta(hours=23))
    assert (await fetch(server, alice, f"/files/{file['FileID']}/f")).status_code == 200
    assert await _sweep(server, later=timedelta(hours=25)) == 1
    assert (await fetch(server, alice, f"/files/{file['FileID']}/f")).status_code == 404
    assert _objects(server) == set()


async def test_an_attached_file_stays(server: Server, clients: Clients) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    file = await upload(server, alice, b"kept")
    ws = await entered(clients, alice, room_id)
    await ws.request({"Type": "message", "Text": "x", "Files": [file["FileID"]]})
    assert await _sweep(server, later=timedelta(days=30)) == 0
    assert (await fetch(server, alice, f"/files/{file['FileID']}/f")).content == b"kept"


async def test_a_deleted_messages_files_are_removed(server: Server, clients: Clients) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    file = await upload(server, alice, b"gone")
    ws = await entered(clients, alice, room_id)
    sent = await ws.request({"Type": "message", "Text": "x", "Files": [file["FileID"]]})
    await ws.request({"Type": "delete", "MessageID": sent["MessageID"]})
    assert await _sweep(server, later=timedelta(0)) == 1
    assert await select_rows(server.config, "SELECT id FROM files") == []
    assert _objects(server) == set()


async def test_an_object_without_a_record_is_removed(server: Server) -> None:
    alice = await account(server, "alice")
    await upload(server, alice, b"mine")
    stray = server.config.data_dir / "files" / "ab" / "ab12.nosuchfile"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"left behind")
    await _sweep(server, later=timedelta(0))
    assert not stray.exists()
    assert len(_objects(server)) == 1
