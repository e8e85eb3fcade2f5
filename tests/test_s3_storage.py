"""The S3 storage (chat/files/s3.py) beyond the contract every storage keeps
(tests/test_storage_contract.py): its URL, where its objects go, multipart uploads in
bounded memory, and how it fails (no server, no bucket, no credentials), against moto's
S3-compatible server on loopback (tests/s3_server.py)."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from s3_server import ACCESS_KEY, REGION, SECRET_KEY, S3Server, running_s3_server
from storage_contract import all_keys, read_all, source_file

import chat.files.s3
from chat.files.s3 import MULTIPART_BYTES, S3Location, S3Storage
from chat.files.storage import CHUNK_BYTES, StorageUnavailable

BUCKET = "files"
#: A secret the tests look for in every message and repr, to be sure it never shows.
CANARY_SECRET = "canary-secret-9f3b2c"


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    with running_s3_server() as server:
        server.create_bucket(BUCKET)
        yield server


@pytest.fixture
def s3_client(s3_server: S3Server) -> Iterator[Any]:
    """boto3, to look at the bucket behind the storage's back (blocking: only between
    the storage's calls, in the test's own set-up and checks)."""
    client = s3_server.client()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def prefix() -> str:
    return f"chat/{uuid.uuid4().hex}"


@pytest.fixture
def storage(s3_server: S3Server, prefix: str) -> Iterator[S3Storage]:
    s3 = S3Storage.from_url(s3_server.url(BUCKET, prefix))
    try:
        yield s3
    finally:
        s3.close()


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A loopback port bound but not listening (connections refused), kept bound so
    nothing else takes it during the test."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


# -- the URL -------------------------------------------------------------------------


def test_url_with_everything() -> None:
    location = S3Location.parse(
        "s3://my-bucket/chat/files/?endpoint=http://127.0.0.1:9000&region=eu-west-3"
        f"&access_key=AKIAEXAMPLE&secret_key={CANARY_SECRET}&addressing=virtual"
    )
    assert location == S3Location(
        bucket="my-bucket",
        prefix="chat/files",
        endpoint="http://127.0.0.1:9000",
        region="eu-west-3",
        addressing="virtual",
        access_key="AKIAEXAMPLE",
        secret_key=CANARY_SECRET,
    )
    assert CANARY_SECRET not in repr(location)
    assert CANARY_SECRET not in repr(S3Storage(location))
    assert location.describe() == "s3://my-bucket/chat/files at http://127.0.0.1:9000"


def test_url_of_a_bucket_alone_takes_credentials_from_elsewhere() -> None:
    location = S3Location.parse("s3://my.bucket")
    assert location == S3Location(bucket="my.bucket")
    assert location.addressing == "auto"
    assert location.access_key is None and location.secret_key is None


def test_url_with_an_endpoint_addresses_buckets_by_path() -> None:
    assert S3Location.parse("s3://bkt?endpoint=https://minio.internal").addressing == "path"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "empty"),
        ("http://bucket", "must start with s3://"),
        ("s3://", "not a bucket name"),
        ("s3://ab", "not a bucket name"),
        ("s3://Bucket", "not a bucket name"),
        ("s3://-bucket", "not a bucket name"),
        ("s3://b" + "x" * 63, "not a bucket name"),
        ("s3://bad..dots", "not a bucket name"),
        (f"s3://key:{CANARY_SECRET}@bucket", "AWS_ACCESS_KEY_ID"),
        ("s3://bucket:9000", "endpoint="),
        ("s3://bucket/a//b", "prefix"),
        ("s3://bucket/a/../b", "prefix"),
        ("s3://bucket/a b", "prefix"),
        ("s3://bucket/" + "p" * 300, "prefix is longer"),
        ("s3://bucket#x", "fragment"),
        ("s3://bucket?endpoint=ftp://host", "http:// or https://"),
        ("s3://bucket?endpoint=127.0.0.1:9000", "http:// or https://"),
        ("s3://bucket?endpoint=http://", "http:// or https://"),
        ("s3://bucket?endpoint=http://host:99999", "not a URL"),
        (f"s3://bucket?endpoint=http://u:{CANARY_SECRET}@host", "credentials"),
        ("s3://bucket?endpoint=http://h" + "x" * 600, "endpoint is longer"),
        ("s3://bucket?endpoint=http://a&endpoint=http://b", "2 times"),
        ("s3://bucket?region=EU WEST", "region"),
        ("s3://bucket?addressing=dns", "addressing"),
        ("s3://bucket?access_key=AKIA", "go together"),
        (f"s3://bucket?secret_key={CANARY_SECRET}", "go together"),
        (f"s3://bucket?access_key=a%20b&secret_key={CANARY_SECRET}", "access_key must"),
        ("s3://bucket?access_key=a&secret_key=" + "s" * 300, "secret_key must"),
        ("s3://bucket?acces_key=AKIA", "unknown parameter 'acces_key'"),
        ("s3://bucket?novalue", "name=value"),
        ("s3://bucket/" + "x" * 3000, "longer than 2048"),
    ],
)
def test_malformed_url_is_a_value_error_naming_the_problem(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match="S3 URL") as raised:
        S3Storage.from_url(url)
    message = str(raised.value)
    assert problem in message
    assert CANARY_SECRET not in message
    assert len(message) < 400


@pytest.mark.parametrize("key", ["", "a", "../etc", "ab/cd", ".hidden", "k" * 129, "é" * 4])
def test_a_key_that_is_no_object_name_is_a_value_error(key: str) -> None:
    storage = S3Storage.from_url("s3://bucket")
    with pytest.raises(ValueError, match="not a storage key"):
        storage.object_name(key)


# -- where the objects go ----------------------------------------------------------------


async def test_objects_are_named_prefix_shard_key(
    storage: S3Storage, s3_client: Any, prefix: str, tmp_path: Path
) -> None:
    key, path = source_file(tmp_path, b"where does it go")
    await storage.put(key, path)
    listed = s3_client.list_objects_v2(Bucket=BUCKET, Prefix=prefix + "/")
    assert [item["Key"] for item in listed["Contents"]] == [f"{prefix}/{key[:2]}/{key}"]


async def test_a_bucket_without_a_prefix(
    s3_server: S3Server, s3_client: Any, tmp_path: Path
) -> None:
    bucket = f"bare-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket)
    storage = S3Storage.from_url(s3_server.url(bucket))
    try:
        key, path = source_file(tmp_path, b"at the root")
        await storage.put(key, path)
        assert s3_client.head_object(Bucket=bucket, Key=f"{key[:2]}/{key}")["ContentLength"] == 11
        assert await all_keys(storage) == [key]
        assert await read_all(storage, key) == b"at the root"
    finally:
        storage.close()


async def test_keys_skip_objects_not_named_like_ours(
    storage: S3Storage, s3_client: Any, prefix: str, tmp_path: Path
) -> None:
    """A shared bucket may hold other things under the prefix: the collector must never
    see them as keys (it would delete them)."""
    for foreign in ["README", "ab/cdef", "xx/abc", "ab/abc/deeper", "ab/.abc"]:
        s3_client.put_object(Bucket=BUCKET, Key=f"{prefix}/{foreign}", Body=b"not ours")
    s3_client.put_object(Bucket=BUCKET, Key=f"{prefix}-other/ab/abcd", Body=b"beside us")
    key, path = source_file(tmp_path, b"ours")
    await storage.put(key, path)
    assert await all_keys(storage) == [key]


async def test_keys_page_through_long_listings(
    storage: S3Storage, s3_client: Any, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More objects than one listing page holds (pages made small, for speed)."""
    monkeypatch.setattr(chat.files.s3, "LIST_PAGE_KEYS", 7)
    keys = sorted(hashlib.sha256(str(n).encode()).hexdigest() for n in range(30))

    def fill() -> None:
        for key in keys:
            s3_client.put_object(Bucket=BUCKET, Key=f"{prefix}/{key[:2]}/{key}", Body=b"")

    await trio.to_thread.run_sync(fill)
    assert await all_keys(storage) == keys


async def test_put_of_a_stored_key_does_not_upload_again(
    storage: S3Storage, s3_client: Any, prefix: str, tmp_path: Path
) -> None:
    key, path = source_file(tmp_path, b"original bytes")
    await storage.put(key, path)
    # Behind the storage's back, same size: a second put must not touch it.
    name = f"{prefix}/{key[:2]}/{key}"
    s3_client.put_object(Bucket=BUCKET, Key=name, Body=b"ORIGINAL BYTES")
    await storage.put(key, path)
    assert await read_all(storage, key) == b"ORIGINAL BYTES"


# -- size: multipart in bounded memory ---------------------------------------------------


async def test_large_file_goes_up_in_parts_in_bounded_memory(
    storage: S3Storage, s3_client: Any, prefix: str, tmp_path: Path
) -> None:
    size = 12 * 1024 * 1024
    path = tmp_path / "large"
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for _ in range(size // (1024 * 1024)):
            block = os.urandom(1024 * 1024)
            digest.update(block)
            out.write(block)
    key = digest.hexdigest()
    warm_key, warm_path = source_file(tmp_path, b"loads boto3's models first")
    await storage.put(warm_key, warm_path)
    await read_all(storage, warm_key)

    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        await storage.put(key, path)
        upload_peak = tracemalloc.get_traced_memory()[1] - baseline
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        reading = hashlib.sha256()
        async for chunk in storage.open_range(key):
            assert len(chunk) <= CHUNK_BYTES
            reading.update(chunk)
        download_peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert reading.hexdigest() == key
    # Python's own allocations (threads included) while a 12 MiB file went up and came
    # back: a few buffers, never the file.
    print(f"peaks: upload {upload_peak} B, download {download_peak} B")
    assert upload_peak < 4 * 1024 * 1024, upload_peak
    assert download_peak < 2 * 1024 * 1024, download_peak
    head = s3_client.head_object(Bucket=BUCKET, Key=f"{prefix}/{key[:2]}/{key}")
    assert head["ContentLength"] == size
    parts = -(-size // MULTIPART_BYTES)
    assert head["ETag"].strip('"').endswith(f"-{parts}"), "a multipart upload's ETag"


# -- failures ----------------------------------------------------------------------------


async def test_unreachable_endpoint_is_storage_unavailable(
    refusing_port: int, tmp_path: Path
) -> None:
    endpoint = f"http://127.0.0.1:{refusing_port}"
    storage = S3Storage.from_url(
        f"s3://bkt/p?endpoint={endpoint}&access_key={ACCESS_KEY}&secret_key={CANARY_SECRET}"
    )
    key, path = source_file(tmp_path, b"nowhere to go")
    errors: list[StorageUnavailable] = []

    async def fails(function: Any, *args: Any) -> None:
        with pytest.raises(StorageUnavailable) as raised:
            await function(*args)
        errors.append(raised.value)

    async def iterate(function: Any, *args: Any) -> None:
        [chunk async for chunk in function(*args)]

    try:
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(fails, storage.put, key, path)
                nursery.start_soon(fails, storage.size, key)
                nursery.start_soon(fails, storage.delete, key)
                nursery.start_soon(fails, storage.check)
                nursery.start_soon(fails, iterate, storage.open_range, key)
                nursery.start_soon(fails, iterate, storage.keys)
    finally:
        storage.close()
    assert len(errors) == 6
    for error in errors:
        assert "cannot reach the object store" in str(error)
        assert endpoint in str(error)
        assert CANARY_SECRET not in str(error)


async def test_missing_bucket_is_storage_unavailable(s3_server: S3Server, tmp_path: Path) -> None:
    storage = S3Storage.from_url(s3_server.url("no-such-bucket"))
    try:
        with pytest.raises(StorageUnavailable, match="the bucket does not exist"):
            await storage.check()
        key, path = source_file(tmp_path, b"no bucket")
        with pytest.raises(StorageUnavailable, match="the bucket does not exist"):
            await storage.put(key, path)
        with pytest.raises(StorageUnavailable, match="the bucket does not exist"):
            await all_keys(storage)
    finally:
        storage.close()


async def test_check_passes_on_a_bucket_that_exists(storage: S3Storage) -> None:
    await storage.check()


def _without_aws_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials anywhere boto3 looks, and no instance metadata service asked (it
    is not on loopback)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


async def test_no_credentials_is_storage_unavailable(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _without_aws_settings(monkeypatch, tmp_path)
    storage = S3Storage.from_url(f"s3://{BUCKET}?endpoint={s3_server.endpoint}&region={REGION}")
    try:
        with pytest.raises(StorageUnavailable, match="no S3 credentials"):
            await storage.check()
    finally:
        storage.close()


async def test_credentials_from_the_aws_environment_variables(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, prefix: str, tmp_path: Path
) -> None:
    _without_aws_settings(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    storage = S3Storage.from_url(
        f"s3://{BUCKET}/{prefix}?endpoint={s3_server.endpoint}&region={REGION}"
    )
    try:
        key, path = source_file(tmp_path, b"signed from the environment")
        await storage.put(key, path)
        assert await read_all(storage, key) == b"signed from the environment"
    finally:
        storage.close()


async def test_cancelled_reads_leave_no_connection_open(storage: S3Storage, tmp_path: Path) -> None:
    """Cancelled at every point of a read (the GET in flight, between chunks): each
    response is closed (an unclosed one would warn, and warnings fail the tests), and
    the storage still serves."""
    data = os.urandom(3 * CHUNK_BYTES)
    key, path = source_file(tmp_path, data)
    await storage.put(key, path)
    for delay in [0, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05]:
        with trio.move_on_after(delay):
            await read_all(storage, key)
    await trio.sleep(0.2)  # let abandoned threads finish (and close what they got)
    assert await read_all(storage, key) == data


async def test_a_body_that_arrives_after_cancellation_is_closed() -> None:
    """The GET's thread is abandoned on cancellation; when its answer comes later, the
    thread closes the body itself (a stand-in client makes the timing certain)."""
    answer = threading.Event()
    closed = threading.Event()

    class Body:
        def read(self, size: int) -> bytes:
            return b""

        def close(self) -> None:
            closed.set()

    class SlowClient:
        def get_object(self, **arguments: Any) -> dict[str, Any]:
            answer.wait(10)
            return {"Body": Body()}

    storage = S3Storage(S3Location(bucket="bkt"))
    storage._client = SlowClient()  # type: ignore[assignment]
    with trio.move_on_after(0.2) as scope:
        await read_all(storage, "ab" * 32)
    assert scope.cancelled_caught
    assert not closed.is_set()
    answer.set()
    assert await trio.to_thread.run_sync(closed.wait, 5)


# -- cancellation of a put ---------------------------------------------------------------


async def _stored(storage: S3Storage, key: str) -> bool:
    try:
        await storage.size(key)
    except FileNotFoundError:
        return False
    return True


@pytest.mark.parametrize("multipart", [False, True], ids=["one-put", "multipart"])
async def test_a_cancelled_put_has_stopped_when_it_returns(
    storage: S3Storage,
    s3_client: Any,
    prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    multipart: bool,
) -> None:
    """Cancelled while its bytes go up, `put` returns once nothing more will happen: the
    bucket then holds what it keeps, and no multipart upload is left open. (An upload
    left running in an abandoned thread would finish after the caller, seeing the
    cancellation, deleted the object: an object no record names.)"""
    if not multipart:
        monkeypatch.setattr(chat.files.s3, "MULTIPART_BYTES", 64 * 1024 * 1024)
    key, path = source_file(tmp_path, os.urandom(40 * 1024 * 1024))
    warm_key, warm_path = source_file(tmp_path, b"the client is made first")
    await storage.put(warm_key, warm_path)

    def open_uploads() -> list[str]:
        found = s3_client.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix)
        return [upload["Key"] for upload in found.get("Uploads", [])]

    async with trio.open_nursery() as nursery:
        nursery.start_soon(storage.put, key, path)
        if multipart:
            with trio.fail_after(20):
                while not await trio.to_thread.run_sync(open_uploads):  # noqa: ASYNC110
                    await trio.sleep(0.01)
        else:
            await trio.sleep(0.2)  # the HEAD is answered, the PUT under way
        nursery.cancel_scope.cancel()
    stored_then = await _stored(storage, key)
    await trio.sleep(3)  # longer than the whole upload takes
    assert await _stored(storage, key) == stored_then
    assert await trio.to_thread.run_sync(open_uploads) == []
