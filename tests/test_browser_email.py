"""E-mail in the browser, against a real SMTP server: Forgot password? mails a link, the
link opens a page that sets a new password (the old one then fails, the new one logs
in); the account screen shows the address and verifies it by the link's page."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import SQLITE_ONLY, WAIT_MS, in_browser, open_client
from mail_server import Inbox, link_url, smtp_server
from support import Server, account, server_config
from test_email_digest import _verified

from chat.core.config import Config

pytestmark = SQLITE_ONLY  # tests/browser.py says why


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with smtp_server() as running:
        yield running


@pytest.fixture
def config(tmp_path: Path, database_url: str | None, inbox: Inbox) -> Config:
    return server_config(tmp_path, database_url, smtp_url=inbox.url)


def _mail_link(inbox: Inbox, to: str, seen: int) -> str:
    """The link of the mail to `to` after the first `seen` (waited for, off Trio)."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        mails = inbox.to(to)
        if len(mails) > seen:
            return link_url(mails[seen])
        time.sleep(0.05)
    raise AssertionError(f"no mail to {to}")


def _shot(page: object, name: str) -> None:
    if directory := os.environ.get("CHAT_SCREENSHOT_DIR"):
        page.screenshot(path=f"{directory}/{name}.png")  # type: ignore[attr-defined]


async def test_forgot_password_mails_a_link_that_sets_a_new_password(
    server: Server, inbox: Inbox
) -> None:
    alice = await account(server, "alice")
    await _verified(server, inbox, alice)

    def scenario(browser):
        page = open_client(browser, server.http).page
        page.click("#forgot-open")
        page.fill("#forgot-form input[name=email]", alice.email)
        page.click("#forgot-form button[type=submit]")
        page.wait_for_selector("#forgot-status:has-text('on its way')", timeout=WAIT_MS)
        _shot(page, "email-forgot")
        link = _mail_link(inbox, alice.email, seen=1)
        opened = open_client(browser, link)
        reset = opened.page
        reset.wait_for_selector("#reset-view:not([hidden])", timeout=WAIT_MS)
        assert "reset-password" not in reset.url  # the token left the address
        reset.fill("#reset-form input[name=new]", "a brand new one")
        reset.fill("#reset-form input[name=again]", "a brand new one")
        _shot(reset, "email-reset")
        reset.click("#reset-form button[type=submit]")
        reset.wait_for_selector("#login-view:not([hidden])", timeout=WAIT_MS)
        assert reset.input_value("#login-form input[name=name]") == "alice"
        reset.fill("#login-form input[name=password]", "a brand new one")
        reset.click("#login")
        reset.wait_for_selector("#connection[data-state=online]", timeout=WAIT_MS)
        assert reset.text_content("#whoami") == "alice"
        assert opened.errors == []

    await in_browser(scenario)


async def test_the_account_screen_sends_a_link_whose_page_verifies_the_address(
    server: Server, inbox: Inbox
) -> None:
    def scenario(browser):
        client = open_client(browser, server.http)
        client.register("alice")
        page = client.page
        page.click("#account")
        page.wait_for_selector("#email-form:not([hidden])", timeout=WAIT_MS)
        page.fill("#email-form input[name=email]", "alice@example.org")
        page.click("#email-form button[type=submit]")
        page.wait_for_selector("#email-status:has-text('on its way')", timeout=WAIT_MS)
        _shot(page, "email-account")
        link = _mail_link(inbox, "alice@example.org", seen=0)
        confirm = open_client(browser, link).page
        confirm.wait_for_selector("#verify-view:not([hidden])", timeout=WAIT_MS)
        confirm.click("#verify-confirm")
        confirm.wait_for_selector("#verify-status:has-text('is verified')", timeout=WAIT_MS)
        page.click("#account-close")
        page.click("#account")
        page.wait_for_selector("#email-state:has-text('verified.')", timeout=WAIT_MS)
        assert "alice@example.org: verified." in page.text_content("#email-state")
        assert page.is_checked("#email-form input[name=digest]")

    await in_browser(scenario)
