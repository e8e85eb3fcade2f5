"""Helpers for the files tests: images made with Pillow, and uploads over real HTTP."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

from PIL import Image, ImageDraw
from support import Account, Server, http_client


def png(width: int = 800, height: int = 600, color: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def chart(width: int = 1600, height: int = 900) -> bytes:
    """A PNG that looks like something people share: a bar chart on white."""
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    bars = [0.35, 0.5, 0.45, 0.7, 0.62, 0.85, 0.78, 0.95]
    step = width // (len(bars) + 1)
    for index, share in enumerate(bars):
        left = step // 2 + index * step + step // 6
        top = int(height * (1 - share * 0.85)) - height // 12
        colour = (47, 93, 155) if index % 2 == 0 else (91, 141, 239)
        draw.rectangle([left, top, left + step * 2 // 3, height - height // 12], fill=colour)
    axis = height - height // 12
    draw.line([step // 3, axis, width - step // 3, axis], (60, 60, 60), 4)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def jpeg_rotated(width: int = 600, height: int = 300) -> bytes:
    """A JPEG stored `width` x `height` whose EXIF orientation (6) says: turn it 90°
    clockwise to show it (so upright it is `height` x `width`); with a camera make and
    a comment that no thumbnail may keep."""
    image = Image.new("RGB", (width, height), (10, 120, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    exif[0x010F] = "SecretCam"  # Make
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes(), comment=b"GPS: secret place")
    return out.getvalue()


def png_bomb(side: int = 100_000) -> bytes:
    """A small PNG whose header claims `side` x `side` pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (side + 1) * 16)  # a few rows: the rest never comes
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


async def upload(
    server: Server,
    user: Account,
    data: bytes,
    name: str = "file.bin",
    content_type: str = "application/octet-stream",
    expect: int = 201,
) -> dict[str, Any]:
    """POST /files with `data` as the raw body; the answer (asserting its status)."""
    async with http_client(server) as client:
        response = await client.post(
            "/files",
            params={"name": name},
            content=data,
            headers={**user.auth, "Content-Type": content_type},
        )
    assert response.status_code == expect, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def fetch(
    server: Server, user: Account | None, path: str, headers: dict[str, str] | None = None
) -> Any:
    async with http_client(server) as client:
        return await client.get(path, headers={**(user.auth if user else {}), **(headers or {})})
