"""Your account in the browser (issue 26, item 3): the Account dialog's "Download my data"
downloads the zip archive of GET /me/export, and "Delete account" asks for the password,
says what is kept, erases the account and returns to the login page."""

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


async def test_delete_account_asks_for_the_password_and_returns_to_the_login_page(
    server: Server,
) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.say("soon deleted")
        bob.page.wait_for_selector("#messages .text:text-is('soon deleted')", timeout=WAIT_MS)
        page = alice.page
        page.click("#account")
        explained = page.text_content("#delete-explained")
        page.fill("#delete-account-form input[name=password]", "not my password")
        page.click("#delete-account-form button[type=submit]")
        page.wait_for_selector("#delete-account-error:not([hidden])", timeout=WAIT_MS)
        refused = page.text_content("#delete-account-error")
        screenshot(page, "delete-account-refused")
        page.fill("#delete-account-form input[name=password]", "password")
        page.click("#delete-account-form button[type=submit]")
        page.wait_for_selector("#login-view:not([hidden])", timeout=WAIT_MS)
        page.wait_for_selector("#error:not([hidden])", timeout=WAIT_MS)
        notice = page.text_content("#error")
        screenshot(page, "account-deleted")
        # bob's page, connected all along, shows the message deleted.
        bob.page.wait_for_selector(
            "#messages .text:text-is('soon deleted')", state="detached", timeout=WAIT_MS
        )
        return explained, refused, notice, alice.errors, bob.errors

    explained, refused, notice, alice_errors, bob_errors = await in_browser(scenario)
    assert "What others wrote to you stays" in " ".join(explained.split())
    assert "30 days" in explained
    assert refused == "That is not your password: nothing was deleted."
    assert notice == "Your account was deleted."
    # The refused password is a 401 the page handled; the console says so, nothing else.
    assert [e for e in alice_errors if "401" not in e] == []
    assert bob_errors == []
