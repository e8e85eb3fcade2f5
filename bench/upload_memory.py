"""What a 25 MiB upload costs the server in memory (the target: at most 4 MiB of
RSS), for a raw body and a multipart form, on both storage kinds.

    pip install '.[bench,test]' && python bench/upload_memory.py [--storage directory,s3]

For each storage kind a `chat serve` process of its own (SQLite in a temporary directory;
for `s3`, `CHAT_FILES_URL` names a bucket on moto's S3-compatible server, the one the
tests start: tests/s3_server.py, in a child process of its own so that its memory is not
counted). One small upload of each shape warms the server up (imports, the storage's
client, the database's connections), then each measured upload goes:

1. the server's peak RSS is reset to its current RSS (``5`` into
   ``/proc/PID/clear_refs``) and that RSS is read (``VmRSS``, the *before*);
2. the file goes up over one HTTP/1.1 connection from this process, 64 KiB a write, as
   fast as loopback takes it (the hardest case: the network outruns the disk);
3. once answered, ``VmHWM`` is the peak during the upload, and ``VmRSS`` the *after*.

The figures are the peak's and the after's growth over the before, the largest of
`--runs` uploads of each shape. Each file's bytes are random (nothing compresses or
deduplicates them) and each upload is checked: 201, the size and the SHA-256 the server
answered. Two images follow (unless --no-images), a 24-megapixel JPEG photo and a PNG of
noise, raw: the target is about streaming, and a thumbnail must decode its image, so
their rows show what that adds.
Bounded: every request has a 120 s timeout, the server 60 s to start.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import io
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
#: How much of the upload one write sends.
WRITE_BYTES = 64 * 1024
#: The target: what one 25 MiB upload may add to the server's RSS.
TARGET_KIB = 4 * 1024
BUCKET = "bench-files"
TIMEOUT_S = 120.0
#: The images uploaded besides the files of random bytes (`image`): their thumbnails
#: are decoded, which no streaming bounds (docs/PERFORMANCE.md).
IMAGES = ("jpeg", "png")


def _status(pid: int, field: str) -> int:
    """A ``/proc/PID/status`` figure, in KiB."""
    text = Path(f"/proc/{pid}/status").read_text()
    found = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    assert found is not None, f"no {field} in /proc/{pid}/status"
    return int(found.group(1))


def _reset_peak(pid: int) -> None:
    """Make ``VmHWM`` the current RSS again (Linux 4.0 and later)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _serving(data_dir: Path, files_url: str | None) -> Iterator[tuple[int, int]]:
    """A `chat serve` process; (its pid, its port). Stopped with SIGTERM on exit."""
    port = _free_port()
    env = dict(
        os.environ,
        CHAT_PORT=str(port),
        CHAT_HOST="127.0.0.1",
        CHAT_JWT_SECRET=secrets.token_urlsafe(48),
        CHAT_DATA_DIR=str(data_dir),
        CHAT_LOG_LEVEL="WARNING",
        CHAT_RATE_LIMITS="off",
        CHAT_BCRYPT_COST="4",
    )
    for name in ("CHAT_DATABASE_URL", "CHAT_BUS_URL", "CHAT_WORKERS", "CHAT_FILES_URL"):
        env.pop(name, None)
    if files_url is not None:
        env["CHAT_FILES_URL"] = files_url
    log = data_dir.parent / f"chat-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "chat", "serve", "--log-level", "INFO"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while b"listening on" not in log.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chat serve did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield process.pid, port
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _request(
    port: int, method: str, path: str, body: Iterable[bytes] | bytes | None, headers: dict
) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def _token(port: int) -> str:
    body = json.dumps({"username": "uploader", "password": "bench-password"}).encode()
    status, answer = _request(port, "POST", "/api/reg", body, {"Content-Type": "application/json"})
    assert status in (200, 201), answer
    return str(answer["token"])


def _chunks(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), WRITE_BYTES):
        yield bytes(view[start : start + WRITE_BYTES])


def upload(port: int, token: str, data: bytes, shape: str) -> None:
    """POST /files with `data`, raw or as a form's `file` part; checks the answer."""
    auth = {"Authorization": f"Bearer {token}"}
    if shape == "raw":
        headers = {**auth, "Content-Type": "application/octet-stream"}
        body: list[bytes] | Iterator[bytes] = _chunks(data)
        length = len(data)
    else:
        boundary = secrets.token_hex(16)
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file";'
            f' filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        headers = {**auth, "Content-Type": f"multipart/form-data; boundary={boundary}"}
        body = iter([head, *_chunks(data), tail])
        length = len(head) + len(data) + len(tail)
    headers["Content-Length"] = str(length)
    status, answer = _request(port, "POST", "/files?name=big.bin", body, headers)
    assert status == 201, (status, answer)
    assert answer["Size"] == len(data), answer
    assert answer["SHA256"] == hashlib.sha256(data).hexdigest(), answer


def image(kind: str) -> bytes:
    """A 24-megapixel photo as a JPEG (about 14 MiB), or 8.4 megapixels of noise as a
    PNG (about 24 MiB): what a thumbnail costs to make, besides the upload."""
    from PIL import Image

    out = io.BytesIO()
    if kind == "jpeg":
        small = Image.frombytes("RGB", (1500, 1000), os.urandom(1500 * 1000 * 3))
        small.resize((6000, 4000), Image.Resampling.BILINEAR).save(out, "JPEG", quality=95)
    else:
        side = 2900
        noise = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
        noise.save(out, "PNG", compress_level=1)
    return out.getvalue()


def measure(pid: int, port: int, token: str, size: int, shape: str) -> dict:
    data = image(shape) if shape in IMAGES else os.urandom(size)
    time.sleep(0.5)  # let the previous upload's threads and buffers settle
    _reset_peak(pid)
    before = _status(pid, "VmRSS")
    started = time.perf_counter()
    upload(port, token, data, "form" if shape == "form" else "raw")
    seconds = time.perf_counter() - started
    return {
        "before_kib": before,
        "peak_kib": _status(pid, "VmHWM") - before,
        "after_kib": _status(pid, "VmRSS") - before,
        "seconds": seconds,
        "mib": len(data) / MIB,
    }


@contextlib.contextmanager
def _storage(kind: str) -> Iterator[str | None]:
    if kind == "directory":
        yield None
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from s3_server import running_s3_server

    with running_s3_server() as s3:
        s3.create_bucket(BUCKET)
        yield s3.url(BUCKET, "bench")


def run(kind: str, size: int, runs: int, images: bool) -> dict:
    with (
        tempfile.TemporaryDirectory(prefix="chat-upload-memory-") as tmp,
        _storage(kind) as files_url,
        _serving(Path(tmp) / "data", files_url) as (pid, port),
    ):
        token = _token(port)
        for shape in ("raw", "form"):  # warm-up: imports, clients, connections
            upload(port, token, os.urandom(9 * MIB), shape)
        for kind in IMAGES:  # warm-up: Pillow's decoders
            upload(port, token, image(kind)[:100_000], "raw")
        shapes = ("raw", "form", *(IMAGES if images else ()))
        results: dict[str, list[dict]] = {shape: [] for shape in shapes}
        for _ in range(runs):
            for shape in shapes:
                results[shape].append(measure(pid, port, token, size, shape))
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storage", default="directory,s3", help="directory, s3 or both")
    parser.add_argument("--mib", type=int, default=25, help="the upload's size (default 25)")
    parser.add_argument("--runs", type=int, default=3, help="uploads of each shape")
    parser.add_argument("--no-images", action="store_true", help="skip the two images")
    args = parser.parse_args()
    size = args.mib * MIB
    table = [
        f"| storage | body | RSS before (MiB) | peak added (KiB) | added after (KiB) | "
        f"MiB/s | within {TARGET_KIB} KiB |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind in args.storage.split(","):
        results = run(kind, size, args.runs, not args.no_images)
        print(json.dumps({kind: results}), file=sys.stderr)
        for shape, runs in results.items():
            peak = max(r["peak_kib"] for r in runs)
            after = max(r["after_kib"] for r in runs)
            rate = max(r["mib"] / r["seconds"] for r in runs)
            before = max(r["before_kib"] for r in runs) / 1024
            ok = "yes" if peak <= TARGET_KIB else "NO"
            if shape in IMAGES:
                ok = "(decoding)"
            body = f"{shape} ({runs[0]['mib']:.0f} MiB)"
            table.append(
                f"| {kind} | {body} | {before:.1f} | {peak} | {after} | {rate:.0f} | {ok} |"
            )
    print("\n".join(table))


if __name__ == "__main__":
    main()
