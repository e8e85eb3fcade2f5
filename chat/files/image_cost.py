"""What decoding an image would cost, read from its headers before anything is decoded,
and the bounds past which it is not decoded at all.

The pixels alone do not say it. A progressive JPEG is decoded in as many passes as it
has scans (start-of-scan markers), each over every coefficient of the whole image, kept
in memory at full size (two bytes each, whatever scale the thumbnail is drawn at): a
170 KB 7000x7000 grayscale JPEG of 1,000 scans that code nothing took 8.9 s of Pillow,
and a 473 KB CMYK one about 390 MB. So a JPEG's markers are walked (the entropy-coded
data between them is skipped with one search, never decoded; at most `MAX_JPEG_SEGMENTS`
segments) for its components, their sampling, whether it is progressive and how many
scans it has; PNG, GIF and WebP say their size (and PNG its kind of pixel) in their first
30 bytes. Nothing here is Pillow: the server itself never parses an image with it, only
the child that decodes one does.

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
from dataclasses import dataclass
from pathlib import Path

#: The largest image decoded at all: 50 megapixels (an 8K photo is 33).
MAX_PIXELS = 50_000_000

#: The most scans a JPEG may have. libjpeg's standard progressive scripts use 6 (gray)
#: to 18 (CMYK); encoders that tune their scripts stay well within this.
MAX_JPEG_SCANS = 64

#: The most segments a JPEG may have (a photo has a dozen or two, a progressive one a
#: table or two more a scan): the walk over them is a Python loop, bounded so.
MAX_JPEG_SEGMENTS = 1000

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
#: A marker where one is due: fill bytes (0xFF) and its code.
_MARKER = re.compile(rb"\xff+([^\x00\xff])")


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
        head = file.read(30)
        if head.startswith(b"\xff\xd8\xff"):
            try:
                with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
                    cost = _jpeg_cost(data)
            except (IndexError, struct.error):
                raise NotDecodable("a JPEG whose markers run past its end") from None
        else:
            cost = _other_cost(head)
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
    segments = 0
    while position + 1 < size:
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            raise NotDecodable(f"a JPEG of more than {MAX_JPEG_SEGMENTS} segments")
        found = _MARKER.match(data, position)
        if found is None:
            # Stray bytes between segments (libjpeg skips them with a warning).
            found = _MARKER.search(data, position)
            if found is None:
                break
        marker, position = found[1][0], found.start(1) - 1
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


def _other_cost(head: bytes) -> ImageCost:
    """PNG, GIF or WebP, from the first 30 bytes of the file (`head`)."""
    try:
        if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
            return _png_cost(head)
        if head[:6] in (b"GIF87a", b"GIF89a"):
            # The logical screen; a first frame larger than it makes Pillow grow the
            # image, which the child's own bounds (Pillow's, the kernel's) then catch.
            width, height = struct.unpack("<HH", head[6:10])
            return ImageCost(width, height, 1, width * height)  # a palette: 1 byte
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            return _webp_cost(head)
    except struct.error:
        pass
    raise NotDecodable("not the header of an image this server decodes")


def _png_cost(head: bytes) -> ImageCost:
    """IHDR: width, height, bit depth, colour type (PNG 11.2.2)."""
    width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
    # As Pillow keeps it: one byte a pixel for grey (up to 8 bits) and a palette, two
    # for 16-bit grey, else four; shrinking an image with alpha (grey or RGB with
    # alpha: types 4 and 6) copies it first, premultiplied: twice.
    per_pixel = {0: 2 if depth == 16 else 1, 3: 1}.get(colour, 4)
    copies = 2 if colour in (4, 6) else 1
    return ImageCost(width, height, 1, width * height * per_pixel * copies)


def _webp_cost(head: bytes) -> ImageCost:
    """The canvas of an extended WebP (VP8X), or the frame of a simple one (VP8, VP8L);
    four bytes a pixel, twice (alpha may be there: decoded as RGBA, shrunk premultiplied)."""
    chunk = head[12:16]
    if chunk == b"VP8X":
        width = 1 + int.from_bytes(head[24:27], "little")
        height = 1 + int.from_bytes(head[27:30], "little")
    elif chunk == b"VP8 ":
        width, height = (n & 0x3FFF for n in struct.unpack("<HH", head[26:30]))
    elif chunk == b"VP8L":
        bits = int.from_bytes(head[21:25], "little")
        width, height = 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    else:
        raise NotDecodable("a WebP without an image chunk")
    return ImageCost(width, height, 1, width * height * 4 * 2)
