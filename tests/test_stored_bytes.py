"""A download's body as the server hands it to Quart (`StoredBytes`): checked before the
response starts, but holding nothing open until its first chunk is asked for, so that a
response cancelled before its body is entered (the client went away) leaves no reader
behind; read to the end or stopped early, the reader is closed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from chat.app.messages.files import StoredBytes
from chat.files.directory import DirectoryStorage
from chat.files.storage import CHUNK_BYTES

pytestmark = pytest.mark.unit

DATA = bytes(range(256)) * (3 * CHUNK_BYTES // 256)  # three chunks


async def _stored(tmp_path: Path) -> tuple[DirectoryStorage, str]:
    storage = DirectoryStorage(tmp_path / "files")
    await storage.check()
    source = tmp_path / "source"
    source.write_bytes(DATA)
    key = hashlib.sha256(DATA).hexdigest()
    await storage.put(key, source)
    return storage, key


def _open_handles(storage: DirectoryStorage, key: str) -> int:
    """How many of this process's file descriptors are open on `key`'s file."""
    target = str(storage.root / key[:2] / key)
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}") == target
        except OSError:
            continue  # closed meanwhile
    return count


async def test_a_checked_body_holds_no_file_open_before_it_is_read(tmp_path: Path) -> None:
    storage, key = await _stored(tmp_path)
    body = StoredBytes(storage, key, 0, None)
    await body.open()
    assert _open_handles(storage, key) == 0


async def test_a_body_read_to_the_end_is_the_whole_file_and_closes_it(tmp_path: Path) -> None:
    storage, key = await _stored(tmp_path)
    body = StoredBytes(storage, key, 0, None)
    await body.open()
    received = b"".join([chunk async for chunk in body])
    assert received == DATA
    assert _open_handles(storage, key) == 0


async def test_a_body_closed_after_one_chunk_closes_its_file(tmp_path: Path) -> None:
    storage, key = await _stored(tmp_path)
    body = StoredBytes(storage, key, 10, None)
    await body.open()
    first = await body.__anext__()
    assert first == DATA[10 : 10 + CHUNK_BYTES]
    assert _open_handles(storage, key) == 1
    await body.aclose()
    assert _open_handles(storage, key) == 0


async def test_a_body_whose_object_is_missing_is_refused_on_opening(tmp_path: Path) -> None:
    storage, _key = await _stored(tmp_path)
    body = StoredBytes(storage, "0" * 64, 0, None)
    with pytest.raises(FileNotFoundError):
        await body.open()
