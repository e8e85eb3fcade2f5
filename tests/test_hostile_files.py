"""Hostile files: each is stored without
harm and served so that nothing in it runs or is decoded by a browser as something it
is not. The type is the one sniffed from the bytes; an image this server cannot decode
(a bomb, a truncated or fake one) is a plain file, an attachment; HTML and SVG are text,
attachments, under ``Content-Security-Policy: sandbox`` and ``nosniff``; sizes hold at
the limit's edge."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import pytest
import trio
from files_support import (
    PNG_SIGNATURE,
    complete_png_bomb,
    fetch,
    png,
    png_bomb,
    png_with_text_bomb,
    upload,
)
from support import Server, account, http_client, select_rows, server_config, start_server

from chat.core.config import Config

#: How every file answer keeps its content from running (docs/SECURITY.md, "Files").
SANDBOX = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}


async def _served(server: Server, name: str, data: bytes, claimed: str) -> tuple[dict, Any]:
    """Upload `data` as `name`, claiming the type `claimed`; the answer, and the
    uploader's GET of the file."""
    alice = await account(server, "alice")
    answer = await upload(server, alice, data, name, claimed)
    response = await fetch(server, alice, f"/files/{answer['FileID']}/{name}")
    assert response.status_code == 200
    assert response.content == data  # stored and served as uploaded
    for header, value in SANDBOX.items():
        assert response.headers[header] == value
    thumbnail = await fetch(server, alice, f"/files/{answer['FileID']}/thumbnail")
    answer["thumbnail status"] = thumbnail.status_code
    return answer, response


def _is_a_plain_attachment(answer: dict, response: Any) -> None:
    assert answer["ContentType"] == "application/octet-stream"
    assert "Width" not in answer and "Height" not in answer
    assert answer["thumbnail status"] == 404
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment;")


async def test_a_decompression_bomb_is_a_plain_attachment(server: Server) -> None:
    """A header that claims 100,000 x 100,000 pixels: never decoded, never shown."""
    answer, response = await _served(server, "bomb.png", png_bomb(), "image/png")
    _is_a_plain_attachment(answer, response)
    assert (await fetch(server, None, "/healthz")).status_code == 200


async def test_a_complete_decompression_bomb_is_never_decoded(server: Server) -> None:
    """48 KiB of valid PNG that would decode to 400 megapixels: refused by its header,
    within the request's usual time."""
    with trio.fail_after(10):
        answer, response = await _served(server, "huge.png", complete_png_bomb(), "image/png")
    _is_a_plain_attachment(answer, response)


async def test_a_bomb_in_an_images_text_chunk_is_a_plain_attachment(server: Server) -> None:
    answer, response = await _served(server, "note.png", png_with_text_bomb(), "image/png")
    _is_a_plain_attachment(answer, response)


async def test_a_truncated_png_is_a_plain_attachment(server: Server) -> None:
    answer, response = await _served(server, "cut.png", png(300, 300)[:200], "image/png")
    _is_a_plain_attachment(answer, response)


@pytest.mark.parametrize(
    "head",
    [PNG_SIGNATURE, b"\xff\xd8\xff\xe0", b"GIF89a", b"RIFF\x00\x10\x00\x00WEBPVP8 "],
    ids=["png", "jpeg", "gif", "webp"],
)
async def test_an_images_first_bytes_and_garbage_are_a_plain_attachment(
    server: Server, head: bytes
) -> None:
    answer, response = await _served(server, "x.img", head + os.urandom(5000), "image/png")
    _is_a_plain_attachment(answer, response)


async def test_a_file_that_claims_to_be_an_image_and_is_not_is_a_plain_attachment(
    server: Server,
) -> None:
    """Content-Type image/png and a .png name on random bytes."""
    answer, response = await _served(server, "photo.png", os.urandom(20_000), "image/png")
    _is_a_plain_attachment(answer, response)


async def test_a_gif_that_is_also_a_page_is_a_plain_attachment(server: Server) -> None:
    polyglot = b"GIF89a/*<html><script>alert(document.cookie)</script></html>*/"
    answer, response = await _served(server, "cat.gif", polyglot, "image/gif")
    _is_a_plain_attachment(answer, response)


@pytest.mark.parametrize("claimed", ["image/png", "text/html"])
async def test_an_html_page_named_png_is_text_served_as_an_attachment(
    server: Server, claimed: str
) -> None:
    page = b"<!doctype html><html><script>fetch('/profile')</script></html>"
    answer, response = await _served(server, "cat.png", page, claimed)
    assert answer["ContentType"] == "text/plain; charset=utf-8"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert answer["thumbnail status"] == 404


async def test_an_svg_with_script_is_text_served_so_it_cannot_run(server: Server) -> None:
    svg = (
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
        b"<script>fetch('/profile')</script><circle r='9'/></svg>"
    )
    answer, response = await _served(server, "logo.svg", svg, "image/svg+xml")
    assert answer["ContentType"] == "text/plain; charset=utf-8"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "svg" not in response.headers["Content-Type"]
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert answer["thumbnail status"] == 404


async def test_an_empty_file_is_a_file(server: Server) -> None:
    answer, response = await _served(server, "empty", b"", "image/png")
    assert (answer["Size"], answer["ContentType"]) == (0, "application/octet-stream")
    assert response.headers["Content-Length"] == "0"


# -- the size limit's edge ---------------------------------------------------------------

LIMIT = 1000


@pytest.fixture
def small_files(tmp_path: Path, database_url: str | None) -> Config:
    return server_config(tmp_path, database_url, max_file_bytes=LIMIT, user_quota_bytes=10_000)


@pytest.fixture
async def small_server(nursery: trio.Nursery, small_files: Config) -> Server:
    return await start_server(nursery, small_files)


async def _form_upload(server: Server, data: bytes) -> Any:
    alice = await account(server, "alice")
    async with http_client(server) as client:
        return await client.post(
            "/files", headers=alice.auth, files={"file": ("f.bin", data, "text/plain")}
        )


async def test_a_file_of_exactly_the_limit_is_taken(small_server: Server) -> None:
    alice = await account(small_server, "alice")
    assert (await upload(small_server, alice, b"x" * LIMIT))["Size"] == LIMIT


async def test_one_byte_over_the_limit_is_413_with_the_limit(small_server: Server) -> None:
    alice = await account(small_server, "alice")
    refused = await upload(small_server, alice, b"x" * (LIMIT + 1), expect=413)
    assert f"{LIMIT} bytes" in refused["error"]
    assert "CHAT_MAX_FILE_SIZE" in refused["error"]
    assert await select_rows(small_server.config, "SELECT id FROM files") == []


async def test_a_forms_file_of_exactly_the_limit_is_taken(small_server: Server) -> None:
    response = await _form_upload(small_server, b"y" * LIMIT)
    assert response.status_code == 201, response.text
    assert response.json()["Size"] == LIMIT


async def test_a_forms_file_one_byte_over_the_limit_is_413(small_server: Server) -> None:
    response = await _form_upload(small_server, b"y" * (LIMIT + 1))
    assert response.status_code == 413
    assert f"{LIMIT} bytes" in response.json()["error"]


async def test_a_streamed_body_is_cut_when_it_passes_the_limit(small_server: Server) -> None:
    alice = await account(small_server, "alice")

    async def body():  # no Content-Length: chunked
        for _ in range(20):
            yield b"y" * 100

    async with http_client(small_server) as client:
        response = await client.post("/files", headers=alice.auth, content=body())
    assert response.status_code == 413
    assert await select_rows(small_server.config, "SELECT id FROM files") == []


async def test_a_form_that_never_ends_is_cut_past_the_limit_and_its_slack(
    nursery: trio.Nursery, small_files: Config
) -> None:
    """A form whose other part goes on without end (chunked): its bytes are not kept,
    and not read forever either: 413 once the body passes the limit and 64 KiB. (A
    limit of 2 MiB: a body streamed to the route is never buffered that far, so only
    the route's own count can stop it.)"""
    server = await start_server(nursery, small_files.replace(max_file_bytes=2 * 1024 * 1024))
    alice = await account(server, "alice")
    stream = await trio.open_tcp_stream(server.host, server.port)
    head = (
        "POST /files HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
        f"Authorization: Bearer {alice.token}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n\r\n"
    )
    part = b'--b\r\nContent-Disposition: form-data; name="other"\r\n\r\n'
    chunk = b"z" * 65536
    sent = 0
    answer = b""
    with trio.fail_after(20):
        await stream.send_all(head.encode() + b"%x\r\n%s\r\n" % (len(part), part))

        async def send_without_end() -> None:
            nonlocal sent
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                while sent < 200_000_000:
                    await stream.send_all(b"10000\r\n" + chunk + b"\r\n")
                    sent += len(chunk)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send_without_end)
            while b"\r\n\r\n" not in answer:
                answer += await stream.receive_some(4096)
            nursery.cancel_scope.cancel()
        await stream.aclose()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # What was sent before the answer came: the limit, its slack, and what the kernel's
    # socket buffers took meanwhile; never the 200 MB on offer.
    assert sent < 20_000_000
