"""Uploaded files on S3-compatible object storage (``CHAT_FILES_URL=s3://bucket/prefix?...``):
AWS S3, MinIO, Ceph's RGW, Garage, Cloudflare R2 and the like.

The client is boto3, AWS's own SDK: maintained, spoken by every S3-compatible server
(`endpoint=`), with the standard credential chain (environment, shared files, instance
roles) and managed multipart uploads from a file (s3transfer) that read the file part by
part, so memory stays bounded whatever the size. boto3 blocks, so every call runs in a
worker thread (`trio.to_thread.run_sync`) under this storage's own `CapacityLimiter`,
sized like boto3's connection pool. It is an optional extra: ``pip install '.[s3]'``.

The URL is parsed by `chat.files.s3_url.S3Location` (re-exported here). Objects are
named ``<prefix>/<key[:2]>/<key>`` (the two-character level keeps listings of one level
short in the consoles people browse).
Keys are content-addressed, so `put` asks first whether the object is there and uploads
only if not; an S3 PUT (or a multipart upload's completion) is atomic, so a reader sees
the whole object or none.

Resource handling: the boto3 client (its connection pool) is made on first use, in a
worker thread (building it reads boto3's service models: too slow for the Trio thread),
and closed by `close`. `open_range` holds one response body while it is iterated and
closes it when the iteration ends, is cancelled or is dropped.

Error handling: a key not stored raises `FileNotFoundError`; a store that cannot be
reached, refuses the credentials, has no such bucket or answers an error raises
`StorageUnavailable` whose message names the endpoint and the bucket, never the
credentials. Cancellation abandons a request in flight (its thread finishes on its own,
bounded by the timeouts below, and keeps its limiter token until then), except an upload:
`put` cancels its transfer and waits for it to stop (s3transfer aborts a multipart upload),
so that no object appears after a cancelled `put` has returned; only a store that stops
answering for `STOP_WAIT_S` is abandoned, its parts left to the bucket's lifecycle rule
(docs/DEPLOYMENT.md).
"""

from __future__ import annotations

import importlib.util
import re
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from chat.files.s3_url import S3Location
from chat.files.storage import CHUNK_BYTES, StorageUnavailable

if TYPE_CHECKING:
    from botocore.client import BaseClient

__all__ = ["S3Location", "S3Storage"]

T = TypeVar("T")

#: Worker threads (and pooled connections) one storage uses at most.
MAX_THREADS = 10
#: Seconds to connect, and to wait for the next bytes of an answer, before a try fails.
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
#: Tries per request (botocore's "standard" retries: connection errors, 5xx, throttling).
MAX_ATTEMPTS = 3
#: Files from this size on go up as a multipart upload, in parts of this size (S3's
#: smallest part is 5 MiB; s3transfer reads each part from the file as it sends it).
MULTIPART_BYTES = 8 * 1024 * 1024

#: How long a cancelled `put` waits for its upload to stop (it stops at its next write,
#: unless the store has stopped answering: then it is abandoned).
STOP_WAIT_S = 10.0

#: Keys asked for per listing request (S3's largest page).
LIST_PAGE_KEYS = 1000

#: Storage keys: SHA-256 hex in practice; anything safe as an object name is accepted.
_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{1,127}")

#: Error codes that mean "no such object" (HEAD answers carry only the status).
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
_REFUSED = frozenset(
    {
        "403",
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
    }
)


def _check_key(key: str) -> str:
    if not isinstance(key, str) or _KEY.fullmatch(key) is None:
        raise ValueError(f"not a storage key: {str(key)[:80]!r}")
    return key


class S3Storage:
    """`chat.files.storage.FileStorage` on an S3-compatible bucket (see the module).

    The bucket must exist: the server never creates one (that takes rights beyond the
    objects it stores, and choices of region, encryption and lifecycle that are the
    operator's). `check` says whether it can be used, for start-up.
    """

    def __init__(self, location: S3Location, *, max_threads: int = MAX_THREADS) -> None:
        if max_threads < 1:
            raise ValueError("max_threads must be at least 1")
        self.location = location
        self._limiter = trio.CapacityLimiter(max_threads)
        self._max_threads = max_threads
        self._client: BaseClient | None = None
        self._client_lock = trio.Lock()

    @classmethod
    def from_url(cls, url: str) -> S3Storage:
        """The storage a ``CHAT_FILES_URL=s3://...`` asks for. Cheap: it parses only (the
        client is made on first use). Raises ValueError for a malformed URL, or when
        boto3 is not installed."""
        location = S3Location.parse(url)
        if importlib.util.find_spec("boto3") is None:
            raise ValueError(
                "an s3:// URL needs the S3 client, which is not installed: "
                "pip install 'trio-chat-server[s3]' (boto3)"
            )
        return cls(location)

    def __repr__(self) -> str:
        return f"S3Storage({self.location.describe()!r})"

    def object_name(self, key: str) -> str:
        """The S3 object that holds `key`: ``<prefix>/<key[:2]>/<key>``."""
        _check_key(key)
        head = f"{self.location.prefix}/" if self.location.prefix else ""
        return f"{head}{key[:2]}/{key}"

    # -- the FileStorage interface --------------------------------------------------

    async def put(self, key: str, source: Path) -> None:
        """Upload `source` as `key` unless an object of its size is already there
        (content-addressed: same key, same bytes). A multipart upload from
        `MULTIPART_BYTES` on, read from the file one part at a time."""
        name = self.object_name(key)
        client = await self._s3()
        size = (await trio.Path(source).stat()).st_size
        try:
            stored = await self._call(self._head, client, name)
        except FileNotFoundError:
            stored = None
        if stored == size:
            return
        from boto3.s3.transfer import TransferConfig, create_transfer_manager

        # use_threads=False: the parts go up one after the other in this worker thread,
        # so a put takes one of our threads and one part's buffers, never more.
        transfer = TransferConfig(
            multipart_threshold=MULTIPART_BYTES,
            multipart_chunksize=MULTIPART_BYTES,
            use_threads=False,
        )
        started = _Started()
        finished = threading.Event()

        def upload() -> None:
            try:
                with create_transfer_manager(client, transfer) as transfers:
                    transfers.upload(
                        str(source),
                        self.location.bucket,
                        name,
                        extra_args={"ContentType": "application/octet-stream"},
                        subscribers=[started],
                    ).result()
            finally:
                finished.set()

        try:
            await self._call(upload)
        except BaseException:
            # Cancelled (or failed): the transfer is cancelled (it stops at its next read
            # of the file; s3transfer aborts a multipart upload) and waited for, so that
            # nothing goes up once `put` has returned: the caller may delete the object
            # next, and an upload finishing later would leave one that no record names.
            # Bounded: a store that stops answering is abandoned after STOP_WAIT_S.
            started.cancel()
            with trio.move_on_after(STOP_WAIT_S, shield=True):
                await trio.to_thread.run_sync(finished.wait)
            raise

    async def open_range(
        self, key: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """The bytes of `key` in ``[start, end)``, `CHUNK_BYTES` at a time: one ranged GET
        whose body is read chunk by chunk in worker threads."""
        if start < 0 or (end is not None and end < 0):
            raise ValueError("a range starts and ends at 0 or after")
        name = self.object_name(key)
        client = await self._s3()
        if end is not None and end <= start:
            await self._call(self._head, client, name)  # FileNotFoundError if missing
            return
        arguments: dict[str, Any] = {"Bucket": self.location.bucket, "Key": name}
        if start > 0 or end is not None:
            last = "" if end is None else str(end - 1)
            arguments["Range"] = f"bytes={start}-{last}"
        try:
            body = await self._open_body(client, arguments)
        except _RangeNotSatisfiable:
            return  # the object exists and ends before `start`: no bytes
        try:
            while True:
                # Not abandoned on cancellation: the body is closed below, and a read
                # left running in another thread would race that close. The read
                # timeout bounds the wait.
                chunk = await self._call(body.read, CHUNK_BYTES, abandon=False)
                if not chunk:
                    return
                yield chunk
        finally:
            # Closing drops the connection (its rest unread): no network wait.
            body.close()

    async def size(self, key: str) -> int:
        """The stored object's length (a HEAD request). A missing bucket answers a HEAD
        like a missing object (FileNotFoundError): `check` tells them apart."""
        return await self._call(self._head, await self._s3(), self.object_name(key))

    async def delete(self, key: str) -> None:
        """Delete the object (S3 answers a delete of a missing object with success)."""
        name = self.object_name(key)
        client = await self._s3()
        await self._call(client.delete_object, Bucket=self.location.bucket, Key=name)

    async def keys(self) -> AsyncIterator[str]:
        """Every key under the prefix, a listing page (`LIST_PAGE_KEYS`) at a time; objects
        not named like ours (someone else's, in a shared bucket) are skipped."""
        client = await self._s3()
        head = f"{self.location.prefix}/" if self.location.prefix else ""
        arguments: dict[str, Any] = {
            "Bucket": self.location.bucket,
            "Prefix": head,
            "MaxKeys": LIST_PAGE_KEYS,
        }
        while True:
            page = await self._call(client.list_objects_v2, **arguments)
            for item in page.get("Contents", ()):
                rest = item["Key"][len(head) :]
                shard, _, key = rest.partition("/")
                if _KEY.fullmatch(key) is not None and shard == key[:2]:
                    yield key
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            arguments["ContinuationToken"] = token

    # -- beyond the interface ---------------------------------------------------------

    async def check(self) -> None:
        """Raise `StorageUnavailable` unless the bucket exists and answers these
        credentials (a HEAD of the bucket): for start-up, so a typo is told at once."""
        client = await self._s3()
        try:
            await self._call(client.head_bucket, Bucket=self.location.bucket)
        except FileNotFoundError:
            raise StorageUnavailable(
                f"{self.location.describe()}: the bucket does not exist (create it first; "
                "the server does not)"
            ) from None

    def close(self) -> None:
        """Close the client's pooled connections (quick: no network wait), once no call
        is in flight (at shutdown: a call still running would lose its connection). The
        storage makes a new client if used again."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    # -- plumbing -----------------------------------------------------------------------

    async def _s3(self) -> BaseClient:
        """The boto3 client, made on first use in a worker thread (the lock: by one
        task, the others waiting for it)."""
        if self._client is not None:
            return self._client
        async with self._client_lock:
            if self._client is None:
                self._client = await self._call(self._make_client)
            return self._client

    def _make_client(self) -> BaseClient:
        """Runs in a worker thread. A session of its own: boto3's default session is
        shared and not thread-safe; the client is (boto3's documentation)."""
        import boto3.session
        from botocore.config import Config

        location = self.location
        session = boto3.session.Session(
            aws_access_key_id=location.access_key,
            aws_secret_access_key=location.secret_key,
            region_name=location.region,
        )
        config = Config(
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=READ_TIMEOUT_S,
            retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
            max_pool_connections=self._max_threads,
            s3={"addressing_style": location.addressing},
        )
        client: BaseClient = session.client("s3", endpoint_url=location.endpoint, config=config)
        return client

    async def _open_body(self, client: BaseClient, arguments: dict[str, Any]) -> Any:
        """GET the object; its body (a stream the caller must close).

        Cancellation: the request's thread is abandoned, so the body may arrive after
        we have gone. Whichever side comes second, under `handoff.lock`, closes it: the
        thread if we are gone, we if it came while we were being cancelled. Either way
        no response is left holding a connection."""
        handoff = _Handoff()

        def get() -> Any:
            body = client.get_object(**arguments)["Body"]
            with handoff.lock:
                if handoff.abandoned:
                    body.close()
                else:
                    handoff.body = body
            return body

        try:
            return await self._call(get)
        except BaseException:
            # A threading lock on the Trio thread: held by either side only for the
            # few statements above, never across I/O.
            with handoff.lock:
                handoff.abandoned = True
                body, handoff.body = handoff.body, None
            if body is not None:
                body.close()
            raise

    def _head(self, client: BaseClient, name: str) -> int:
        """Runs in a worker thread: the object's length, FileNotFoundError if missing."""
        response = client.head_object(Bucket=self.location.bucket, Key=name)
        length: int = response["ContentLength"]
        return length

    async def _call(
        self, function: Callable[..., T], *args: Any, abandon: bool = True, **kwargs: Any
    ) -> T:
        """Run a boto3 call in a worker thread, its errors turned into ours."""

        def call() -> T:
            try:
                return function(*args, **kwargs)
            except Exception as error:
                raise self._translate(error) from None

        return await trio.to_thread.run_sync(call, limiter=self._limiter, abandon_on_cancel=abandon)

    def _translate(self, error: Exception) -> Exception:
        """boto3's error as `FileNotFoundError`, `_RangeNotSatisfiable` or
        `StorageUnavailable` (any other error, a bug of ours, as it is). Messages name
        the place and the error's kind, never the request's credentials."""
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionError,
            HTTPClientError,
            NoCredentialsError,
            PartialCredentialsError,
        )

        where = self.location.describe()
        if isinstance(error, S3UploadFailedError) and isinstance(
            error.__context__, ClientError | BotoCoreError
        ):
            # s3transfer's wrapping of the error that failed the upload: judge that one.
            error = error.__context__
        if isinstance(error, ClientError):
            details = error.response.get("Error", {})
            code = str(details.get("Code", ""))[:64]
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in _MISSING:
                return FileNotFoundError(f"{where}: no such object")
            if code == "InvalidRange":
                return _RangeNotSatisfiable()
            if code == "NoSuchBucket":
                return StorageUnavailable(f"{where}: the bucket does not exist")
            if code in _REFUSED:
                return StorageUnavailable(f"{where}: the credentials were refused ({code})")
            return StorageUnavailable(f"{where}: the object store answered {code} ({status})")
        if isinstance(error, NoCredentialsError | PartialCredentialsError):
            return StorageUnavailable(
                f"{where}: no S3 credentials (set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or access_key= and secret_key= in the URL)"
            )
        if isinstance(error, ConnectionError | HTTPClientError):
            return StorageUnavailable(
                f"{where}: cannot reach the object store ({type(error).__name__})"
            )
        if isinstance(error, S3UploadFailedError):
            # s3transfer wraps the ClientError's message; its code is in the text.
            return StorageUnavailable(f"{where}: the upload failed ({str(error)[:200]})")
        if isinstance(error, BotoCoreError):
            return StorageUnavailable(f"{where}: {type(error).__name__}")
        return error


@dataclass
class _Handoff:
    """A response body passed from a worker thread that may have been abandoned."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    abandoned: bool = False
    body: Any = None


class _Started:
    """An s3transfer subscriber that keeps the transfer's future from the moment it is
    queued (before any byte goes), so that the Trio thread can cancel it (`cancel`,
    thread-safe; a cancel that comes first cancels it as it is queued)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._future: Any = None
        self._cancelled = False

    def on_queued(self, future: Any, **kwargs: Any) -> None:
        with self._lock:
            self._future = future
            if self._cancelled:
                future.cancel()

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._future is not None:
                self._future.cancel()


class _RangeNotSatisfiable(Exception):
    """The object ends before the range starts (S3's 416)."""
