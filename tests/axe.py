"""axe-core, the accessibility checker, run inside the test's Chromium pages.

axe-core comes from npm at test time (`npm install axe-core@4` into a cache directory
outside the repository, once): nothing of it is committed. `CHAT_TEST_AXE_DIR` names
the directory (default: ~/.cache/chat-tests/axe). Without npm, or when the install
fails, the tests that need it skip, or fail with CI=true (as without Chromium).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import trio
from npm_packages import installed

AXE_DIR = Path(os.environ.get("CHAT_TEST_AXE_DIR", Path.home() / ".cache/chat-tests/axe"))
AXE_SCRIPT = AXE_DIR / "node_modules/axe-core/axe.min.js"


async def axe_source() -> str:
    """axe-core's script, installed from npm first if it is not there yet."""
    await installed(AXE_DIR, "axe-core@4", AXE_SCRIPT)
    return await trio.Path(AXE_SCRIPT).read_text()


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
