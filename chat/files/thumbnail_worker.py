"""The child process that decodes one image and writes its thumbnail: run by
`chat.files.thumbnails`, never imported by the server.

Run as ``python -I thumbnail_worker.py PATH EDGE MEMORY_BYTES CPU_SECONDS [square]``
(with ``square``, the thumbnail is EDGE by EDGE: the middle of the image, cropped). It limits
itself first (its address space to MEMORY_BYTES, its CPU to CPU_SECONDS, no core file),
then decodes the image at PATH and writes to standard output one line of JSON (the
image's width and height after orientation, and the thumbnail's type) followed by the
thumbnail's bytes, and exits 0. An image it cannot or may not decode exits 3, saying why
on standard error; one past its memory dies of a MemoryError or Pillow's own error, one
past its CPU of SIGXCPU: the server sees a failed child either way.

Why a process: a thread decoding an image cannot be stopped (a progressive JPEG of 1,000
scans kept a shutdown waiting 15 s) and its memory is the server's; a child is killed
when the upload is cancelled, and the kernel holds its memory and CPU to the bounds.
It imports nothing of `chat` (run with ``-I``: neither the working directory nor
``PYTHONPATH`` is on its path, and its environment is empty), only Pillow.
"""

from __future__ import annotations

import io
import json
import resource
import sys
import warnings

#: Exit status for "not an image this server decodes" (anything else is a crash).
NOT_AN_IMAGE = 3

#: The largest image decoded at all (the server checks first; this is for a header
#: that lies): 50 megapixels, as `chat.files.image_cost.MAX_PIXELS`.
MAX_PIXELS = 50_000_000

#: The EXIF orientation tag, and its values that turn an image a quarter.
_ORIENTATION = 0x0112
_QUARTER_TURNS = frozenset({5, 6, 7, 8})


def limit_self(memory_bytes: int, cpu_seconds: int) -> None:
    """Bound this process: address space, CPU seconds (SIGXCPU past them), no core."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def thumbnail_of(path: str, edge: int, square: bool = False) -> tuple[dict[str, object], bytes]:
    """The image at `path`'s size after orientation and type of thumbnail, and the
    thumbnail's bytes: at most `edge` pixels a side (`square`: exactly `edge` by `edge`,
    the middle cropped), upright, without any metadata."""
    from PIL import Image, ImageOps

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    with warnings.catch_warnings():
        # Pillow warns (DecompressionBombWarning) between MAX_PIXELS and twice it;
        # those are refused here like the larger ones.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as image:
            width, height = image.size
            if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
                raise ValueError(f"{width}x{height} pixels is too many")
            if image.getexif().get(_ORIENTATION, 1) in _QUARTER_TURNS:
                width, height = height, width
            # Shrunk in place, before it is turned upright: one decoded image in
            # memory, and a JPEG decoded at 1/2 to 1/8 of its size (Pillow's draft).
            # A square one is shrunk until its shorter side is `edge`, then cropped.
            short = min(image.size)
            box = (edge * image.size[0] // short + 1, edge * image.size[1] // short + 1)
            image.thumbnail(box if square else (edge, edge))
            frame = ImageOps.exif_transpose(image)
            if square:
                frame = ImageOps.fit(frame, (edge, edge))
    keeps_alpha = frame.mode in ("RGBA", "LA", "P")
    out = io.BytesIO()
    frame = frame.convert("RGBA" if keeps_alpha else "RGB")
    # Nothing of the original's metadata is written out: comments, EXIF, ICC, XMP all
    # travel in `info`, which the encoders read.
    frame.info.clear()
    if keeps_alpha:
        frame.save(out, format="PNG", optimize=True)
        content_type = "image/png"
    else:
        frame.save(out, format="JPEG", quality=85)
        content_type = "image/jpeg"
    return {"width": width, "height": height, "content_type": content_type}, out.getvalue()


def main(argv: list[str]) -> int:
    path, edge, memory_bytes, cpu_seconds = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    square = argv[4:] == ["square"]
    limit_self(memory_bytes, cpu_seconds)
    try:
        header, data = thumbnail_of(path, edge, square)
    except Exception as error:
        # Pillow raises OSError for truncated or unreadable data (and libjpeg's "out of
        # memory" past the limit), ValueError, SyntaxError or DecompressionBombError for
        # malformed or too large headers, MemoryError past the limit: in a child of its
        # own, every failure means the same, "no thumbnail", and is said on stderr.
        print(f"{type(error).__name__}: {error}"[:300], file=sys.stderr)
        return NOT_AN_IMAGE
    sys.stdout.buffer.write(json.dumps(header).encode() + b"\n" + data)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
