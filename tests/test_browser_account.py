"""Your account in the browser: the Account dialog's "Download my data"
downloads the zip archive of GET /me/export. ("Delete account", and the rest of the
account screen: tests/test_browser_account_screens.py.)"""

from __future__ import annotations

import io
import json
import os
import zipfile

from browser import SQLITE_ONLY, WAIT_MS, in_browser, registered
from support import Server

pytestmark = SQLITE_ONLY  # tests/browser.py says why


def screenshot(page: object, name: str) -> None:
    directory = os.environ.get("CHAT_SCREENSHOT_DIR")
    if directory:
        page.screenshot(path=f"{directory}/{name}.png")  # type: ignore[attr-defined]


async def test_download_my_data_downloads_the_users_archive(server: Server) -> None:
    def scenario(browser):
        (alice,) = registered(browser, server.http, "alice")
        alice.say("hello, archive")
        alice.page.wait_for_selector(
            "#messages li:not(.unconfirmed) .text:text-is('hello, archive')", timeout=WAIT_MS
        )
        alice.page.click("#account")
        alice.page.wait_for_selector("#account-dialog[open]", timeout=WAIT_MS)
        screenshot(alice.page, "account-dialog")
        with alice.page.expect_download(timeout=WAIT_MS) as downloading:
            alice.page.click("#download-data")
        download = downloading.value
        with open(download.path(), "rb") as file:
            data = file.read()
        return download.suggested_filename, data, alice.errors

    name, data, errors = await in_browser(scenario)
    assert name.startswith("chat-data-") and name.endswith(".zip")
    archive = zipfile.ZipFile(io.BytesIO(data))
    messages = [json.loads(line) for line in archive.read("messages.jsonl").splitlines()]
    assert [m["Text"] for m in messages] == ["hello, archive"]
    assert json.loads(archive.read("profile.json"))["Username"] == "alice"
    assert errors == []
