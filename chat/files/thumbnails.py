"""Thumbnails of uploaded images, made with Pillow in a worker thread.

An image's thumbnail is at most `THUMBNAIL_EDGE` pixels on a side, turned upright by
its EXIF orientation, and re-encoded without any metadata (no EXIF, no GPS position, no
comments): what the browser shows inline. The original is served as uploaded.

Decompression bombs: the header's dimensions are read first (cheap) and an image over
`MAX_PIXELS` is not decoded at all; Pillow's own `Image.MAX_IMAGE_PIXELS` guard is set
to the same bound, so a lying header fails too. A file that claims to be an image and
is not (truncated, corrupt, something else with an image's first bytes) gets no
thumbnail: it is kept and served as a plain file, and nothing fails.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import trio
from PIL import Image, ImageOps

log = logging.getLogger(__name__)

#: The longest side of a thumbnail, in pixels.
THUMBNAIL_EDGE = 400

#: The largest image decoded at all: 50 megapixels (an 8K photo is 33).
MAX_PIXELS = 50_000_000

Image.MAX_IMAGE_PIXELS = MAX_PIXELS

#: The EXIF orientation tag, and its values that turn an image a quarter.
_ORIENTATION = 0x0112
_QUARTER_TURNS = frozenset({5, 6, 7, 8})

#: Thumbnails are made at most this many at a time (each may hold a decoded image).
_LIMITER = trio.CapacityLimiter(2)


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """An image's size (after orientation) and its thumbnail's encoded bytes."""

    width: int
    height: int
    data: bytes
    content_type: str


async def make_thumbnail(path: Path) -> Thumbnail | None:
    """The thumbnail of the image at `path`, or None if it is not a usable image."""
    return await trio.to_thread.run_sync(_thumbnail_of, path, limiter=_LIMITER)


def _thumbnail_of(path: Path) -> Thumbnail | None:
    try:
        with warnings.catch_warnings():
            # Pillow warns (DecompressionBombWarning) between MAX_PIXELS and twice it;
            # those are refused here like the larger ones.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
                    log.info("not a thumbnail: %dx%d pixels is too many", width, height)
                    return None
                if image.getexif().get(_ORIENTATION, 1) in _QUARTER_TURNS:
                    width, height = height, width
                # Shrunk in place, before it is turned upright: one decoded image in
                # memory, and a JPEG decoded at 1/2 to 1/8 of its size (Pillow's draft).
                image.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE))
                frame = ImageOps.exif_transpose(image)
        keeps_alpha = frame.mode in ("RGBA", "LA", "P")
        out = io.BytesIO()
        frame = frame.convert("RGBA" if keeps_alpha else "RGB")
        # Nothing of the original's metadata is written out: comments, EXIF, ICC, XMP
        # all travel in `info`, which the encoders read.
        frame.info.clear()
        if keeps_alpha:
            frame.save(out, format="PNG", optimize=True)
            content_type = "image/png"
        else:
            frame.save(out, format="JPEG", quality=85)
            content_type = "image/jpeg"
        return Thumbnail(width, height, out.getvalue(), content_type)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Warning) as error:
        # Pillow raises OSError for truncated or unreadable data, ValueError and
        # SyntaxError for some malformed headers: all mean "not an image we can show".
        log.info("not a thumbnail: %s", type(error).__name__)
        return None
