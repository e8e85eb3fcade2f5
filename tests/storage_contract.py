"""What every `chat.files.storage.FileStorage` must do, as checks that run over any of
them: tests/test_storage_contract.py runs each check once per implementation (its
`storage` fixture), so the directory and the S3 storage are held to the same behaviour.

Each check is ``async def check_...(storage, tmp_path)``, on an empty storage of its own;
`CHECKS` lists them all. The ranges follow HTTP's: ``[start, end)``, an `end` past the
object's end means "to the end", a `start` at or past it gives no bytes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio

from chat.files.storage import CHUNK_BYTES, FileStorage

Check = Callable[[FileStorage, Path], Awaitable[None]]

#: Large enough for a multipart upload, and for many chunks on the way back.
LARGE_BYTES = 12 * 1024 * 1024 + 12345


def source_file(tmp_path: Path, data: bytes, name: str | None = None) -> tuple[str, Path]:
    """A local file holding `data`, and its key (the SHA-256 hex of `data`)."""
    key = hashlib.sha256(data).hexdigest()
    path = tmp_path / (name or f"upload-{key[:16]}")
    path.write_bytes(data)
    return key, path


async def read_all(storage: FileStorage, key: str, start: int = 0, end: int | None = None) -> bytes:
    """Every chunk of the range joined, each checked to be at most `CHUNK_BYTES`."""
    chunks = []
    async for chunk in storage.open_range(key, start, end):
        assert 0 < len(chunk) <= CHUNK_BYTES
        chunks.append(chunk)
    return b"".join(chunks)


async def all_keys(storage: FileStorage) -> list[str]:
    """Every key `keys()` gives, sorted."""
    return sorted([key async for key in storage.keys()])  # noqa: SIM118 (not a dict)


async def check_put_then_read_gives_the_bytes(storage: FileStorage, tmp_path: Path) -> None:
    data = os.urandom(100_000)
    key, path = source_file(tmp_path, data)
    await storage.put(key, path)
    assert await read_all(storage, key) == data


async def check_put_leaves_no_tie_to_the_source(storage: FileStorage, tmp_path: Path) -> None:
    """The caller deletes its temporary file after `put`: the stored bytes stay."""
    data = b"kept after the source is gone"
    key, path = source_file(tmp_path, data)
    await storage.put(key, path)
    path.unlink(missing_ok=True)
    assert await read_all(storage, key) == data


async def check_put_twice_is_idempotent(storage: FileStorage, tmp_path: Path) -> None:
    data = b"the same bytes, uploaded twice"
    key, first = source_file(tmp_path, data, "first")
    _, second = source_file(tmp_path, data, "second")
    await storage.put(key, first)
    await storage.put(key, second)
    assert await read_all(storage, key) == data
    assert await all_keys(storage) == [key]


async def check_concurrent_puts_of_one_key(storage: FileStorage, tmp_path: Path) -> None:
    """Two uploads of the same bytes at once (two people, two instances) both succeed."""
    data = os.urandom(300_000)
    key, _ = source_file(tmp_path, data)
    paths = [source_file(tmp_path, data, f"copy-{n}")[1] for n in range(3)]
    async with trio.open_nursery() as nursery:
        for path in paths:
            nursery.start_soon(storage.put, key, path)
    assert await read_all(storage, key) == data


async def check_range_from_a_start(storage: FileStorage, tmp_path: Path) -> None:
    data = bytes(range(256)) * 40
    key, path = source_file(tmp_path, data)
    await storage.put(key, path)
    assert await read_all(storage, key, 1000) == data[1000:]
    assert await read_all(storage, key, len(data) - 1) == data[-1:]


async def check_range_with_start_and_end(storage: FileStorage, tmp_path: Path) -> None:
    data = bytes(range(256)) * 40
    key, path = source_file(tmp_path, data)
    await storage.put(key, path)
    assert await read_all(storage, key, 0, 1) == data[:1]
    assert await read_all(storage, key, 10, 500) == data[10:500]
    assert await read_all(storage, key, 0, len(data)) == data


async def check_range_end_past_the_end_stops_at_the_end(
    storage: FileStorage, tmp_path: Path
) -> None:
    data = b"0123456789"
    key, path = source_file(tmp_path, data)
    await storage.put(key, path)
    assert await read_all(storage, key, 4, 1000) == data[4:]


async def check_empty_ranges_give_no_bytes(storage: FileStorage, tmp_path: Path) -> None:
    data = b"0123456789"
    key, path = source_file(tmp_path, data)
    await storage.put(key, path)
    assert await read_all(storage, key, 5, 5) == b""
    assert await read_all(storage, key, len(data)) == b""
    assert await read_all(storage, key, len(data) + 100) == b""


async def check_empty_file(storage: FileStorage, tmp_path: Path) -> None:
    key, path = source_file(tmp_path, b"")
    await storage.put(key, path)
    assert await storage.size(key) == 0
    assert await read_all(storage, key) == b""
    assert await read_all(storage, key, 0, 0) == b""
    assert await read_all(storage, key, 0, 10) == b""
    assert await all_keys(storage) == [key]


async def check_size(storage: FileStorage, tmp_path: Path) -> None:
    data = os.urandom(54_321)
    key, path = source_file(tmp_path, data)
    await storage.put(key, path)
    assert await storage.size(key) == len(data)


async def check_missing_key_is_file_not_found(storage: FileStorage, tmp_path: Path) -> None:
    key = hashlib.sha256(b"never stored").hexdigest()
    with pytest.raises(FileNotFoundError):
        await storage.size(key)
    with pytest.raises(FileNotFoundError):
        await read_all(storage, key)
    with pytest.raises(FileNotFoundError):
        await read_all(storage, key, 3, 10)
    with pytest.raises(FileNotFoundError):
        await read_all(storage, key, 3, 3)


async def check_delete(storage: FileStorage, tmp_path: Path) -> None:
    kept_key, kept = source_file(tmp_path, b"kept")
    gone_key, gone = source_file(tmp_path, b"deleted")
    await storage.put(kept_key, kept)
    await storage.put(gone_key, gone)
    await storage.delete(gone_key)
    with pytest.raises(FileNotFoundError):
        await storage.size(gone_key)
    assert await all_keys(storage) == [kept_key]
    assert await read_all(storage, kept_key) == b"kept"


async def check_delete_of_a_missing_key_is_no_error(storage: FileStorage, tmp_path: Path) -> None:
    await storage.delete(hashlib.sha256(b"never stored").hexdigest())


async def check_put_after_delete_stores_again(storage: FileStorage, tmp_path: Path) -> None:
    key, path = source_file(tmp_path, b"back again")
    await storage.put(key, path)
    await storage.delete(key)
    await storage.put(key, path)
    assert await read_all(storage, key) == b"back again"


async def check_keys_lists_every_stored_key(storage: FileStorage, tmp_path: Path) -> None:
    assert await all_keys(storage) == []
    stored = []
    for n in range(5):
        key, path = source_file(tmp_path, f"file {n}".encode())
        await storage.put(key, path)
        stored.append(key)
    assert await all_keys(storage) == sorted(stored)


async def check_large_file_in_chunks(storage: FileStorage, tmp_path: Path) -> None:
    """A file of many chunks: streamed back intact, each chunk at most `CHUNK_BYTES`."""
    data = os.urandom(LARGE_BYTES)
    key, path = source_file(tmp_path, data)
    del data  # the check below hashes the chunks as they come
    await storage.put(key, path)
    assert await storage.size(key) == LARGE_BYTES
    digest = hashlib.sha256()
    count = 0
    async for chunk in storage.open_range(key):
        assert 0 < len(chunk) <= CHUNK_BYTES
        digest.update(chunk)
        count += 1
    assert digest.hexdigest() == key
    assert count >= LARGE_BYTES // CHUNK_BYTES
    middle = await read_all(storage, key, CHUNK_BYTES - 7, 3 * CHUNK_BYTES + 5)
    assert middle == path.read_bytes()[CHUNK_BYTES - 7 : 3 * CHUNK_BYTES + 5]


async def check_reading_part_of_a_range_then_stopping(storage: FileStorage, tmp_path: Path) -> None:
    """A reader that stops early (a client gone mid-download) leaves the storage usable."""
    data = os.urandom(4 * CHUNK_BYTES)
    key, path = source_file(tmp_path, data)
    await storage.put(key, path)
    for _ in range(3):
        iterator = storage.open_range(key)
        first = await iterator.__anext__()
        assert first == data[: len(first)]
        await iterator.aclose()  # type: ignore[attr-defined]
    with trio.move_on_after(0):
        await read_all(storage, key)
    assert await read_all(storage, key) == data


CHECKS: list[Check] = [
    check_put_then_read_gives_the_bytes,
    check_put_leaves_no_tie_to_the_source,
    check_put_twice_is_idempotent,
    check_concurrent_puts_of_one_key,
    check_range_from_a_start,
    check_range_with_start_and_end,
    check_range_end_past_the_end_stops_at_the_end,
    check_empty_ranges_give_no_bytes,
    check_empty_file,
    check_size,
    check_missing_key_is_file_not_found,
    check_delete,
    check_delete_of_a_missing_key_is_no_error,
    check_put_after_delete_stores_again,
    check_keys_lists_every_stored_key,
    check_large_file_in_chunks,
    check_reading_part_of_a_range_then_stopping,
]
