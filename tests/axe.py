"""axe-core, the accessibility checker, run inside the test's Chromium pages.

axe-core comes from npm at test time (`npm install axe-core@4` into a cache directory
outside the repository, once): nothing of it is committed. `CHAT_TEST_AXE_DIR` names
the directory (default: ~/.cache/chat-tests/axe). Without npm, or when the install
fails, the tests that need it skip, or fail with CI=true (as without Chromium).
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import trio
from support import in_ci

AXE_DIR = Path(os.environ.get("CHAT_TEST_AXE_DIR", Path.home() / ".cache/chat-tests/axe"))
AXE_SCRIPT = AXE_DIR / "node_modules/axe-core/axe.min.js"
#: One install at a time, whichever test asks first: in this process (the lock) and
#: across processes (pytest-xdist's workers: a lock file beside the directory).
_installing = trio.Lock()


async def axe_source() -> str:
    """axe-core's script, installed from npm first if it is not there yet."""
    script = trio.Path(AXE_SCRIPT)
    async with _installing:
        if not await script.exists():
            await trio.Path(AXE_DIR).mkdir(parents=True, exist_ok=True)
            lock_path = trio.Path(AXE_DIR.with_name(AXE_DIR.name + ".lock"))
            async with await lock_path.open("w") as lock:
                # Blocking, so in a thread; released when the file closes.
                await trio.to_thread.run_sync(fcntl.flock, lock.fileno(), fcntl.LOCK_EX)
                if not await script.exists():  # another process may have installed it
                    await _install()
            if not await script.exists():
                _unavailable("npm install axe-core@4 did not finish in 300 s")
    return await script.read_text()


async def _install() -> None:
    npm = shutil.which("npm")
    if npm is None:
        _unavailable("npm is not installed (apt-get install npm)")
        return
    command = [npm, "install", "--prefix", str(AXE_DIR), "axe-core@4", "--no-audit", "--no-fund"]
    with trio.move_on_after(300):
        done = await trio.run_process(
            command, capture_stdout=True, capture_stderr=True, check=False
        )
        if done.returncode != 0:
            _unavailable(f"npm install axe-core@4 failed: {done.stderr.decode()[-500:]}")


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"axe-core is needed (CI=true): {reason}")
    pytest.skip(f"axe-core is not available: {reason}")


def violations(page: Any, source: str) -> list[str]:
    """What axe-core finds wrong with `page` as it is now, every rule on (a line per
    rule: its id, what it checks, and the elements that break it)."""
    # Evaluated through the DevTools protocol: the page's Content-Security-Policy, which
    # allows no inline script, does not apply to it.
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(source)
    found = page.evaluate(
        """async () => (await axe.run(document, { resultTypes: ["violations"] })).violations
            .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target).join(", ")})`)"""
    )
    return list(found)


def violations_in_both_themes(client: Any, source: str, screenshot: str | None = None) -> dict:
    """`violations` with the page in its light theme, then in its dark one (the
    system's preference, emulated), keyed "light" and "dark"; each theme saved as
    `screenshot`-light/-dark.png (`Client.screenshot`), if named. The page is left light."""
    found = {}
    for scheme in ("dark", "light"):
        client.page.emulate_media(color_scheme=scheme)
        found[scheme] = violations(client.page, source)
        if screenshot is not None:
            client.screenshot(f"{screenshot}-{scheme}")
    return found
