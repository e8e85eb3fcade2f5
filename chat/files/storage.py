"""Where uploaded files' bytes live: one small interface (`FileStorage`) with a
directory implementation (`chat.files.directory`) and an S3-compatible one
(`chat.files.s3`). The database holds what a file is (its record); storage holds only
bytes, addressed by content (the SHA-256 of the bytes, as lowercase hex), so two
uploads of the same bytes share one object and a key never changes meaning.

Resource handling: an upload is first streamed into a local temporary file (its hash
and size computed on the way), then handed to `FileStorage.put`, which owns moving or
copying it into place; the caller deletes the temporary file afterwards if it still
exists. Reads are streamed in chunks, never whole files in memory.

Error handling: a storage that cannot serve now raises `StorageUnavailable`; a key
that is not stored raises `FileNotFoundError` from `open_range` and `size`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

#: How much `FileStorage.open_range` hands out at a time.
CHUNK_BYTES = 256 * 1024


class StorageUnavailable(Exception):
    """The storage cannot serve now (a directory that cannot be written, an object store
    that does not answer); `str()` says why, for the log and a 503."""


class FileStorage(Protocol):
    """Bytes by content key. Every method may be called from any Trio task; blocking
    work runs off the Trio thread inside the implementation."""

    async def put(self, key: str, source: Path) -> None:
        """Store the bytes of the local file `source` under `key` (their SHA-256 hex).
        Idempotent: a key already stored is left as it is. Atomic: a reader sees all
        of the object or nothing (written under a temporary name, then renamed or
        committed)."""
        ...

    def open_range(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes of `key` from `start` up to, not including, `end` (None: to the
        end), in chunks of at most `CHUNK_BYTES`."""
        ...

    async def size(self, key: str) -> int:
        """How many bytes `key` holds."""
        ...

    async def delete(self, key: str) -> None:
        """Remove `key`; a key not stored is no error."""
        ...

    def keys(self) -> AsyncIterator[str]:
        """Every stored key, in no particular order (for the collector)."""
        ...
