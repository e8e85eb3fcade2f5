"""Uploading files (issue 24, items 5, 7 and 8): ``POST /files`` stores a file, raw or as
a form's one ``file`` part, and answers what the server made of it; the type is read
from the bytes; images get a thumbnail; limits, quota and rate limits answer 413/429
before the body is read past them; nothing is left of an upload that fails."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
import trio
from files_support import fetch, jpeg_rotated, png, png_bomb, upload
from PIL import Image
from support import Account, Server, account, http_client, select_rows, start_server

from chat.config import Config


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


async def test_the_type_is_read_from_the_bytes_not_the_upload(server: Server) -> None:
    alice = await account(server, "alice")
    page = b"<html><script>alert(document.cookie)</script></html>"
    answer = await upload(server, alice, page, "cat.png", "image/png")
    assert answer["ContentType"] == "text/plain; charset=utf-8"
    assert "Width" not in answer


async def test_an_image_gets_its_size_and_a_small_thumbnail(server: Server) -> None:
    alice = await account(server, "alice")
    answer = await upload(server, alice, png(1600, 900), "wide.png", "application/octet-stream")
    assert (answer["ContentType"], answer["Width"], answer["Height"]) == ("image/png", 1600, 900)
    response = await fetch(server, alice, f"/files/{answer['FileID']}/thumbnail")
    assert response.status_code == 200
    thumbnail = Image.open(io.BytesIO(response.content))
    assert max(thumbnail.size) == 400
    assert thumbnail.size == (400, 225)


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


async def test_a_decompression_bomb_is_kept_as_a_plain_file(server: Server) -> None:
    alice = await account(server, "alice")
    answer = await upload(server, alice, png_bomb(), "bomb.png")
    assert answer["ContentType"] == "image/png"
    assert "Width" not in answer
    response = await fetch(server, alice, f"/files/{answer['FileID']}/thumbnail")
    assert response.status_code == 404
    # The server is still there.
    assert (await fetch(server, None, "/healthz")).status_code == 200


async def test_a_truncated_png_is_kept_as_a_plain_file(server: Server) -> None:
    alice = await account(server, "alice")
    data = png(300, 300)[:200]
    answer = await upload(server, alice, data, "broken.png")
    assert "Width" not in answer
    response = await fetch(server, alice, f"/files/{answer['FileID']}/broken.png")
    assert response.content == data


async def test_an_empty_file_is_a_file(server: Server) -> None:
    alice = await account(server, "alice")
    answer = await upload(server, alice, b"", "empty")
    assert (answer["Size"], answer["ContentType"]) == (0, "application/octet-stream")
    response = await fetch(server, alice, f"/files/{answer['FileID']}/empty")
    assert (response.status_code, response.content) == (200, b"")


async def test_names_lose_directories_and_control_characters(server: Server) -> None:
    alice = await account(server, "alice")
    answer = await upload(server, alice, b"x", "../../etc/pass\x00wd\u202e.txt")
    assert answer["Name"] == "passwd.txt"
    long = await upload(server, alice, b"x", "a" * 400 + ".tar.gz")
    assert len(long["Name"]) == 255 and long["Name"].endswith(".gz")


async def _start_upload(
    server: Server, user: Account, length: int, first: bytes
) -> trio.SocketStream:
    """A raw POST /files declaring `length` bytes, of which only `first` are sent."""
    stream = await trio.open_tcp_stream(server.host, server.port)
    head = (
        f"POST /files HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
        f"Authorization: Bearer {user.token}\r\nContent-Length: {length}\r\n\r\n"
    )
    await stream.send_all(head.encode() + first)
    return stream


@pytest.fixture
def small_files(tmp_path: Path, database_url: str | None) -> Config:
    from support import server_config

    return server_config(tmp_path, database_url, max_file_bytes=1000, user_quota_bytes=2500)


async def test_a_file_of_exactly_the_limit_is_taken(
    nursery: trio.Nursery, small_files: Config
) -> None:
    server = await start_server(nursery, small_files)
    alice = await account(server, "alice")
    assert (await upload(server, alice, b"x" * 1000))["Size"] == 1000


async def test_one_byte_over_the_limit_is_413_with_the_limit(
    nursery: trio.Nursery, small_files: Config
) -> None:
    server = await start_server(nursery, small_files)
    alice = await account(server, "alice")
    async with http_client(server) as client:
        response = await client.post("/files", headers=alice.auth, content=b"x" * 1001)
    assert response.status_code == 413
    assert "1000 bytes" in response.json()["error"]


async def test_a_streamed_body_is_cut_when_it_passes_the_limit(
    nursery: trio.Nursery, small_files: Config
) -> None:
    server = await start_server(nursery, small_files)
    alice = await account(server, "alice")

    async def body():  # no Content-Length: chunked
        for _ in range(20):
            yield b"y" * 100

    async with http_client(server) as client:
        response = await client.post("/files", headers=alice.auth, content=body())
    assert response.status_code == 413
    assert await select_rows(small_files, "SELECT id FROM files") == []


async def test_a_declared_length_over_the_limit_is_refused_before_the_body(
    nursery: trio.Nursery, small_files: Config
) -> None:
    server = await start_server(nursery, small_files)
    alice = await account(server, "alice")
    with trio.fail_after(10):
        stream = await _start_upload(server, alice, 10_000_000, b"")
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


async def test_an_upload_cut_off_midway_leaves_nothing(server: Server) -> None:
    alice = await account(server, "alice")
    with trio.fail_after(10):
        stream = await _start_upload(server, alice, 1_000_000, b"z" * 300_000)
        uploads = server.config.data_dir / "uploads"
        while not any(uploads.iterdir()):  # the server is receiving it  # noqa: ASYNC110
            await trio.sleep(0.01)
        await stream.aclose()
        while any(uploads.iterdir()):  # noqa: ASYNC110
            await trio.sleep(0.01)
    assert await select_rows(server.config, "SELECT id FROM files") == []


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
