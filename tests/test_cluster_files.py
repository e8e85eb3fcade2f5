"""Files in a cluster (issue 24): instances that share a files directory serve one
another's uploads, and a message's files reach its readers on every instance, in the
frame, in history, and as bytes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cluster import Instance, open_cluster
from files_support import fetch, png, upload
from support import account, create_room, open_clients, room_history
from test_cluster import _enter, database_url

__all__ = ["database_url"]  # the fixture, shared with tests/test_cluster.py


@pytest.fixture
async def sharing(tmp_path: Path, database_url: str) -> AsyncIterator[list[Instance]]:
    """Two instances on one database and one files directory."""
    shared = str(tmp_path / "shared-files")
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
