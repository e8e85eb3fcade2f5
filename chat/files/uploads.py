"""Receiving an upload: the request body streamed into a temporary file, with its size,
SHA-256 and first bytes (for sniffing) computed on the way, as a raw body or as the
one ``file`` part of a ``multipart/form-data`` body (what an HTML form sends).

Resource handling: memory holds one chunk of the body at a time (Quart hands the body
out as it arrives) plus `SNIFF_BYTES`; the temporary file is the caller's to remove
(`Received.path`), and is removed here if receiving fails or is cancelled (a client
that disconnects mid-upload leaves nothing behind).

Error handling: a file past `limit` raises `TooLarge` as soon as it passes it (nothing
more is read), and so does a multipart body past `limit` + `FORM_SLACK_BYTES` (parts
other than ``file`` are not kept, but are not read without end either); a malformed
multipart body (python-multipart bounds each part's header lines and their count), or
one without a ``file`` part, raises `InvalidInput`.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import trio
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from chat.core.errors import InvalidInput, TooLarge
from chat.files.sniffing import SNIFF_BYTES
from chat.store.private_paths import private_opener


@dataclass
class Received:
    """An upload, received: where its bytes are, and what they are."""

    path: Path
    size: int = 0
    sha256: str = ""
    head: bytes = b""
    #: The file name the multipart part gave, if any.
    part_name: str | None = None
    _hash: hashlib._Hash = field(default_factory=hashlib.sha256, repr=False)


#: The longest boundary a form may have (RFC 2046, section 5.1.1).
MAX_BOUNDARY_BYTES = 70

#: How much larger than its file a multipart/form-data body may be (the boundaries, the
#: part's headers, a few small fields).
FORM_SLACK_BYTES = 64 * 1024


def too_large(limit: int) -> TooLarge:
    return TooLarge(f"the file is too large: the limit is {limit} bytes (CHAT_MAX_FILE_SIZE)")


async def receive(
    chunks: AsyncIterator[bytes],
    directory: Path,
    *,
    limit: int,
    content_type: str,
) -> Received:
    """Stream an upload's body (`chunks`) into a new file in `directory`."""
    path = directory / f"upload-{secrets.token_hex(12)}.part"
    received = Received(path)
    try:
        async with await trio.open_file(path, "xb", opener=private_opener) as out:
            mimetype, options = parse_options_header(content_type)
            if mimetype == b"multipart/form-data":
                boundary = options.get(b"boundary")
                if not boundary:
                    raise InvalidInput("multipart/form-data body without a boundary")
                if len(boundary) > MAX_BOUNDARY_BYTES:
                    raise InvalidInput(
                        f"the multipart/form-data boundary is longer than {MAX_BOUNDARY_BYTES}"
                        " characters (RFC 2046)"
                    )
                await _receive_multipart(chunks, out, received, limit, boundary)
            else:
                async for chunk in chunks:
                    await _write(out, received, chunk, limit)
        received.sha256 = received._hash.hexdigest()
        return received
    except BaseException:
        # Cancelled (the client went away), too large, malformed: nothing is kept.
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))
        raise


async def _write(out: trio.abc.AsyncResource, received: Received, data: bytes, limit: int) -> None:
    if not data:
        return
    if received.size + len(data) > limit:
        raise too_large(limit)
    if len(received.head) < SNIFF_BYTES:
        received.head += data[: SNIFF_BYTES - len(received.head)]
    received.size += len(data)
    received._hash.update(data)
    await out.write(data)  # type: ignore[attr-defined]


class _FilePart:
    """The callbacks of python-multipart's parser: keeps the ``file`` part's bytes of
    each parsed chunk (written by the caller once the parser returns) and its name."""

    def __init__(self) -> None:
        self.pending: list[bytes] = []
        self.headers: dict[bytes, bytes] = {}
        self.field: bytes = b""
        self.value: bytes = b""
        self.in_file = False
        self.files_seen = 0
        self.filename: str | None = None
        self.ended = False

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.part_begin,
            "on_part_data": self.part_data,
            "on_header_field": self.header_field,
            "on_header_value": self.header_value,
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_end": self.end,
        }

    def part_begin(self) -> None:
        self.headers = {}
        self.field = self.value = b""
        self.in_file = False

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self.field += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]

    def header_end(self) -> None:
        self.headers[self.field.lower()] = self.value
        self.field = self.value = b""

    def headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        if options.get(b"name") == b"file":
            self.in_file = True
            self.files_seen += 1
            filename = options.get(b"filename")
            if filename:
                self.filename = filename.decode("utf-8", "replace")

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file and self.files_seen == 1:
            self.pending.append(data[start:end])

    def end(self) -> None:
        self.ended = True


async def _receive_multipart(
    chunks: AsyncIterator[bytes],
    out: trio.abc.AsyncResource,
    received: Received,
    limit: int,
    boundary: bytes,
) -> None:
    part = _FilePart()
    body_bytes = 0
    try:
        parser = MultipartParser(boundary, part.callbacks())  # type: ignore[arg-type]
        async for chunk in chunks:
            body_bytes += len(chunk)
            if body_bytes > limit + FORM_SLACK_BYTES:
                raise too_large(limit)
            parser.write(chunk)
            for data in part.pending:
                await _write(out, received, data, limit)
            part.pending.clear()
        parser.finalize()
    except FormParserError as error:  # the parser's errors, MultipartParseError among them
        raise InvalidInput(f"the multipart/form-data body is malformed: {error}") from None
    if part.files_seen != 1 or not part.ended:
        raise InvalidInput("a multipart/form-data upload carries exactly one part named 'file'")
    received.part_name = part.filename


def remove(path: Path) -> None:
    """Remove a received file (blocking: call it in a thread)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
