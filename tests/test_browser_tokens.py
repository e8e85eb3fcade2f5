"""Tokens and bots in the account screen (chat/static/tokens.js): a person makes a bot,
then a token for it that may send, shown once; a script posts with it and the room
shows the message with the bot's BOT badge; revoking the token in the page refuses it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from browser import WAIT_MS, Client, in_browser, open_client
from support import Server
from test_browser import _no_script_errors


def _call(server: Server, method: str, path: str, token: str, body: Any = None) -> int:
    request = urllib.request.Request(
        server.http + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


def _with_a_bot(browser: Any, server: Server, name: str, display: str = "") -> Client:
    """alice's page, registered, its account screen open, a bot of hers made there."""
    alice = open_client(browser, server.http)
    alice.register("alice")
    alice.page.click("#account")
    alice.page.wait_for_selector("#account-dialog[open]", timeout=WAIT_MS)
    bot_form = alice.page.locator("#bot-form")
    bot_form.get_by_label("Bot name").fill(name)
    bot_form.get_by_label("Display name").fill(display)
    bot_form.get_by_role("button", name="Make bot").click()
    return alice


async def test_a_bot_and_its_token_made_in_the_account_screen_post_and_are_revoked(
    server: Server,
) -> None:
    def scenario(browser: Any) -> None:
        from playwright.sync_api import expect

        alice = _with_a_bot(browser, server, "deploybot", "Deploys")
        expect(alice.page.locator("#bots li")).to_contain_text("Deploys (deploybot)")
        token_form = alice.page.locator("#token-form")
        token_form.get_by_label("Token name").fill("CI")
        token_form.get_by_label("For").select_option(label="deploybot (bot)")
        token_form.get_by_label("May also send and change").check()
        token_form.get_by_role("button", name="Make token").click()
        secret = alice.page.locator("#token-secret")
        expect(secret).to_contain_text("chat_pat_", timeout=WAIT_MS)
        token = secret.text_content() or ""
        expect(alice.page.locator("#tokens li")).to_contain_text(
            "for the bot deploybot: read, write"
        )
        alice.screenshot("account-tokens")
        assert _call(server, "POST", "/messages/1", token, {"Text": "deployed 2.0"}) == 201
        alice.page.click("#account-close")
        item = alice.page.locator("#messages li", has_text="deployed 2.0")
        expect(item.locator(".bot-badge")).to_have_text("BOT", timeout=WAIT_MS)
        alice.page.click("#account")
        alice.page.wait_for_selector("#account-dialog[open]", timeout=WAIT_MS)
        alice.page.get_by_role("button", name="Revoke the token CI").click()
        expect(alice.page.locator("#token-status")).to_contain_text("revoked", timeout=WAIT_MS)
        expect(alice.page.locator("#tokens li")).to_have_count(0)
        assert _call(server, "GET", "/tokens", token) == 401
        _no_script_errors(alice)

    await in_browser(scenario)


async def test_deleting_a_bot_in_the_account_screen_asks_first(server: Server) -> None:
    def scenario(browser: Any) -> None:
        from playwright.sync_api import expect

        alice = _with_a_bot(browser, server, "oncallbot")
        bots = alice.page.locator("#bots li")
        expect(bots).to_have_count(1, timeout=WAIT_MS)
        alice.page.get_by_role("button", name="Delete the bot oncallbot").click()
        alice.page.locator("#confirm-no").click()
        expect(bots).to_have_count(1)
        alice.page.get_by_role("button", name="Delete the bot oncallbot").click()
        alice.page.locator("#confirm-yes").click()
        expect(bots).to_have_count(0, timeout=WAIT_MS)
        expect(alice.page.locator("#bot-status")).to_contain_text("deleted")
        _no_script_errors(alice)

    await in_browser(scenario)
