"""Helpers for the files tests: images made with Pillow, hostile files, uploads over real
HTTP (whole, or cut off), a sweep of the collector, and the two storage kinds a test
server may keep files in (`file_storage`: a directory, or a bucket on moto's
S3-compatible server, tests/s3_server.py), with a look behind the server's back at what
each holds."""

from __future__ import annotations

import functools
import io
import struct
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trio
from PIL import Image, ImageDraw
from s3_server import S3Server, running_s3_server
from support import Account, Server, http_client

from chat.core.config import Config
from chat.files.collector import FileCollector
from chat.files.opening import open_storage, storage_directory
from chat.store import open_store

#: The bucket of `s3_server`; each test keeps its files under a prefix of its own.
BUCKET = "chat-files"
STORAGE_KINDS = ["directory", "s3"]


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


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_of(header: bytes, rows: bytes) -> bytes:
    """A PNG of one IHDR (`header`) and one IDAT (`rows`, compressed)."""
    return (
        PNG_SIGNATURE
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", rows)
        + _png_chunk(b"IEND", b"")
    )


def png_bomb(side: int = 100_000) -> bytes:
    """A small PNG whose header claims `side` x `side` pixels (a decompression bomb that
    stops early: only a few rows follow)."""
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (side + 1) * 16)  # a few rows: the rest never comes
    return _png_of(header, rows)


def complete_png_bomb(side: int = 20_000) -> bytes:
    """A valid PNG of `side` x `side` black pixels, one bit each, every row present:
    about 45 KiB that decode to `side`² pixels (400 megapixels by default, 1.2 GB as
    RGB)."""
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    row = b"\x00" * (1 + -(-side // 8))
    squeeze = zlib.compressobj(9)
    rows = b"".join(squeeze.compress(row * 1000) for _ in range(side // 1000))
    rows += squeeze.compress(row * (side % 1000)) + squeeze.flush()
    return _png_of(header, rows)


@functools.cache
def progressive_jpeg(side: int, mode: str = "L", scans: int = 0) -> bytes:
    """A valid progressive JPEG of `side` x `side` pixels of one grey (`mode` "L", or
    "CMYK"), as Pillow writes it (6 scans in "L", 18 in "CMYK"), its last scan repeated
    until it has `scans` (when more): a uniform image's AC scans code nothing but
    end-of-block runs, so each is about 75 bytes, and each is a pass of the decoder over
    every coefficient of the image. 1,000 scans at 7000 x 7000: about 270 KB."""
    out = io.BytesIO()
    colour: int | tuple[int, ...] = 128 if mode == "L" else (0, 0, 0, 0)
    Image.new(mode, (side, side), colour).save(out, format="JPEG", progressive=True, quality=50)
    data = out.getvalue()
    # In entropy-coded data 0xFF is always followed by 0x00 or a restart marker, and
    # Pillow writes no segment that could hold these two bytes: each is a scan's start.
    written = data.count(b"\xff\xda")
    last_scan = data[data.rindex(b"\xff\xda") : -2]  # up to the end-of-image marker
    return data[:-2] + last_scan * max(0, scans - written) + data[-2:]


def jpeg_headers(width: int, height: int, components: int, *, progressive: bool) -> bytes:
    """A JPEG's headers alone (start of image, a frame of `components` components, one
    empty scan, end of image): what a check that reads headers only is given."""
    frame = struct.pack(">BHHB", 8, height, width, components) + b"".join(
        bytes([n + 1, 0x11, 0]) for n in range(components)
    )
    sof = b"\xff\xc2" if progressive else b"\xff\xc0"
    scan = (
        struct.pack(">B", components)
        + b"".join(bytes([n + 1, 0]) for n in range(components))
        + b"\x00\x3f\x00"
    )
    return (
        b"\xff\xd8"
        + sof + struct.pack(">H", 2 + len(frame)) + frame
        + b"\xff\xda" + struct.pack(">H", 2 + len(scan)) + scan
        + b"\xff\xd9"
    )  # fmt: skip


def png_with_text_bomb(megabytes: int = 16) -> bytes:
    """A small valid PNG carrying a compressed text chunk (zTXt) that inflates to
    `megabytes` MB: a bomb in the metadata rather than the pixels."""
    image = png(8, 8)
    text = _png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"A" * megabytes * 10**6, 9))
    end = image.rindex(b"IEND") - 4  # before the IEND chunk's length
    return image[:end] + text + image[end:]


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


async def post_files(
    server: Server, sender: Account, room_id: int, file_ids: list[str], text: str = ""
) -> Any:
    """POST /messages/{room_id} with `text` carrying `file_ids`; the response."""
    async with http_client(server) as client:
        return await client.post(
            f"/messages/{room_id}", headers=sender.auth, json={"Text": text, "Files": file_ids}
        )


async def fetch(
    server: Server, user: Account | None, path: str, headers: dict[str, str] | None = None
) -> Any:
    async with http_client(server) as client:
        return await client.get(path, headers={**(user.auth if user else {}), **(headers or {})})


async def start_upload(
    server: Server, user: Account, length: int, first: bytes, content_type: str | None = None
) -> trio.SocketStream:
    """A raw POST /files declaring `length` bytes, of which only `first` are sent (the
    caller sends the rest, or closes the stream to cut the upload off)."""
    stream = await trio.open_tcp_stream(server.host, server.port)
    kind = f"Content-Type: {content_type}\r\n" if content_type else ""
    head = (
        f"POST /files HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
        f"Authorization: Bearer {user.token}\r\nContent-Length: {length}\r\n{kind}\r\n"
    )
    await stream.send_all(head.encode() + first)
    return stream


async def race_uploads(servers: list[Server], user: Account, count: int, size: int) -> list[int]:
    """`count` uploads of `size` bytes by `user`, spread over `servers`, all sent but
    their last byte, then finished at once (so that their checks of the quota overlap);
    their statuses."""
    with trio.fail_after(30):
        streams = [
            await start_upload(servers[n % len(servers)], user, size, bytes([n]) * (size - 1))
            for n in range(count)
        ]
        statuses: list[int] = []

        async def finish(stream: trio.SocketStream) -> None:
            async with stream:
                await stream.send_all(b"!")
                answer = b""
                while b"\r\n" not in answer:
                    answer += await stream.receive_some(4096)
            statuses.append(int(answer[9:12]))

        async with trio.open_nursery() as finishing:
            for stream in streams:
                finishing.start_soon(finish, stream)
    return statuses


async def sweep(config: Config, *, later: timedelta = timedelta(0)) -> int:
    """One sweep of a collector of its own (as another instance's would be), its clock
    `later` than now; how many files it removed."""
    async with open_store(config) as store, open_storage(config) as storage:
        collector = FileCollector(store, storage, clock=lambda: datetime.now(UTC) + later)
        return await collector.sweep()


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    """moto's S3-compatible server for a test module, with the bucket `BUCKET`."""
    with running_s3_server() as server:
        server.create_bucket(BUCKET)
        yield server


@dataclass(frozen=True)
class StorageUnderTest:
    """Where a test server keeps files' bytes (`url`: its CHAT_FILES_URL), and a look at
    what is there behind the server's back."""

    kind: str
    url: str | None = None
    s3: S3Server | None = None

    def config(self, config: Config) -> Config:
        return config.replace(files_url=self.url)

    async def keys(self, config: Config) -> list[str]:
        """Every stored object's key, sorted."""
        async with open_storage(config) as storage:
            return sorted([key async for key in storage.keys()])  # noqa: SIM118 (not a dict)

    async def leftovers(self, config: Config) -> list[str]:
        """Anything an upload in progress leaves until it ends: files received in the
        data directory's uploads/, temporary (dot) files in the storage directory, open
        multipart uploads in the bucket."""
        found = [p.name for p in (config.data_dir / "uploads").glob("*")]
        directory = storage_directory(config)
        if directory is not None:
            found += [p.name for p in directory.rglob(".*") if p.is_file()]
        if self.s3 is not None:
            found += await trio.to_thread.run_sync(self._open_multipart_uploads, config)
        return found

    def _open_multipart_uploads(self, config: Config) -> list[str]:
        assert self.s3 is not None and config.files_url is not None
        client = self.s3.client()
        try:
            prefix = config.files_url.split("?")[0].removeprefix(f"s3://{BUCKET}/")
            answer = client.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix)
            return [upload["Key"] for upload in answer.get("Uploads", [])]
        finally:
            client.close()


@pytest.fixture(params=STORAGE_KINDS)
def file_storage(request: pytest.FixtureRequest) -> StorageUnderTest:
    """Each storage kind in turn: the data directory's files/, then a bucket (a prefix of
    the test's own in `BUCKET`). A module that uses it imports `s3_server` too."""
    if request.param == "directory":
        return StorageUnderTest("directory")
    s3: S3Server = request.getfixturevalue("s3_server")
    return StorageUnderTest("s3", s3.url(BUCKET, f"t/{uuid.uuid4().hex}"), s3)
