"""The figures measured as a scrape begins (chat/app/upkeep_metrics.py) stay within their
bound: the files directory's free space from a filesystem that is gone or does not
answer shows no figure, and a measurement still waiting blocks no scrape and starts no
second thread. (The figures themselves, from a real server: tests/test_metrics.py.)"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import trio
from prometheus_client.core import Metric

from chat.app.upkeep_metrics import DiskUsage, StorageSpace


def _names(space: StorageSpace) -> dict[str, float]:
    families: list[Metric] = list(space.collect())
    return {family.name: family.samples[0].value for family in families}


async def test_the_free_space_and_size_of_the_files_directory_are_shown(tmp_path: Path) -> None:
    space = StorageSpace(tmp_path)
    await space.measure()
    shown = _names(space)
    assert shown["chat_files_storage_size_bytes"] == shutil.disk_usage(tmp_path).total
    assert 0 < shown["chat_files_storage_free_bytes"] <= shown["chat_files_storage_size_bytes"]


async def test_a_files_directory_that_is_gone_shows_no_figure(tmp_path: Path) -> None:
    space = StorageSpace(tmp_path / "gone")
    await space.measure()
    assert _names(space) == {}


async def test_a_filesystem_that_does_not_answer_shows_no_figure_within_the_bound(
    tmp_path: Path,
) -> None:
    answer, asked = threading.Event(), []

    def hung(path: Path) -> DiskUsage:
        asked.append(path)
        answer.wait()  # a network filesystem that hangs, until the test lets it go
        return shutil.disk_usage(path)

    space = StorageSpace(tmp_path, usage=hung, timeout=0.2)
    try:
        for _ in range(3):  # three scrapes while it hangs
            with trio.fail_after(1):
                await space.measure()
            assert _names(space) == {}
        assert len(asked) == 1  # one thread waits, not one per scrape
    finally:
        answer.set()
