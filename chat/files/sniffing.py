"""What a file is, read from its first bytes: the type it is served as never comes
from the uploader, so a page named ``cat.png`` cannot be served as HTML, nor a script as
an image.

Only the types the server treats specially are recognised (images it can make
thumbnails of, PDF, which browsers show inline in a sandbox, and a few common
containers); everything else is ``application/octet-stream``, or ``text/plain`` when it
is valid UTF-8 text. HTML, SVG and XML are deliberately served as ``text/plain``: a
browser shows their source, and nothing in them runs.
"""

from __future__ import annotations

#: How many leading bytes `sniff` needs.
SNIFF_BYTES = 4096

#: Types served inline (shown in the browser, in a sandbox); anything else is an
#: attachment (downloaded).
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"})

#: What a file is when nothing better is known of it: served as an attachment.
PLAIN_FILE = "application/octet-stream"

#: Types a thumbnail is made of (`chat.files.thumbnails`).
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
    (b"ID3", "audio/mpeg"),
)


def sniff(head: bytes) -> str:
    """The content type of a file whose first bytes (up to `SNIFF_BYTES`) are `head`."""
    if not head:
        return PLAIN_FILE
    for signature, content_type in _SIGNATURES:
        if head.startswith(signature):
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        return "video/mp4"
    if head[:4] == b"\x1aE\xdf\xa3":
        return "video/webm"
    if _is_text(head):
        return "text/plain; charset=utf-8"
    return PLAIN_FILE


def _is_text(head: bytes) -> bool:
    """Whether `head` reads as UTF-8 text (its last character may be cut by the window)."""
    if b"\x00" in head:
        return False
    for cut in range(4):
        try:
            (head[: len(head) - cut] if cut else head).decode("utf-8")
        except UnicodeDecodeError:
            continue
        return True
    return False


def is_inline(content_type: str) -> bool:
    """Whether a browser is told to show it (`Content-Disposition: inline`)."""
    return content_type in INLINE_TYPES
