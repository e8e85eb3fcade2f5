"""`FileLibrary`: uploading files, deciding who may read them, and reading their bytes.
It owns the file storage (`chat.files.storage`) and the records' side of the store, and
starts no task (the collector, `chat.files.collector`, is the one task of files).

An upload is received into a temporary file (`chat.files.uploads`), sniffed, given a
thumbnail if it is an image, recorded, and only then put in the storage: an object is
always preceded by its record, so the collector, which removes records first and then
their objects, never removes the bytes of a file that is being uploaded.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
import unicodedata
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import trio

from chat.app.limits.rate_limits import RateLimits
from chat.core.errors import InvalidInput, NotFound, TooLarge, Unavailable
from chat.core.records import Identity, StoredFile
from chat.core.validation import is_file_id
from chat.files.sniffing import IMAGE_TYPES, PLAIN_FILE, sniff
from chat.files.storage import FileStorage, StorageUnavailable
from chat.files.thumbnails import make_thumbnail
from chat.files.uploads import FORM_SLACK_BYTES, Received, receive, remove
from chat.store import Files
from chat.store.private_paths import make_private_directory, private_opener

log = logging.getLogger(__name__)

#: How old a file in the uploads directory is, unwritten, when start-up removes it.
STALE_UPLOAD_S = 24 * 3600

#: How long the release of a failed upload's record and objects may take (shielded:
#: it runs when the upload is cancelled, so it bounds the wait of a shutdown).
RELEASE_TIMEOUT_S = 5.0

#: The longest file name kept, in characters (longer ones are shortened, keeping the
#: extension).
MAX_NAME_CHARS = 255


def file_name(raw: str | None) -> str:
    """A file's name as it is kept and shown: no directories, no control characters,
    at most `MAX_NAME_CHARS`, never empty ("file")."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip().strip(".")
    if len(name) > MAX_NAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            name = stem[: MAX_NAME_CHARS - len(extension) - 1] + "." + extension
        else:
            name = name[:MAX_NAME_CHARS]
    return name or "file"


def not_found(file_id: str) -> NotFound:
    # One answer for unknown, not yours and not readable: nothing about others' files.
    return NotFound(f"no file {file_id[:64]} that you may read")


class FileLibrary:
    """Files: upload, authorise, read."""

    def __init__(
        self,
        store: Files,
        storage: FileStorage,
        *,
        uploads_dir: Path,
        max_file_bytes: int,
        user_quota_bytes: int,
        rate_limits: RateLimits,
    ) -> None:
        self.store = store
        self.storage = storage
        self.uploads_dir = uploads_dir
        self.max_file_bytes = max_file_bytes
        self.user_quota_bytes = user_quota_bytes
        self.rate_limits = rate_limits

    async def prepare(self) -> None:
        """Make the uploads directory (at start-up), and remove what a crash left in it:
        files not written to for `STALE_UPLOAD_S` (an upload in progress writes at least
        every body timeout; workers of one machine share the directory, so a fresh file
        may be another worker's)."""

        def make_and_sweep() -> None:
            make_private_directory(self.uploads_dir)
            cutoff = time.time() - STALE_UPLOAD_S
            for entry in self.uploads_dir.glob("*.part"):
                with contextlib.suppress(FileNotFoundError):
                    if entry.stat().st_mtime < cutoff:
                        entry.unlink()

        await trio.to_thread.run_sync(make_and_sweep)

    async def check_upload(self, identity: Identity, content_length: int | None) -> None:
        """Refuse an upload before its body is read: rate limit, size, quota."""
        self.rate_limits.hit(self.rate_limits.uploads, str(identity.user_id))
        if content_length is not None:
            # A multipart body is a little larger than the file it carries.
            if content_length > self.max_file_bytes + FORM_SLACK_BYTES:
                raise TooLarge(
                    f"the file is too large: the limit is {self.max_file_bytes} bytes"
                    " (CHAT_MAX_FILE_SIZE)"
                )
            await self._check_quota(identity, min(content_length, self.max_file_bytes))

    async def _check_quota(self, identity: Identity, size: int) -> None:
        """An early refusal, before any work: racing uploads may all pass it, so the
        record's insert checks again (`_reserve`)."""
        used = await self.store.used_bytes(identity.user_id)
        if used + size > self.user_quota_bytes:
            raise self._over_quota(used + size)

    def _over_quota(self, would_take: int) -> TooLarge:
        return TooLarge(
            f"your files would take {would_take} bytes, past your quota of"
            f" {self.user_quota_bytes} (CHAT_USER_QUOTA): delete messages with files"
            " to make room"
        )

    async def upload(
        self,
        identity: Identity,
        chunks: AsyncIterator[bytes],
        *,
        name: str | None,
        content_type: str,
    ) -> StoredFile:
        """Receive, check, record and store one file; its record comes back."""
        received = await receive(
            chunks, self.uploads_dir, limit=self.max_file_bytes, content_type=content_type
        )
        try:
            return await self._keep(identity, received, file_name(name or received.part_name))
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(remove, received.path)

    async def _keep(self, identity: Identity, received: Received, name: str) -> StoredFile:
        await self._check_quota(identity, received.size)
        sniffed = sniff(received.head)
        thumbnail = None
        if sniffed in IMAGE_TYPES:
            thumbnail = await make_thumbnail(received.path, owner=identity.user_id)
            if thumbnail is None:
                # An image's first bytes, but no image this server decodes (truncated,
                # corrupt, a bomb, a polyglot): a plain file, which no browser is told
                # to decode (served as an attachment, never inline).
                sniffed = PLAIN_FILE
        file = StoredFile(
            id=secrets.token_urlsafe(16),
            uploader_id=identity.user_id,
            name=name,
            size=received.size,
            content_type=sniffed,
            sha256=received.sha256,
            created_at=datetime.now(UTC),
            width=None if thumbnail is None else thumbnail.width,
            height=None if thumbnail is None else thumbnail.height,
            thumbnail_type=None if thumbnail is None else thumbnail.content_type,
        )
        # The record first, then the bytes (see the module's docstring). The record is
        # also the reservation of the quota: inserted only if it fits (checked in the
        # same transaction), released below if anything after its insert fails.
        try:
            reserved = await self.store.add_file(file, quota_bytes=self.user_quota_bytes)
            if reserved:
                await self._put(file.storage_key, received.path)
                if thumbnail is not None:
                    await self.put_bytes(file.thumbnail_key, thumbnail.data)
        except BaseException:
            # Cancelled or failed: the insert may have committed even if its await was
            # cancelled, so the release always runs (deleting what is not there is no
            # error), shielded and bounded.
            await self._release(file)
            raise
        if not reserved:
            raise self._over_quota(await self.store.used_bytes(identity.user_id) + file.size)
        log.info(
            "file uploaded",
            extra={"file_id": file.id, "uid": identity.user_id, "bytes": file.size},
        )
        return file

    async def _put(self, key: str, path: Path) -> None:
        try:
            await self.storage.put(key, path)
        except StorageUnavailable as error:
            raise Unavailable("file storage unavailable", detail=str(error)) from None

    async def put_bytes(self, key: str, data: bytes) -> None:
        """Store `data` under `key` (through a private temporary file in the uploads
        directory); `Unavailable` if the storage does not answer."""
        async with self.spooled(data) as path:
            await self._put(key, path)

    @contextlib.asynccontextmanager
    async def spooled(self, data: bytes) -> AsyncIterator[Path]:
        """`data` in a private temporary file of the uploads directory while the block
        runs (removed after it, even when cancelled)."""
        path = self.uploads_dir / f"spooled-{secrets.token_hex(12)}.part"
        await trio.to_thread.run_sync(_write_private, path, data)
        try:
            yield path
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(remove, path)

    async def _release(self, file: StoredFile) -> None:
        """Remove what an upload that failed has kept of `file`: its record (and so its
        bytes' place in the quota), then its objects. Shielded, at most
        `RELEASE_TIMEOUT_S`; a release that fails or times out leaves an unattached
        record, which the collector removes a day later."""
        with trio.move_on_after(RELEASE_TIMEOUT_S, shield=True) as release:
            try:
                await self.store.delete_file_record(file.id)
                await self._forget(file)
            except Exception as error:  # the upload's own error is the one to raise
                log.warning("could not release a failed upload's file %s: %s", file.id, error)
        if release.cancelled_caught:
            log.warning("releasing a failed upload's file %s timed out", file.id)

    async def _forget(self, file: StoredFile) -> None:
        """Remove a file's objects from the storage (its record is gone already)."""
        await self.storage.delete(file.storage_key)
        await self.storage.delete(file.thumbnail_key)

    async def readable(self, identity: Identity, file_id: str) -> StoredFile:
        """The file, if `identity` may read it; `NotFound` otherwise."""
        if not is_file_id(file_id):
            raise not_found(file_id)
        file = await self.store.readable_file(file_id, identity.user_id, admin=identity.is_admin)
        if file is None:
            raise not_found(file_id)
        return file

    async def read(
        self, file: StoredFile, key: str, start: int = 0, end: int | None = None
    ) -> StoredBytes:
        """The bytes of `file`'s object `key` (the file's own, or its thumbnail's), in
        chunks, as a response body, checked before any header is sent (its size asked),
        so that bytes missing from the storage are `NotFound` (404) and a
        storage that does not answer `Unavailable` (503), not a 200 and a cut body. Each
        is logged once, one line, no traceback."""
        body = StoredBytes(self.storage, key, start, end)
        try:
            await body.open()
        except FileNotFoundError:
            log.warning(
                "a file's bytes are missing from the storage",
                extra={"file_id": file.id, "key": key},
            )
            raise NotFound(f"file {file.id}'s content is missing from the storage") from None
        except StorageUnavailable as error:
            log.warning("file storage unavailable: %s", error, extra={"file_id": file.id})
            raise Unavailable("file storage unavailable", detail=str(error)) from None
        return body


def _write_private(path: Path, data: bytes) -> None:
    with open(path, "xb", opener=private_opener) as out:
        out.write(data)


class StoredBytes:
    """A response body streamed from the storage, checked (`open`: the object's size
    asked) before the response starts. A storage that stops answering later, or an
    object removed meanwhile, ends it early (the client sees a short body, the log says
    why). The storage's reader starts with the first chunk asked for, and is closed when
    the response ends, however it ends: a response cancelled before its body was entered
    (the client went away) leaves nothing open."""

    def __init__(self, storage: FileStorage, key: str, start: int, end: int | None) -> None:
        self._storage = storage
        self._key = key
        self._range = (start, end)
        self._chunks: AsyncIterator[bytes] | None = None
        self._ended = False

    async def open(self) -> None:
        """Ask the storage for the object: raises `FileNotFoundError` or
        `StorageUnavailable` when it cannot be read at all."""
        await self._storage.size(self._key)

    def __aiter__(self) -> StoredBytes:
        return self

    async def __anext__(self) -> bytes:
        if self._ended:
            raise StopAsyncIteration
        if self._chunks is None:
            self._chunks = self._storage.open_range(self._key, *self._range)
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            await self.aclose()
            raise
        except FileNotFoundError:
            log.warning("a file's bytes went missing while it was sent", extra={"key": self._key})
        except StorageUnavailable as error:
            log.warning("file storage unavailable while a file was sent: %s", error)
        await self.aclose()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self._ended = True
        closer = getattr(self._chunks, "aclose", None)
        if closer is not None:
            with trio.CancelScope(shield=True):
                await closer()


def check_name_param(name: str | None) -> str | None:
    """The ``name`` query parameter of ``POST /files``: bounded before anything else."""
    if name is not None and len(name) > 4 * MAX_NAME_CHARS:
        raise InvalidInput(f"name is too long: at most {MAX_NAME_CHARS} characters are kept")
    return name
