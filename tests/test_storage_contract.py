"""Every `FileStorage` implementation against the same checks (tests/storage_contract.py).

To hold another implementation to them, add its name to `IMPLEMENTATIONS` and a branch
to `storage` that makes an empty one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from s3_server import S3Server, running_s3_server
from storage_contract import CHECKS, Check

from chat.files.directory import DirectoryStorage
from chat.files.s3 import S3Storage
from chat.files.storage import FileStorage

IMPLEMENTATIONS = ["directory", "s3"]


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    """An S3-compatible server (moto's) on loopback, with a bucket "contract"."""
    with running_s3_server() as server:
        server.create_bucket("contract")
        yield server


@pytest.fixture(params=IMPLEMENTATIONS)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FileStorage]:
    """An empty storage of each implementation in turn."""
    if request.param == "s3":
        server: S3Server = request.getfixturevalue("s3_server")
        # A prefix of its own: the test sees no other test's objects.
        s3 = S3Storage.from_url(server.url("contract", f"t/{uuid.uuid4().hex}"))
        try:
            yield s3
        finally:
            s3.close()
    elif request.param == "directory":
        yield DirectoryStorage(tmp_path / "files")
    else:
        raise AssertionError(f"no such storage: {request.param}")


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
async def test_storage_contract(storage: FileStorage, tmp_path: Path, check: Check) -> None:
    await check(storage, tmp_path)
