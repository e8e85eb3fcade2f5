"""An S3-compatible server of the tests' own: moto's, in a child process on 127.0.0.1 and
an ephemeral port, for `chat.files.s3` (tests/test_s3_storage.py and the storage contract).

Run as a script, it starts moto's threaded server, prints its address on one line, and
serves until its standard input closes (the parent ending, even by a crash, ends it). A
child process rather than a thread of the test process: moto keeps every object in its
memory and works under the GIL, which would blur the test's measure of the client's
memory and slow the Trio thread.

Without moto (`pip install -e '.[test]'` brings it) the tests that need it skip, except
with CI=true, where they fail.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

#: How long the child may take to import moto and listen.
START_TIMEOUT_S = 30.0

#: The credentials the tests sign with (moto accepts any).
ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key-not-a-secret"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    """A running S3-compatible server: where it listens and how to sign for it."""

    endpoint: str

    def url(self, bucket: str, prefix: str = "") -> str:
        """A `CHAT_FILES_URL` for `bucket` (and `prefix`) on this server, credentials in
        the query (the tests' process environment has no AWS variables to rely on)."""
        path = f"/{prefix}" if prefix else ""
        return (
            f"s3://{bucket}{path}?endpoint={self.endpoint}&region={REGION}"
            f"&access_key={ACCESS_KEY}&secret_key={SECRET_KEY}"
        )

    def client(self) -> Any:
        """A boto3 client of this server, for what the tests set up or look at behind
        the storage's back (blocking: call it from a sync fixture or a worker thread)."""
        import boto3.session

        session = boto3.session.Session(
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
        )
        return session.client("s3", endpoint_url=self.endpoint)

    def create_bucket(self, bucket: str) -> None:
        client = self.client()
        try:
            client.create_bucket(Bucket=bucket)
        finally:
            client.close()


def _unavailable(reason: str) -> None:
    message = f"an S3-compatible test server (moto) is needed: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: these tests must run)")
    pytest.skip(message)


@contextmanager
def running_s3_server() -> Iterator[S3Server]:
    """Start moto's server in a child process; stop it on exit."""
    try:
        import moto.server  # noqa: F401
    except ImportError as error:
        _unavailable(f"moto[server] is not installed ({error})")
    child = subprocess.Popen(
        [sys.executable, __file__],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], START_TIMEOUT_S)
        line = child.stdout.readline().strip() if ready else ""
        if not line.startswith("http://"):
            _unavailable(f"moto's server did not start (it said {line[:200]!r})")
        yield S3Server(endpoint=line)
    finally:
        # Closing its standard input asks it to stop; kill it if it does not.
        assert child.stdin is not None
        child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()


def _serve() -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"http://{host}:{port}", flush=True)
    sys.stdin.read()  # until the parent closes it, or dies
    server.stop()


if __name__ == "__main__":
    _serve()
