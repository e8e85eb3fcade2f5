"""The data on disk is the server user's alone: under a umask of 022 (the usual default)
the SQLite database, its -wal and -shm, the generated JWT secret, uploads and the files
people shared are created 0600 in directories of 0700; and an installation an earlier
release left open to others is made private when the server starts, said once in the log.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from files_support import png, upload
from support import StoppableServer, account, server_config

from chat.core.config import Config
from chat.store.private_paths import tighten

#: What the server's log says when it made an earlier installation's data private.
TIGHTENED = "data paths were open to other users"


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The process's umask at 022 for the test (it is the process's: restored after)."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


@pytest.fixture
def sqlite_config(tmp_path: Path) -> Config:
    """SQLite and files in the data directory, and a generated JWT secret kept there."""
    return server_config(tmp_path, None, jwt_secret=None)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _open_to_others(root: Path) -> dict[str, str]:
    """Every path under `root` (and `root`) that group or others may use, with its mode."""
    found = {}
    for path in [root, *root.rglob("*")]:
        if _mode(path) & 0o077:
            found[str(path.relative_to(root.parent))] = oct(_mode(path))
    return found


async def test_data_made_under_umask_022_is_the_server_users_alone(
    nursery: trio.Nursery, sqlite_config: Config, umask_022: None
) -> None:
    data = sqlite_config.data_dir
    server = await StoppableServer(nursery, sqlite_config).start()
    alice = await account(server, "alice")
    await upload(server, alice, b"minutes of the board meeting", "minutes.txt")
    await upload(server, alice, png(64, 64), "chart.png")  # and its thumbnail
    # While the server runs, SQLite's -wal and -shm are there too.
    made = {path.name for path in data.iterdir()}
    assert {"chat.sqlite3", "chat.sqlite3-wal", "chat.sqlite3-shm", "jwt-secret"} <= made
    assert _open_to_others(data) == {}
    assert _mode(data) == 0o700
    assert _mode(data / "chat.sqlite3-wal") == 0o600
    assert [_mode(p) for p in (data / "files").glob("*/*")] == [0o600] * 3


async def test_an_earlier_installation_is_made_private_at_start_and_said_once(
    nursery: trio.Nursery, sqlite_config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    data = sqlite_config.data_dir
    restartable = StoppableServer(nursery, sqlite_config)
    server = await restartable.start()
    alice = await account(server, "alice")
    await upload(server, alice, b"minutes of the board meeting", "minutes.txt")
    await restartable.stop()
    # As a release that created everything by a umask of 022 left it.
    for path in [data, *data.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    caplog.set_level(logging.INFO, logger="chat.server.data_permissions")

    await restartable.start()
    assert _mode(data) == 0o700
    assert _mode(data / "chat.sqlite3") == 0o600
    assert _mode(data / "jwt-secret") == 0o600
    assert {_mode(p) for p in [data / "files", *(data / "files").glob("*")]} == {0o700}
    (said,) = [r.getMessage() for r in caplog.records if TIGHTENED in r.getMessage()]
    assert str(data / "chat.sqlite3") in said
    await restartable.stop()

    caplog.clear()
    await restartable.start()
    assert [r for r in caplog.records if TIGHTENED in r.getMessage()] == []


def test_a_directory_meant_for_everyone_is_never_closed(tmp_path: Path) -> None:
    """A sticky directory (``/tmp`` named as the data directory by mistake) keeps its
    mode; a link is not followed."""
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    target = tmp_path / "elsewhere"
    target.write_bytes(b"")
    os.chmod(target, 0o644)
    (tmp_path / "link").symlink_to(target)
    assert not tighten(shared) and _mode(shared) == 0o1777
    assert not tighten(tmp_path / "link") and _mode(target) == 0o644
    assert tighten(target) and _mode(target) == 0o600
