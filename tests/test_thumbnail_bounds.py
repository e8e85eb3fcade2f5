"""What making a thumbnail may cost (chat/files/image_cost.py, thumbnails.py): an image's
headers are read first, and a JPEG of too many scans or one whose decoding would take
too much memory is never decoded; what is decoded is decoded in a child process held to
its memory and killed when its upload is cancelled or the server stops; costly images,
at the bounds or past them, never keep another user's small image waiting, and one
user's costly images hold another's back by one at most."""

from __future__ import annotations

import contextlib
import os
import resource
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from files_support import jpeg_headers, png, progressive_jpeg, upload
from support import Account, Server, account, http_client
from test_shutdown import await_stopped

import chat.files.image_cost
from chat.core.config import Config
from chat.files.image_cost import MAX_JPEG_SCANS, MAX_JPEG_SEGMENTS, NotDecodable, image_cost
from chat.files.thumbnails import ChildLimits, make_thumbnail

#: As the outside review found them: 7000 x 7000, grey and 1,000 scans (8.9 s of
#: Pillow), or CMYK (about 390 MB to decode).
SIDE = 7000


async def upload_costly(server: Server, user: Account, data: bytes, name: str) -> dict[str, Any]:
    """POST /files of a costly JPEG, waiting as long as its turn and decoding take on a
    busy machine (the usual helper gives up after 10 s)."""
    async with http_client(server) as client:
        response = await client.post(
            "/files",
            params={"name": name},
            content=data,
            headers={**user.auth, "Content-Type": "image/jpeg"},
            timeout=120,
        )
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _is_a_plain_file(answer: dict[str, Any]) -> None:
    assert answer["ContentType"] == "application/octet-stream"
    assert "Width" not in answer and "Height" not in answer


def _file(tmp_path: Path, data: bytes, name: str = "image.jpg") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _decoders() -> list[int]:
    """The process ids of this process's children that decode an image."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        parent = int(stat.rpartition(")")[2].split()[1])
        if parent == os.getpid() and b"thumbnail_worker" in command:
            found.append(int(entry.name))
    return found


# -- the headers, read before anything is decoded ------------------------------------------


def test_a_jpeg_of_a_thousand_scans_is_refused_by_its_headers(tmp_path: Path) -> None:
    path = _file(tmp_path, progressive_jpeg(64, scans=1000))
    with pytest.raises(NotDecodable, match=f"more than {MAX_JPEG_SCANS} scans"):
        image_cost(path)


def test_a_progressive_cmyk_jpeg_is_refused_by_the_memory_its_coefficients_take(
    tmp_path: Path,
) -> None:
    """7000 x 7000 x 4 components x 2 bytes: 392 MB, past 200 MB (headers only)."""
    path = _file(tmp_path, jpeg_headers(SIDE, SIDE, 4, progressive=True))
    with pytest.raises(NotDecodable, match="392000000 bytes"):
        image_cost(path)


def test_a_baseline_jpeg_costs_its_pixels_at_libjpegs_scale(tmp_path: Path) -> None:
    """The same frame, not progressive: decoded at 1/8, a row of blocks at a time."""
    cost = image_cost(_file(tmp_path, jpeg_headers(SIDE, SIDE, 4, progressive=False)))
    assert (cost.passes, cost.decode_bytes) == (1, 875 * 875 * 4)


def test_a_png_with_alpha_costs_its_pixels_twice(tmp_path: Path) -> None:
    """Pillow shrinks RGBA through a premultiplied copy."""
    from PIL import Image

    Image.new("RGBA", (300, 200)).save(tmp_path / "a.png")
    assert image_cost(tmp_path / "a.png").decode_bytes == 300 * 200 * 4 * 2


def test_a_jpeg_of_many_tiny_segments_is_refused_before_they_are_all_walked(
    tmp_path: Path,
) -> None:
    """400,000 empty comments (1.6 MB): the walk, a loop in Python, stops at its bound."""
    data = (
        b"\xff\xd8" + b"\xff\xfe\x00\x02" * 400_000 + jpeg_headers(8, 8, 1, progressive=False)[2:]
    )
    with pytest.raises(NotDecodable, match=f"more than {MAX_JPEG_SEGMENTS} segments"):
        image_cost(_file(tmp_path, data))


def test_fill_bytes_before_a_marker_are_skipped_at_once(tmp_path: Path) -> None:
    headers = jpeg_headers(640, 480, 3, progressive=True)
    data = headers[:2] + b"\xff" * 1_000_000 + headers[2:]
    assert image_cost(_file(tmp_path, data)).width == 640


@pytest.mark.parametrize(
    ("format_", "mode", "options"),
    [
        ("PNG", "RGB", {}),
        ("PNG", "I;16", {}),
        ("GIF", "P", {}),
        ("WEBP", "RGB", {"lossless": False}),
        ("WEBP", "RGBA", {"lossless": True}),
        ("WEBP", "RGBA", {"exif": b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x00\x00"}),
    ],
    ids=["png", "png16", "gif", "webp-lossy", "webp-lossless", "webp-extended"],
)
def test_the_headers_give_the_size_pillow_reads(
    tmp_path: Path, format_: str, mode: str, options: dict[str, Any]
) -> None:
    from PIL import Image

    path = tmp_path / f"image.{format_.lower()}"
    Image.new(mode, (641, 479)).save(path, format=format_, **options)
    cost = image_cost(path)
    with Image.open(path) as image:
        assert (cost.width, cost.height) == image.size == (641, 479)


# -- through the server ---------------------------------------------------------------------


async def test_a_progressive_jpeg_of_a_thousand_scans_is_a_plain_file(server: Server) -> None:
    """Refused before decoding (Pillow took 8.9 s on it before): no thumbnail."""
    mallory = await account(server, "mallory")
    data = progressive_jpeg(SIDE, scans=1000)
    with trio.fail_after(60):
        _is_a_plain_file(await upload(server, mallory, data, "scans.jpg", "image/jpeg"))


async def test_a_progressive_cmyk_jpeg_past_the_memory_bound_is_a_plain_file(
    server: Server,
) -> None:
    mallory = await account(server, "mallory")
    data = progressive_jpeg(SIDE, "CMYK")
    with trio.fail_after(60):
        _is_a_plain_file(await upload(server, mallory, data, "cmyk.jpg", "image/jpeg"))


async def test_a_progressive_jpeg_at_the_bounds_gets_its_thumbnail(server: Server) -> None:
    alice = await account(server, "alice")
    data = progressive_jpeg(SIDE, scans=MAX_JPEG_SCANS)
    answer = await upload_costly(server, alice, data, "big.jpg")
    assert (answer["ContentType"], answer["Width"], answer["Height"]) == ("image/jpeg", SIDE, SIDE)


async def test_a_small_image_is_not_kept_waiting_by_costly_ones(server: Server) -> None:
    """Two images at the bounds from mallory (each seconds of decoding) are in flight
    when bob uploads a 50 x 50 PNG: his thumbnail is made before any of hers (before,
    hers held both places and bob waited for one)."""
    mallory, bob = await account(server, "mallory"), await account(server, "bob")
    costly = progressive_jpeg(SIDE, scans=MAX_JPEG_SCANS)
    done: list[str] = []

    async def send_costly(name: str) -> None:
        answer = await upload_costly(server, mallory, costly, name)
        assert "Width" in answer, answer  # a thumbnail, for hers too
        done.append(name)

    with trio.fail_after(180):
        async with trio.open_nursery() as nursery:
            for n in range(2):
                nursery.start_soon(send_costly, f"costly{n}.jpg")
            await trio.sleep(0.3)  # hers are uploaded and being decoded
            answer = await upload(server, bob, png(50, 50), "small.png", "image/png")
            assert answer["Width"] == 50
            assert done == [], f"bob's thumbnail waited for {done}"


async def test_one_users_costly_images_hold_anothers_back_by_one_at_most(
    server: Server,
) -> None:
    """Two images at the bounds from mallory, then one from alice: hers is decoded as
    soon as mallory's first is done, not after both."""
    mallory, alice = await account(server, "mallory"), await account(server, "alice")
    costly = progressive_jpeg(SIDE, scans=MAX_JPEG_SCANS)
    done: list[str] = []

    async def send(user: Account, name: str) -> None:
        answer = await upload_costly(server, user, costly, name)
        assert "Width" in answer, answer
        done.append(name)

    with trio.fail_after(180):
        async with trio.open_nursery() as nursery:
            for n in range(2):
                nursery.start_soon(send, mallory, f"mallory{n}.jpg")
            await trio.sleep(0.3)  # hers are uploaded: one decoding, one waiting
            nursery.start_soon(send, alice, "alice.jpg")
    assert done.index("alice.jpg") <= 1, done


async def test_stopping_the_server_stops_the_decoding_in_flight(config: Config) -> None:
    """Shutdown (cancellation, as SIGTERM starts it) with mallory's images being decoded
    or waiting: the server is gone within its shutdown timeout (it waited for the
    decoding thread before: 15.5 s against 5 s)."""
    async with await_stopped(config) as (server, stop):
        mallory = await account(server, "mallory")
        uploads = [progressive_jpeg(SIDE, scans=1000)] + [
            progressive_jpeg(SIDE, scans=MAX_JPEG_SCANS)
        ] * 3

        async def send(data: bytes) -> None:
            with contextlib.suppress(httpx.HTTPError, AssertionError):
                # The server stopped under it: no answer, or not a 201.
                await upload(server, mallory, data, "x.jpg", "image/jpeg")

        async with trio.open_nursery() as nursery:
            for data in uploads:
                nursery.start_soon(send, data)
            await trio.sleep(1.0)  # uploaded, and being decoded or waiting their turn
            elapsed = await stop()
            nursery.cancel_scope.cancel()
    assert elapsed < config.shutdown_timeout + 2, f"stopping took {elapsed:.1f} s"
    assert _decoders() == []


async def test_a_cancelled_thumbnail_kills_its_decoder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the scan and segment bounds raised for the test, the child decodes 1,000
    scans (many seconds); cancelled after half a second, it is gone at once."""
    monkeypatch.setattr(chat.files.image_cost, "MAX_JPEG_SCANS", 2000)
    monkeypatch.setattr(chat.files.image_cost, "MAX_JPEG_SEGMENTS", 2000)
    path = _file(tmp_path, progressive_jpeg(SIDE, scans=1000))
    started = trio.current_time()
    with trio.move_on_after(0.5):
        await make_thumbnail(path)
        pytest.fail("the thumbnail was made in half a second")
    assert trio.current_time() - started < 1.5
    assert _decoders() == []


async def test_a_decoder_past_its_memory_limit_fails_alone(tmp_path: Path) -> None:
    """A child allowed only the image's estimate (not the interpreter's own memory on
    top) fails, the server's memory untouched, and there is no thumbnail."""
    path = _file(tmp_path, progressive_jpeg(SIDE))  # 98 MB of coefficients
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert await make_thumbnail(path, limits=ChildLimits(memory_bytes=0)) is None
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    assert grown_kib < 20 * 1024, f"this process's peak grew by {grown_kib} KiB"
