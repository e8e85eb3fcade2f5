"""`DirectoryStorage`: files' bytes in a directory, by content key.

An object lives at ``<root>/<key[:2]>/<key>``, readable by the server's user only (files
0600, directories 0700: `chat.store.private_paths`). It is written to a temporary name in the
same directory and renamed into place (`os.replace` is atomic on POSIX), so a reader
never sees half a file, and several instances sharing the directory (an NFS mount, a
volume) may store the same key at once: the last rename wins, with the same bytes.

Resource handling: every filesystem call runs in a worker thread, at most
`MAX_THREADS` at a time per storage; reads hand out `CHUNK_BYTES` at a time.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import trio

from chat.files.storage import CHUNK_BYTES, StorageUnavailable
from chat.store.private_paths import make_private_directory, private_opener

MAX_THREADS = 8

T = TypeVar("T")

#: Keys are SHA-256 hex digests in practice; anything else that could name a path
#: outside the root is refused before it reaches the filesystem.
_KEY_CHARACTERS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-.")


def _checked(key: str) -> str:
    if not 2 <= len(key) <= 128 or not set(key) <= _KEY_CHARACTERS or key.startswith("."):
        raise ValueError(f"not a storage key: {key[:20]!r}")
    return key


class DirectoryStorage:
    """`FileStorage` in a local (or shared) directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._limiter = trio.CapacityLimiter(MAX_THREADS)

    def describe(self) -> str:
        return f"directory {self.root}"

    def _path(self, key: str) -> Path:
        key = _checked(key)
        return self.root / key[:2] / key

    async def _thread(self, function: Callable[..., T], *args: Any) -> T:
        try:
            return await trio.to_thread.run_sync(function, *args, limiter=self._limiter)
        except FileNotFoundError:
            raise
        except OSError as error:
            raise StorageUnavailable(f"file storage {self.root}: {error.strerror}") from None

    async def check(self) -> None:
        """Create the root if needed and make sure it can be written (at start-up)."""

        def probe() -> None:
            make_private_directory(self.root)
            probe_path = self.root / f".probe-{secrets.token_hex(8)}"
            probe_path.write_bytes(b"")
            probe_path.unlink()

        await self._thread(probe)

    async def put(self, key: str, source: Path) -> None:
        target = self._path(key)

        def place() -> None:
            if target.exists():
                return
            make_private_directory(target.parent)
            temporary = target.parent / f".{key}.{secrets.token_hex(8)}.part"
            try:
                # The source usually lies on another filesystem (the temporary directory),
                # so copy, flush, then rename: a crash leaves a .part file, never a torn key.
                with (
                    open(source, "rb") as reading,
                    open(temporary, "wb", opener=private_opener) as writing,
                ):
                    shutil.copyfileobj(reading, writing, CHUNK_BYTES)
                    writing.flush()
                    os.fsync(writing.fileno())
                os.replace(temporary, target)
            finally:
                temporary.unlink(missing_ok=True)

        await self._thread(place)

    async def open_range(
        self, key: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        path = self._path(key)
        handle = await self._thread(lambda: open(path, "rb"))  # noqa: SIM115 (closed below)
        try:
            await self._thread(handle.seek, start)
            position = start
            while end is None or position < end:
                want = CHUNK_BYTES if end is None else min(CHUNK_BYTES, end - position)
                chunk = await self._thread(handle.read, want)
                if not chunk:
                    return
                position += len(chunk)
                yield chunk
        finally:
            # Closing a regular file does not block for long; it must happen even when
            # the reader is cancelled or stops early.
            handle.close()

    async def size(self, key: str) -> int:
        path = self._path(key)
        result = await self._thread(os.stat, path)
        return int(result.st_size)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        await self._thread(lambda: path.unlink(missing_ok=True))

    async def keys(self) -> AsyncIterator[str]:
        def listing() -> list[str]:
            if not self.root.exists():
                return []
            found: list[str] = []
            for bucket in self.root.iterdir():
                if bucket.is_dir() and len(bucket.name) == 2:
                    found.extend(
                        entry.name
                        for entry in bucket.iterdir()
                        if not entry.name.startswith(".") and entry.name[:2] == bucket.name
                    )
            return found

        for key in await self._thread(listing):
            yield key
