"""Uploading files: ``POST /files`` stores a file, raw or as
a form's one ``file`` part, and answers what the server made of it; the type is read
from the bytes; images get a thumbnail; limits, quota and rate limits answer 413/429
before the body is read past them; nothing is left of an upload that fails."""

from __future__ import annotations

import hashlib
import io
import os
import time
from pathlib import Path

import pytest
import trio
from files_support import fetch, jpeg_rotated, png, race_uploads, start_upload, upload
from PIL import Image
from support import Server, account, http_client, start_server

from chat.core.config import Config
from chat.store import open_store


async def test_an_upload_answers_its_id_name_size_type_and_hash(server: Server) -> None:
    alice = await account(server, "alice")
    answer = await upload(server, alice, b"hello, files\n", "notes.txt", "text/plain")
    assert set(answer) == {"FileID", "Name", "Size", "ContentType", "SHA256"}
    assert answer["Name"] == "notes.txt"
    assert answer["Size"] == 13
    assert answer["ContentType"] == "text/plain; charset=utf-8"
    assert answer["SHA256"] == hashlib.sha256(b"hello, files\n").hexdigest()


async def test_the_uploader_reads_back_the_same_bytes(server: Server) -> None:
    alice = await account(server, "alice")
    data = bytes(range(256)) * 1000
    answer = await upload(server, alice, data, "blob.bin")
    response = await fetch(server, alice, f"/files/{answer['FileID']}/blob.bin")
    assert response.status_code == 200
    assert response.content == data


async def test_a_form_upload_takes_the_name_of_its_file_part(server: Server) -> None:
    alice = await account(server, "alice")
    async with http_client(server) as client:
        response = await client.post(
            "/files",
            headers=alice.auth,
            files={"file": ("report.pdf", b"%PDF-1.7\n...", "application/pdf")},
            data={"comment": "ignored"},
        )
    assert response.status_code == 201, response.text
    assert response.json()["Name"] == "report.pdf"
    assert response.json()["ContentType"] == "application/pdf"
    assert response.json()["Size"] == len(b"%PDF-1.7\n...")


async def test_a_form_without_a_file_part_is_refused(server: Server) -> None:
    alice = await account(server, "alice")
    async with http_client(server) as client:
        response = await client.post(
            "/files", headers=alice.auth, data={"other": "x"}, files={"x": ("a", b"b")}
        )
    assert response.status_code == 400
    assert "'file'" in response.json()["error"]


async def test_an_image_gets_its_size_and_a_small_thumbnail(server: Server) -> None:
    alice = await account(server, "alice")
    answer = await upload(server, alice, png(1600, 900), "wide.png", "application/octet-stream")
    assert (answer["ContentType"], answer["Width"], answer["Height"]) == ("image/png", 1600, 900)
    response = await fetch(server, alice, f"/files/{answer['FileID']}/thumbnail")
    assert response.status_code == 200
    thumbnail = Image.open(io.BytesIO(response.content))
    assert max(thumbnail.size) == 400
    assert thumbnail.size == (400, 225)


@pytest.mark.parametrize(
    ("format_", "mode", "sniffed", "thumbnail_type"),
    [
        ("PNG", "RGB", "image/png", "image/jpeg"),
        ("PNG", "RGBA", "image/png", "image/png"),
        ("JPEG", "RGB", "image/jpeg", "image/jpeg"),
        ("GIF", "P", "image/gif", "image/png"),
        ("WEBP", "RGB", "image/webp", "image/jpeg"),
        ("WEBP", "RGBA", "image/webp", "image/png"),
    ],
    ids=["png", "png-alpha", "jpeg", "gif", "webp", "webp-alpha"],
)
async def test_each_image_format_gets_a_thumbnail(
    server: Server, format_: str, mode: str, sniffed: str, thumbnail_type: str
) -> None:
    """PNG, JPEG, GIF and WebP; a thumbnail keeps transparency as a PNG, else is a JPEG."""
    alice = await account(server, "alice")
    out = io.BytesIO()
    Image.new(mode, (1000, 500)).save(out, format=format_)
    answer = await upload(server, alice, out.getvalue(), f"x.{format_.lower()}")
    assert (answer["ContentType"], answer["Width"], answer["Height"]) == (sniffed, 1000, 500)
    response = await fetch(server, alice, f"/files/{answer['FileID']}/thumbnail")
    assert response.headers["Content-Type"] == thumbnail_type
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "sandbox"
    assert Image.open(io.BytesIO(response.content)).size == (400, 200)


async def test_a_thumbnail_is_upright_and_keeps_no_metadata(server: Server) -> None:
    alice = await account(server, "alice")
    answer = await upload(server, alice, jpeg_rotated(600, 300), "photo.jpg")
    assert (answer["Width"], answer["Height"]) == (300, 600)
    response = await fetch(server, alice, f"/files/{answer['FileID']}/thumbnail")
    thumbnail = Image.open(io.BytesIO(response.content))
    assert thumbnail.size[0] < thumbnail.size[1]
    assert b"SecretCam" not in response.content
    assert b"secret place" not in response.content
    assert not thumbnail.getexif()


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nno end', "exactly one"),
        (
            b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\n1\r\n'
            b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\n2\r\n--b--\r\n',
            "exactly one",
        ),
        (b"not a form at all", "malformed"),
        (b"--b\r\nX-Big: " + b"h" * 10_000 + b"\r\n\r\nx\r\n--b--\r\n", "malformed"),
        (b"--b\r\n" + b"X: y\r\n" * 50 + b"\r\nx\r\n--b--\r\n", "malformed"),
    ],
    ids=["unfinished", "two-files", "no-boundary-in-body", "huge-header", "many-headers"],
)
async def test_a_malformed_form_is_400_saying_why(
    server: Server, body: bytes, problem: str
) -> None:
    alice = await account(server, "alice")
    async with http_client(server) as client:
        response = await client.post(
            "/files",
            headers={**alice.auth, "Content-Type": "multipart/form-data; boundary=b"},
            content=body,
        )
    assert response.status_code == 400, response.text
    assert problem in response.json()["error"]


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",
        "multipart/form-data; boundary=",
        f"multipart/form-data; boundary={'b' * 71}",
    ],
    ids=["none", "empty", "past-70"],
)
async def test_a_form_without_a_usable_boundary_is_400(server: Server, content_type: str) -> None:
    """RFC 2046 boundaries are 1 to 70 characters (found by tests/test_fuzz.py: one of
    2,000 was a 500)."""
    alice = await account(server, "alice")
    async with http_client(server) as client:
        response = await client.post(
            "/files", headers={**alice.auth, "Content-Type": content_type}, content=b"x"
        )
    assert response.status_code == 400
    assert "boundary" in response.json()["error"]


async def test_names_lose_directories_and_control_characters(server: Server) -> None:
    alice = await account(server, "alice")
    answer = await upload(server, alice, b"x", "../../etc/pass\x00wd\u202e.txt")
    assert answer["Name"] == "passwd.txt"
    long = await upload(server, alice, b"x", "a" * 400 + ".tar.gz")
    assert len(long["Name"]) == 255 and long["Name"].endswith(".gz")


@pytest.fixture
def small_files(tmp_path: Path, database_url: str | None) -> Config:
    from support import server_config

    return server_config(tmp_path, database_url, max_file_bytes=1000, user_quota_bytes=2500)


async def test_a_declared_length_over_the_limit_is_refused_before_the_body(
    nursery: trio.Nursery, small_files: Config
) -> None:
    server = await start_server(nursery, small_files)
    alice = await account(server, "alice")
    with trio.fail_after(10):
        stream = await start_upload(server, alice, 10_000_000, b"")
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += await stream.receive_some(4096)
        await stream.aclose()
    assert answer.startswith(b"HTTP/1.1 413")


async def test_the_quota_counts_what_a_user_keeps(
    nursery: trio.Nursery, small_files: Config
) -> None:
    server = await start_server(nursery, small_files)
    alice, bob = await account(server, "alice"), await account(server, "bob")
    await upload(server, alice, b"a" * 1000)
    await upload(server, alice, b"b" * 1000)
    refused = await upload(server, alice, b"c" * 1000, expect=413)
    assert "quota" in refused["error"]
    assert (await upload(server, bob, b"d" * 1000))["Size"] == 1000


async def test_concurrent_uploads_exceed_the_quota_by_none(
    nursery: trio.Nursery, tmp_path: Path, database_url: str | None
) -> None:
    """Ten 750 KB uploads finishing at once against a 1 MiB quota: one fits, nine are
    refused (the record, inserted only if it fits, reserves its bytes)."""
    from support import server_config

    quota = 1024 * 1024
    config = server_config(tmp_path, database_url, user_quota_bytes=quota)
    server = await start_server(nursery, config)
    alice = await account(server, "alice")
    statuses = await race_uploads([server], alice, 10, 750_000)
    assert sorted(statuses) == [201] + [413] * 9
    async with open_store(config) as store:
        assert await store.used_bytes(alice.uid) == 750_000


async def test_uploads_count_against_their_rate_limit(
    nursery: trio.Nursery, tmp_path: Path, database_url: str | None
) -> None:
    from support import server_config

    config = server_config(tmp_path, database_url, rate_limits=True, rate_uploads="2/minute")
    server = await start_server(nursery, config)
    alice = await account(server, "alice")
    await upload(server, alice, b"1")
    await upload(server, alice, b"2")
    refused = await upload(server, alice, b"3", expect=429)
    assert "file uploads" in refused["error"]


async def test_an_upload_needs_a_token(server: Server) -> None:
    async with http_client(server) as client:
        response = await client.post("/files", content=b"x")
    assert response.status_code == 401


async def test_several_uploads_at_once_are_all_kept(server: Server) -> None:
    alice = await account(server, "alice")
    answers: list[dict] = []

    async def one(n: int) -> None:
        answers.append(await upload(server, alice, bytes([n]) * 50_000, f"f{n}"))

    async with trio.open_nursery() as uploads:
        for n in range(8):
            uploads.start_soon(one, n)
    assert len({a["FileID"] for a in answers}) == 8
    for a in answers:
        response = await fetch(server, alice, f"/files/{a['FileID']}/{a['Name']}")
        assert response.content == bytes([int(a["Name"][1:])]) * 50_000


async def test_what_a_crash_left_in_the_uploads_directory_goes_at_the_next_start(
    nursery: trio.Nursery, config: Config
) -> None:
    """Files not written to for a day; a fresh one may be another worker's upload."""
    uploads = config.data_dir / "uploads"
    uploads.mkdir(parents=True)
    stale, fresh = uploads / "upload-old.part", uploads / "upload-new.part"
    stale.write_bytes(b"cut off by a crash")
    fresh.write_bytes(b"another worker's, under way")
    two_days_ago = time.time() - 2 * 86400
    os.utime(stale, (two_days_ago, two_days_ago))
    await start_server(nursery, config)
    assert sorted(p.name for p in uploads.iterdir()) == ["upload-new.part"]
