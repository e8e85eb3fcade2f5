"""What decoding an image would cost, read from its headers before anything is decoded,
and the bounds past which it is not decoded at all.

The pixels alone do not say it. A progressive JPEG is decoded in as many passes as it
has scans (start-of-scan markers), each over every coefficient of the whole image, kept
in memory at full size (two bytes each, whatever scale the thumbnail is drawn at): a
170 KB 7000x7000 grayscale JPEG of 1,000 scans that code nothing took 8.9 s of Pillow,
and a 473 KB CMYK one about 390 MB. So a JPEG's markers are walked (the entropy-coded
data between them is skipped with one search, never decoded) for its components, their
sampling, whether it is progressive and how many scans it has; other formats are opened
by Pillow for their header only (size and mode).

Bounds: `MAX_PIXELS` pixels, `MAX_JPEG_SCANS` scans, and `MAX_DECODE_BYTES` of memory
by the estimate (a progressive JPEG's coefficients; a baseline JPEG's pixels at the
scale libjpeg decodes it to; other formats' pixels, as Pillow stores them, twice with
alpha). An image
past one gets no thumbnail; one within them is decoded in a child process that the
kernel holds to the estimate (`chat.files.thumbnails`).
"""

from __future__ import annotations

import mmap
import re
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

#: The largest image decoded at all: 50 megapixels (an 8K photo is 33).
MAX_PIXELS = 50_000_000

#: The most scans a JPEG may have. libjpeg's standard progressive scripts use 6 (gray)
#: to 18 (CMYK); encoders that tune their scripts stay well within this.
MAX_JPEG_SCANS = 64

#: The most memory decoding one image may take by the estimate: a 50-megapixel image
#: in Pillow's four bytes a pixel (25 megapixels with alpha).
MAX_DECODE_BYTES = 200_000_000

#: Below this much work (pixels times passes over them), an image is light
#: (`ImageCost.light`): a photo of a few megapixels, a screenshot, an icon.
LIGHT_WORK = 16_000_000

#: The longest edge a thumbnail has (`chat.files.thumbnails.THUMBNAIL_EDGE`'s value,
#: which decides libjpeg's scale for a baseline JPEG).
_EDGE = 400

# JPEG markers (ITU T.81, B.1.1.3): start of frame (every SOFn but DHT, JPG, DAC), of
# scan, of image, end of image; RSTn and TEM stand alone (no length).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_PROGRESSIVE_SOF = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
_SOS, _EOI = 0xDA, 0xD9
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
#: In entropy-coded data a 0xFF byte is followed by 0x00 (a stuffed byte), a restart
#: marker or more 0xFF fill: the first 0xFF followed by anything else is the next marker.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


class NotDecodable(ValueError):
    """The headers say this image is past a bound, or are not an image's at all."""


@dataclass(frozen=True, slots=True)
class ImageCost:
    """An image's size, the passes decoding it makes over its pixels (a JPEG's scans,
    else 1) and the memory it would take, by its headers."""

    width: int
    height: int
    passes: int
    decode_bytes: int

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def light(self) -> bool:
        """Cheap enough to never wait behind images that are not (`LIGHT_WORK`)."""
        return self.pixels * self.passes <= LIGHT_WORK


def image_cost(path: Path) -> ImageCost:
    """The cost of decoding the image at `path`, or `NotDecodable` saying which bound
    it is past (or that its headers are not an image's). Reads headers only; a JPEG's
    scans are found by searching its bytes, mapped, not read into memory."""
    with path.open("rb") as file:
        if file.read(3) == b"\xff\xd8\xff":
            try:
                with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
                    cost = _jpeg_cost(data)
            except (IndexError, struct.error):
                raise NotDecodable("a JPEG whose markers run past its end") from None
        else:
            cost = _other_cost(path)
    if cost.width <= 0 or cost.height <= 0 or cost.pixels > MAX_PIXELS:
        raise NotDecodable(f"{cost.width}x{cost.height} pixels is more than {MAX_PIXELS}")
    if cost.passes > MAX_JPEG_SCANS:
        raise NotDecodable(f"a JPEG of more than {MAX_JPEG_SCANS} scans")
    if cost.decode_bytes > MAX_DECODE_BYTES:
        raise NotDecodable(
            f"decoding would take about {cost.decode_bytes} bytes, more than {MAX_DECODE_BYTES}"
        )
    return cost


def _jpeg_cost(data: mmap.mmap) -> ImageCost:
    """Walk a JPEG's segments from SOI to EOI (or its end), counting scans."""
    position, frame, scans = 2, None, 0
    size = len(data)
    while position + 1 < size:
        if data[position] != 0xFF:
            # Stray bytes between segments (libjpeg skips them with a warning).
            found = _NEXT_MARKER.search(data, position)
            if found is None:
                break
            position = found.start()
        marker = data[position + 1]
        if marker == 0xFF:  # fill before a marker
            position += 1
            continue
        if marker == _EOI:
            break
        if marker in _STANDALONE:
            position += 2
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if length < 2:
            raise NotDecodable("a JPEG segment shorter than its length field")
        body = data[position + 4 : position + 2 + length]
        position += 2 + length
        if marker in _SOF:
            if frame is not None:
                raise NotDecodable("a JPEG with two frames")
            frame = (marker, body)
        elif marker == _SOS:
            scans += 1
            if scans > MAX_JPEG_SCANS:
                break  # refused whatever follows: no need to walk on
            found = _NEXT_MARKER.search(data, position)
            position = size if found is None else found.start()
    if frame is None:
        raise NotDecodable("a JPEG without a frame header")
    return _frame_cost(*frame, scans)


def _frame_cost(marker: int, body: bytes, scans: int) -> ImageCost:
    """A JPEG's cost from its frame header (SOFn: precision, height, width, then each
    component's id, sampling factors and table) and its number of scans."""
    height, width, count = struct.unpack(">HHB", body[1:6])
    sampling = [(body[7 + 3 * n] >> 4, body[7 + 3 * n] & 0x0F) for n in range(count)]
    if not sampling or any(h == 0 or v == 0 for h, v in sampling):
        raise NotDecodable("a JPEG frame without components")
    h_max, v_max = max(h for h, _ in sampling), max(v for _, v in sampling)
    if marker in _PROGRESSIVE_SOF:
        # Every component's coefficients at full size, 64 of two bytes a block.
        blocks = sum(
            -(-width * h // (8 * h_max)) * -(-height * v // (8 * v_max)) for h, v in sampling
        )
        decode_bytes = blocks * 128
    else:
        # Decoded a row of blocks at a time, into pixels scaled by 1/2 to 1/8 (Pillow's
        # draft asks libjpeg for no less than twice the thumbnail), four bytes each.
        scale = next(s for s in (8, 4, 2, 1) if min(width, height) // s >= 2 * _EDGE or s == 1)
        decode_bytes = -(-width // scale) * -(-height // scale) * 4
    return ImageCost(width, height, max(scans, 1), decode_bytes)


def _other_cost(path: Path) -> ImageCost:
    """PNG, GIF, WebP: Pillow reads the header (nothing is decoded until `load`)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            # Pillow's warning for a size past its bound: the size is judged by the caller.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                mode = image.mode
    except Image.DecompressionBombError:
        raise NotDecodable(f"more than {MAX_PIXELS} pixels") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise NotDecodable(f"not an image Pillow reads ({type(error).__name__})") from None
    # Pillow keeps one byte a pixel for one 8-bit band, two for 16-bit gray, else four;
    # shrinking an image with alpha copies it first, premultiplied (RGBa, La): twice.
    per_pixel = 1 if mode in ("1", "L", "P") else 2 if mode.startswith("I;16") else 4
    copies = 2 if mode in ("RGBA", "LA") else 1
    return ImageCost(width, height, 1, width * height * per_pixel * copies)
