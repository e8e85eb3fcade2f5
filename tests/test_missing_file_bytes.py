"""A file whose record is there but whose bytes are not (removed from the storage behind
the server's back: a lost volume, a bucket emptied by hand), or whose storage does not
answer: the download answers 404 (503 while the storage is unreachable) with a JSON
error before any header of the file's is sent, never 200 and a cut body; logged once,
one line, no traceback. On each storage kind (a directory, a bucket on moto's S3 server)
and each database."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
from files_support import BUCKET, StorageUnderTest, fetch, file_storage, png, s3_server, upload
from s3_server import running_s3_server
from support import Server, account, start_server

from chat.core.config import Config
from chat.files.opening import open_storage, storage_directory

__all__ = ["file_storage", "s3_server"]  # fixtures

pytestmark = pytest.mark.server

LOGGER = "chat.app.messages.files"


@pytest.fixture
async def server(nursery: trio.Nursery, config: Config, file_storage: StorageUnderTest) -> Server:
    return await start_server(nursery, file_storage.config(config))


async def _remove_behind_the_servers_back(config: Config, key: str) -> None:
    async with open_storage(config) as storage:
        await storage.delete(key)


def _logged_once(caplog: pytest.LogCaptureFixture, text: str) -> None:
    """One line from the files library saying `text`, and no traceback from anyone."""
    lines = [r for r in caplog.records if r.name == LOGGER and text in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert [r.getMessage() for r in caplog.records if r.exc_info or r.exc_text] == []


async def test_a_file_whose_bytes_are_missing_answers_404_not_a_cut_body(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    alice = await account(server, "alice")
    data = b"gone " * 50_000  # several chunks of the storage's
    file = await upload(server, alice, data, "gone.txt")
    await _remove_behind_the_servers_back(server.config, f"{file['SHA256']}.{file['FileID']}")
    answer = await fetch(server, alice, f"/files/{file['FileID']}/gone.txt")
    assert answer.status_code == 404
    assert answer.headers["Content-Type"] == "application/json"
    assert "missing" in answer.json()["error"]
    _logged_once(caplog, "missing from the storage")


async def test_a_range_of_a_file_whose_bytes_are_missing_answers_404(server: Server) -> None:
    alice = await account(server, "alice")
    file = await upload(server, alice, b"0123456789" * 1000, "gone.txt")
    await _remove_behind_the_servers_back(server.config, f"{file['SHA256']}.{file['FileID']}")
    path = f"/files/{file['FileID']}/gone.txt"
    answer = await fetch(server, alice, path, {"Range": "bytes=100-199"})
    assert (answer.status_code, answer.headers["Content-Type"]) == (404, "application/json")


async def test_a_missing_thumbnail_answers_404_and_its_file_is_still_served(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    alice = await account(server, "alice")
    data = png(320, 200)
    image = await upload(server, alice, data, "p.png")
    stored = f"{image['SHA256']}.{image['FileID']}"
    await _remove_behind_the_servers_back(server.config, f"{stored}.thumbnail")
    thumbnail = await fetch(server, alice, f"/files/{image['FileID']}/thumbnail")
    assert (thumbnail.status_code, thumbnail.headers["Content-Type"]) == (404, "application/json")
    whole = await fetch(server, alice, f"/files/{image['FileID']}/p.png")
    assert (whole.status_code, whole.content) == (200, data)
    _logged_once(caplog, "missing from the storage")


async def test_an_empty_file_is_still_served_whole(server: Server) -> None:
    alice = await account(server, "alice")
    file = await upload(server, alice, b"", "empty.txt")
    answer = await fetch(server, alice, f"/files/{file['FileID']}/empty.txt")
    assert (answer.status_code, answer.content) == (200, b"")


# -- a storage that does not answer ----------------------------------------------------


@dataclass
class Unreachable:
    """A storage kind (`files_url` for the server) and how to cut it off (`cut`)."""

    kind: str
    files_url: str | None
    cut: Callable[[Config], None]


@pytest.fixture(params=["directory", "s3"])
def unreachable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Unreachable]:
    """For a bucket: a moto server of the test's own, which the cut stops. For a
    directory: the cut moves it away and puts a file in its place (every read then
    fails, as on a lost mount)."""
    if request.param == "directory":

        def move_away(config: Config) -> None:
            directory = storage_directory(config)
            assert directory is not None
            directory.rename(tmp_path / "files-elsewhere")
            directory.write_bytes(b"not a directory")

        yield Unreachable("directory", None, move_away)
        return
    with ExitStack() as running:
        s3 = running.enter_context(running_s3_server())
        s3.create_bucket(BUCKET)
        yield Unreachable("s3", s3.url(BUCKET, "t"), lambda _config: running.close())


async def test_a_file_answers_503_while_its_storage_is_unreachable(
    nursery: trio.Nursery,
    config: Config,
    unreachable: Unreachable,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await start_server(nursery, config.replace(files_url=unreachable.files_url))
    alice = await account(server, "alice")
    file = await upload(server, alice, b"unreachable " * 1000, "u.txt")
    caplog.set_level(logging.INFO)
    await trio.to_thread.run_sync(unreachable.cut, server.config)
    with trio.fail_after(60):
        answer = await fetch(server, alice, f"/files/{file['FileID']}/u.txt")
    assert (answer.status_code, answer.json()) == (503, {"error": "file storage unavailable"})
    assert answer.headers["Retry-After"]
    _logged_once(caplog, "file storage unavailable")
