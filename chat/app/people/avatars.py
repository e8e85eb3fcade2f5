"""Avatars: a picture of oneself (``PUT /profile/avatar``), shown square beside one's name.

An upload goes the files' way (`chat.files`): the body is streamed into a temporary file
(`chat.files.uploads.receive`, at most `MAX_AVATAR_BYTES`), its type read from its bytes
(`chat.files.sniffing`; only PNG, JPEG, GIF and WebP are taken), and the image decoded in
a child process within the bounds of `chat.files.thumbnails` (its cost read from its
headers first), which crops its middle to a square `AVATAR_EDGE` pixels a side, upright
and without metadata. Only that square is kept, never the upload.

It is stored under ``avatar-<UID>-<its SHA-256>`` (no dot: the files collector's sweep of
orphans reads only keys of the form ``<sha256>.<FileID>``, so it never takes an avatar for
a file's object), named in the user's row (`Accounts.set_avatar`); the one it replaces
is removed. Its address has the key in it (`chat.core.shapes.avatar_url`), so a new
avatar is a new address and a browser may keep one for as long as it likes. Messages
carry it as ``AvatarURL`` (joined in when they are read, as names are).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import trio

from chat.core.errors import InvalidInput, NotFound, TooLarge, Unavailable
from chat.files.sniffing import IMAGE_TYPES, sniff
from chat.files.storage import StorageUnavailable
from chat.files.thumbnails import make_thumbnail
from chat.files.uploads import FORM_SLACK_BYTES, receive, remove

if TYPE_CHECKING:
    from chat.app.limits.rate_limits import RateLimits
    from chat.core.records import Identity, User
    from chat.files.storage import FileStorage
    from chat.store import Accounts

log = logging.getLogger(__name__)

#: The largest image taken as an avatar, in bytes (before it is cropped and shrunk).
MAX_AVATAR_BYTES = 5 * 1024 * 1024
#: An avatar's side, in pixels.
AVATAR_EDGE = 128
#: The largest avatar kept (the square's encoded bytes): read whole when served.
_MAX_KEPT_BYTES = 512 * 1024

NOT_AN_IMAGE = "an avatar must be a PNG, JPEG, GIF or WebP image"


def avatar_key(user_id: int, data: bytes) -> str:
    return f"avatar-{user_id}-{hashlib.sha256(data).hexdigest()}"


class FilesPath(Protocol):
    """What avatars take of the files' path (`chat.app.messages.files.FileLibrary`)."""

    storage: FileStorage
    uploads_dir: Path
    rate_limits: RateLimits

    async def put_bytes(self, key: str, data: bytes) -> None: ...


class Avatars:
    """Sets, removes and reads users' avatars. No state of its own, no task."""

    def __init__(
        self,
        store: Accounts,
        library: FilesPath,
        *,
        changed: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._store = store
        self._library = library
        # Messages carry their sender's avatar: the history kept in memory goes, on every
        # instance (`HistoryFromMemory.names_changed`), when one changes.
        self._changed = changed

    def check_upload(self, identity: Identity, content_length: int | None) -> None:
        """Refuse an upload before its body is read: the uploads' rate limit, the size."""
        rate_limits = self._library.rate_limits
        rate_limits.hit(rate_limits.uploads, str(identity.user_id))
        if content_length is not None and content_length > MAX_AVATAR_BYTES + FORM_SLACK_BYTES:
            raise _too_large()

    async def upload(
        self, identity: Identity, chunks: AsyncIterator[bytes], *, content_type: str
    ) -> User:
        """Receive an image, crop it to a square and make it the caller's avatar."""
        try:
            received = await receive(
                chunks,
                self._library.uploads_dir,
                limit=MAX_AVATAR_BYTES,
                content_type=content_type,
            )
        except TooLarge:
            raise _too_large() from None
        try:
            sniffed = sniff(received.head)
            if sniffed not in IMAGE_TYPES:
                raise InvalidInput(f"{NOT_AN_IMAGE}: this is {sniffed.split(';')[0]}")
            square = await make_thumbnail(
                received.path, owner=identity.user_id, edge=AVATAR_EDGE, square=True
            )
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(remove, received.path)
        if square is None:
            raise InvalidInput(
                f"{NOT_AN_IMAGE}: this one could not be read (damaged, or past the bounds"
                " on an image's size)"
            )
        key = avatar_key(identity.user_id, square.data)
        await self._library.put_bytes(key, square.data)
        user, before = await self._store.set_avatar(identity.user_id, key, square.content_type)
        await self._forget(before, key)
        await self._tell()
        log.info("avatar set", extra={"uid": identity.user_id, "bytes": len(square.data)})
        return user

    async def remove(self, identity: Identity) -> User:
        """The caller has no avatar from now on."""
        user, before = await self._store.set_avatar(identity.user_id, None, None)
        await self._forget(before, None)
        await self._tell()
        return user

    async def _tell(self) -> None:
        if self._changed is not None:
            await self._changed()

    async def _forget(self, before: str | None, now: str | None) -> None:
        if before is None or before == now:
            return
        try:
            await self._library.storage.delete(before)
        except StorageUnavailable as error:  # an object left behind, nothing worse
            log.warning("could not remove a replaced avatar %s: %s", before, error)

    async def read(self, user_id: int, key: str) -> tuple[bytes, str]:
        """The bytes and type of `user_id`'s avatar if `key` is its key now; `NotFound`
        otherwise (a replaced avatar is not served)."""
        user = await self._store.user_by_id(user_id)
        if user is None or user.avatar_key != key or user.avatar_type is None:
            raise NotFound(f"user {user_id} has no such avatar")
        data = bytearray()
        try:
            async for chunk in self._library.storage.open_range(key):
                data += chunk
                if len(data) > _MAX_KEPT_BYTES:
                    raise NotFound(f"user {user_id}'s avatar is not one this server made")
        except FileNotFoundError:
            raise NotFound(f"user {user_id}'s avatar is missing from the storage") from None
        except StorageUnavailable as error:
            raise Unavailable("file storage unavailable", detail=str(error)) from None
        return bytes(data), user.avatar_type


def _too_large() -> TooLarge:
    return TooLarge(f"the image is too large for an avatar: the limit is {MAX_AVATAR_BYTES} bytes")
