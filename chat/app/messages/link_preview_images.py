"""The thumbnails of link previews' images, kept through the files' path.

A page's image (``og:image``...) is read through the SSRF-safe client (at most
`MAX_IMAGE_BYTES`, an image type only), its type read again from its bytes
(`chat.files.sniffing`), and decoded in a child process within the bounds of
`chat.files.thumbnails`, which makes a thumbnail at most `PREVIEW_EDGE` pixels a side,
upright and without metadata. Only the thumbnail is kept, never the stranger's bytes,
under ``link-image-<its SHA-256>`` (no dot: the files collector's sweep of orphans reads
only keys of the form ``<sha256>.<FileID>``, so it never takes one for a file's object).
Its address has the digest in it (``/link-images/<digest>``): the same image linked
from many messages is one object, and a browser may keep it as long as it likes.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import TYPE_CHECKING

from chat.core.errors import NotFound, Unavailable
from chat.files.sniffing import IMAGE_TYPES, sniff
from chat.files.storage import StorageUnavailable
from chat.files.thumbnails import make_thumbnail
from chat.net.outbound import OutboundError, OutboundHttp

if TYPE_CHECKING:
    from chat.app.messages.files import FileLibrary

log = logging.getLogger(__name__)

#: The largest image read for a thumbnail, and the thumbnail's longest side.
MAX_IMAGE_BYTES = 5 * 1024 * 1024
PREVIEW_EDGE = 320
#: The largest thumbnail served (one this server made is far smaller).
_MAX_KEPT_BYTES = 2 * 1024 * 1024
_DIGEST = re.compile(r"[0-9a-f]{64}")
_KEY_PREFIX = "link-image-"


def image_address(digest: str) -> str:
    return f"/link-images/{digest}"


class LinkPreviewImages:
    """Makes and keeps the thumbnails of pages' images, and reads them back. No task."""

    def __init__(self, library: FileLibrary, http: OutboundHttp) -> None:
        self._library = library
        self._http = http

    async def keep(self, url: str) -> str | None:
        """The address of a thumbnail of the image at `url`, made now (None: it could
        not be read, is no image, or is past a bound)."""
        try:
            answer = await self._http.request(
                "GET", url, max_bytes=MAX_IMAGE_BYTES, content_types=tuple(IMAGE_TYPES), redirects=3
            )
        except OutboundError as error:
            log.info("link preview image %s not read: %s", url[:200], error)
            return None
        if answer.status != 200 or sniff(answer.body[:64]) not in IMAGE_TYPES:
            return None
        async with self._library.spooled(answer.body) as path:
            thumbnail = await make_thumbnail(path, owner="link-previews", edge=PREVIEW_EDGE)
        if thumbnail is None:
            return None
        digest = hashlib.sha256(thumbnail.data).hexdigest()
        try:
            await self._library.put_bytes(_KEY_PREFIX + digest, thumbnail.data)
        except Unavailable:
            return None
        return image_address(digest)

    async def read(self, digest: str) -> tuple[bytes, str]:
        """The thumbnail `digest` names and its type; `NotFound` if there is none."""
        if not _DIGEST.fullmatch(digest):
            raise NotFound("no such link preview image")
        data = bytearray()
        try:
            async for chunk in self._library.storage.open_range(_KEY_PREFIX + digest):
                data += chunk
                if len(data) > _MAX_KEPT_BYTES:
                    raise NotFound("no such link preview image")
        except FileNotFoundError:
            raise NotFound("no such link preview image") from None
        except StorageUnavailable as error:
            raise Unavailable("file storage unavailable", detail=str(error)) from None
        content_type = sniff(bytes(data[:64]))
        if content_type not in IMAGE_TYPES:
            raise NotFound("no such link preview image")
        return bytes(data), content_type
