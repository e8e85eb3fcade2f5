"""npm packages the tests install at test time into cache directories outside the
repository, once (axe-core for tests/axe.py, oidc-provider for tests/oidc.py). Without
npm, or when an install fails, the tests that need it skip, or fail with CI=true (as
without Chromium)."""

from __future__ import annotations

import fcntl
import shutil
from pathlib import Path

import pytest
import trio
from support import in_ci

#: One install at a time, whichever test asks first: in this process (the lock) and
#: across processes (pytest-xdist's workers: a lock file beside the directory).
_installing = trio.Lock()


async def installed(directory: Path, package: str, marker: Path) -> None:
    """Install `package` (``name@range``) into `directory` unless `marker`, a file it
    brings, is there already."""
    target = trio.Path(marker)
    async with _installing:
        if not await target.exists():
            await trio.Path(directory).mkdir(parents=True, exist_ok=True)
            lock_path = trio.Path(directory.with_name(directory.name + ".lock"))
            async with await lock_path.open("w") as lock:
                # Blocking, so in a thread; released when the file closes.
                await trio.to_thread.run_sync(fcntl.flock, lock.fileno(), fcntl.LOCK_EX)
                if not await target.exists():  # another process may have installed it
                    await _install(directory, package)
            if not await target.exists():
                unavailable(package, f"npm install {package} did not finish in 300 s")


async def _install(directory: Path, package: str) -> None:
    npm = shutil.which("npm")
    if npm is None:
        unavailable(package, "npm is not installed (apt-get install npm)")
        return
    command = [npm, "install", "--prefix", str(directory), package, "--no-audit", "--no-fund"]
    with trio.move_on_after(300):
        done = await trio.run_process(
            command, capture_stdout=True, capture_stderr=True, check=False
        )
        if done.returncode != 0:
            unavailable(package, f"npm install {package} failed: {done.stderr.decode()[-500:]}")


def unavailable(package: str, reason: str) -> None:
    name = package.rpartition("@")[0] or package
    if in_ci():
        pytest.fail(f"{name} is needed (CI=true): {reason}")
    pytest.skip(f"{name} is not available: {reason}")
