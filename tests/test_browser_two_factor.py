"""Two-factor authentication in the browser (chat/static/two-factor.js, login.js): a
person turns it on in the account screen (the QR code and its key, a first code from the
app, the recovery codes shown once), logs out, and the login form then asks for the
code; a recovery code logs in once; a server that requires it lets the page do nothing
but turn it on, then opens the chat. axe-core finds nothing wrong with the enrolment, the
recovery codes or the login form asking for the code, in either theme."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pyotp
import trio
from axe import axe_source, violations_in_both_themes
from browser import SQLITE_ONLY, WAIT_MS, Client, in_browser, open_client
from support import PASSWORD, Server, account, server_config, start_server
from test_browser import _no_script_errors
from test_browser_accessibility import NONE
from test_two_factor import enrol

pytestmark = SQLITE_ONLY  # tests/browser.py says why


def _log_out(client: Client) -> None:
    client.page.click("#logout")
    client.page.wait_for_selector("#login-view:not([hidden])", timeout=WAIT_MS)


def _login_code(page: Any) -> Any:
    """The login form's code field (the account screen has fields of that name too)."""
    return page.locator("#login-form").get_by_label("Code from your authenticator app")


def _without_refusals(client: Client) -> Client:
    """`client`, its expected refusals (the 401s that ask for a code) forgotten."""
    client.errors[:] = [e for e in client.errors if "401" not in e]
    return client


async def test_turning_it_on_in_the_account_screen_makes_the_login_ask_for_a_code(
    server: Server,
) -> None:
    source = await axe_source()

    def scenario(browser: Any) -> None:
        from playwright.sync_api import expect

        alice = open_client(browser, server.http)
        alice.register("alice")
        page = alice.page
        page.click("#account")
        page.wait_for_selector("#account-dialog[open]", timeout=WAIT_MS)
        expect(page.locator("#two-factor-state")).to_contain_text("Off", timeout=WAIT_MS)
        page.get_by_role("button", name="Turn on two-factor authentication").click()
        secret_shown = page.locator("#two-factor-secret")
        expect(secret_shown).not_to_be_empty(timeout=WAIT_MS)
        qr = page.locator("#two-factor-qr")
        expect(qr).to_have_attribute("src", re.compile(r"^data:image/svg\+xml"))
        page.wait_for_function(
            "() => document.querySelector('#two-factor-qr').naturalWidth > 0", timeout=WAIT_MS
        )
        secret = secret_shown.text_content() or ""
        enrol_form = page.locator("#two-factor-enrol")
        enrol_form.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
        enrol_form.scroll_into_view_if_needed()
        assert violations_in_both_themes(alice, source) == NONE
        alice.screenshot_in_both_themes("two-factor-enrol")
        enrol_form.get_by_role("button", name="Confirm and turn on").click()
        codes = page.locator("#two-factor-code-list li")
        expect(codes).to_have_count(10, timeout=WAIT_MS)
        expect(page.locator("#two-factor-state")).to_contain_text("On")
        page.locator("#two-factor-codes").scroll_into_view_if_needed()
        assert violations_in_both_themes(alice, source) == NONE
        alice.screenshot_in_both_themes("two-factor-codes")
        page.click("#account-close")
        _log_out(alice)
        alice.fill_and_click("alice", "password", "#login")
        code_field = _login_code(page)
        expect(code_field).to_be_visible(timeout=WAIT_MS)
        expect(code_field).to_be_focused()
        assert page.locator("#chat-view").is_hidden()
        assert violations_in_both_themes(alice, source) == NONE
        alice.screenshot_in_both_themes("two-factor-login")
        code_field.fill(pyotp.TOTP(secret).at(time.time() + 30))  # not the confirming one
        page.click("#login")
        alice.wait_online()
        _no_script_errors(_without_refusals(alice))

    await in_browser(scenario)


async def test_a_recovery_code_logs_in_once(server: Server) -> None:
    alice_account = await account(server, "alice")
    _, recovery_codes = await enrol(server, alice_account)

    def scenario(browser: Any) -> None:
        from playwright.sync_api import expect

        alice = open_client(browser, server.http)
        page = alice.page
        for attempt in ("first", "again"):
            alice.fill_and_click("alice", PASSWORD, "#login")
            code_field = _login_code(page)
            expect(code_field).to_be_visible(timeout=WAIT_MS)
            code_field.fill(recovery_codes[0])
            page.click("#login")
            if attempt == "first":
                alice.wait_online()
                _log_out(alice)
        expect(page.locator("#error")).to_contain_text("wrong or was used", timeout=WAIT_MS)
        assert page.locator("#chat-view").is_hidden()
        _no_script_errors(_without_refusals(alice))

    await in_browser(scenario)


async def test_when_the_server_requires_it_the_page_asks_to_turn_it_on_first(
    nursery: trio.Nursery, tmp_path: Path, database_url: str | None
) -> None:
    config = server_config(tmp_path, database_url, require_2fa=True)
    server = await start_server(nursery, config)

    def scenario(browser: Any) -> None:
        from playwright.sync_api import expect

        alice = open_client(browser, server.http)
        alice.fill_and_click("alice", "password", "#register")
        page = alice.page
        page.wait_for_selector("#account-dialog[open]", timeout=WAIT_MS)
        expect(page.locator("#error")).to_contain_text("requires two-factor authentication")
        assert page.locator("#chat-view").is_hidden()
        page.get_by_role("button", name="Turn on two-factor authentication").click()
        secret_shown = page.locator("#two-factor-secret")
        expect(secret_shown).not_to_be_empty(timeout=WAIT_MS)
        code = pyotp.TOTP(secret_shown.text_content() or "").now()
        page.locator("#two-factor-enrol").get_by_label("Code from the app").fill(code)
        page.get_by_role("button", name="Confirm and turn on").click()
        expect(page.locator("#two-factor-code-list li")).to_have_count(10, timeout=WAIT_MS)
        page.click("#account-close")
        alice.wait_online()  # the page reloaded, and the chat opened

    await in_browser(scenario)
