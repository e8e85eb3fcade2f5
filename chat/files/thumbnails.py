"""Thumbnails of uploaded images, made by Pillow in a child process of their own.

An image's thumbnail is at most `THUMBNAIL_EDGE` pixels on a side, turned upright by
its EXIF orientation, and re-encoded without any metadata (no EXIF, no GPS position, no
comments): what the browser shows inline. The original is served as uploaded. A file
that claims to be an image and is not (truncated, corrupt, something else with an
image's first bytes), or one past the bounds below, gets no thumbnail: it is kept and
served as a plain file, and nothing fails.

Bounds, in three steps:

- **Before decoding**, the headers are read (`chat.files.image_cost`): an image of more
  than 50 megapixels, a JPEG of more than 64 scans, or one whose decoding would take
  more than 200 MB by the estimate is never decoded.
- **While decoding**, in a child (`chat.files.thumbnail_worker`) that the kernel holds
  to the estimate's memory and `CHILD_MEMORY_BYTES` more (RLIMIT_AS) and to
  `CHILD_CPU_S` seconds of CPU (RLIMIT_CPU), and that is killed after `CHILD_DEADLINE_S`
  or as soon as the upload is cancelled (the client left, the server is stopping):
  unlike a thread, a process can be stopped, and its memory is not the server's.
- **Taking turns**: light images (`ImageCost.light`: a few megapixels, a few passes)
  and the rest each have their own places, `LIGHT_AT_ONCE` and `HEAVY_AT_ONCE`, so a
  screenshot never waits behind costly images, whoever sent them; and in each, the
  uploaders take turns (`chat.files.taking_turns`), so one user's dozen costly images
  hold another's back by one image at most, not by all of them.

A child costs about 80 ms to start (Python and Pillow), paid once per image upload.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path

import trio

from chat.files.image_cost import ImageCost, NotDecodable, image_cost
from chat.files.taking_turns import TakingTurns

log = logging.getLogger(__name__)

#: The longest side of a thumbnail, in pixels.
THUMBNAIL_EDGE = 400

#: Memory a child may take beyond its image's estimate: Python and Pillow (about 26 MB
#: of address space), libraries mapped, the thumbnail and the codecs' buffers.
CHILD_MEMORY_BYTES = 128 * 1024 * 1024
#: CPU seconds a child may use (a 50-megapixel image at the bounds takes about 2).
CHILD_CPU_S = 10
#: Seconds after which a child is killed whatever it is doing (waiting for the CPU
#: counts here, not in `CHILD_CPU_S`).
CHILD_DEADLINE_S = 20.0

#: Light images decoded at once, and the others: each its own places.
LIGHT_AT_ONCE = 2
HEAVY_AT_ONCE = 1

_LIGHT = TakingTurns(LIGHT_AT_ONCE)
_HEAVY = TakingTurns(HEAVY_AT_ONCE)
#: Reading headers: cheap, in a thread (a JPEG's markers are searched for in its bytes).
_HEADERS = trio.CapacityLimiter(2)

_WORKER = Path(__file__).with_name("thumbnail_worker.py")


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """An image's size (after orientation) and its thumbnail's encoded bytes."""

    width: int
    height: int
    data: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class ChildLimits:
    """What a child decoding an image may take: memory beyond the image's estimate,
    CPU seconds, and seconds in all before it is killed."""

    memory_bytes: int = CHILD_MEMORY_BYTES
    cpu_s: int = CHILD_CPU_S
    deadline_s: float = CHILD_DEADLINE_S


async def make_thumbnail(
    path: Path,
    *,
    owner: Hashable = None,
    limits: ChildLimits | None = None,
    edge: int = THUMBNAIL_EDGE,
    square: bool = False,
) -> Thumbnail | None:
    """The thumbnail of the image at `path`, at most `edge` pixels a side (with `square`,
    exactly `edge` by `edge`: the middle of the image, cropped, as an avatar), or None if
    it is not a usable image or is past a bound; `owner` (its uploader) takes turns with
    other owners. Cancellation kills the child at once (the caller waits for nothing)."""
    try:
        cost = await trio.to_thread.run_sync(image_cost, path, limiter=_HEADERS)
    except NotDecodable as refused:
        log.info("not a thumbnail: %s", refused)
        return None
    except OSError as error:  # the file went away: not this image's fault, nor ours
        log.info("not a thumbnail: %s", type(error).__name__)
        return None
    async with (_LIGHT if cost.light else _HEAVY).turn(owner):
        return await _in_child(path, cost, limits or ChildLimits(), edge, square)


async def _kill(process: trio.Process) -> None:
    """Cancelling a child: kill it at once (it holds nothing worth a clean exit)."""
    process.kill()


async def _in_child(
    path: Path, cost: ImageCost, limits: ChildLimits, edge: int, square: bool
) -> Thumbnail | None:
    command = [
        sys.executable,
        "-I",  # neither the working directory nor PYTHONPATH: Pillow and the stdlib
        str(_WORKER),
        str(path),
        str(edge),
        str(cost.decode_bytes + limits.memory_bytes),
        str(limits.cpu_s),
    ]
    if square:
        command.append("square")
    # Cancelled (the upload was, or the deadline passed), run_process calls _kill and
    # waits for the child to be gone, a few milliseconds: no child outlives its upload.
    with trio.move_on_after(limits.deadline_s) as deadline:
        done = await trio.run_process(
            command,
            env={},  # nothing of the server's environment (its secrets) in the child
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            deliver_cancel=_kill,
        )
    if deadline.cancelled_caught:
        log.info("not a thumbnail: still decoding after %g s", limits.deadline_s)
        return None
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        log.info(
            "not a thumbnail: %s",
            said[-1] if said else f"the decoder ended with status {done.returncode}",
        )
        return None
    header, _, data = done.stdout.partition(b"\n")
    shape = json.loads(header)
    return Thumbnail(shape["width"], shape["height"], data, shape["content_type"])
