"""Single sign-on in the browser: "Sign in with <Name>" on the login view, the sign-in at
a real OpenID Provider (oidc-provider, tests/oidc.py), and the chat; a failed sign-in's
reason on the login view; the password form gone with single sign-on only."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from axe import axe_source, violations_in_both_themes
from browser import SQLITE_ONLY, WAIT_MS, in_browser, open_client
from oidc import Provider, running_provider
from support import Server, start_server

from chat.core.config import Config

pytestmark = SQLITE_ONLY  # tests/browser.py says why


@pytest.fixture
async def provider(tmp_path: Path) -> AsyncIterator[Provider]:
    async with running_provider(tmp_path) as running:
        yield running


def _screenshot(page, name: str) -> None:
    if os.environ.get("CHAT_SCREENSHOT_DIR"):
        page.screenshot(path=f"{os.environ['CHAT_SCREENSHOT_DIR']}/{name}.png")


def _sign_in_at_provider(page, login: str) -> None:
    """The provider's own login form (oidc-provider's development one)."""
    page.wait_for_selector("input[name=login]", timeout=WAIT_MS)
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "anything")
    page.click("button[type=submit]")


async def _sso_server(
    nursery: trio.Nursery, config: Config, provider: Provider, **changes
) -> Server:
    setting = json.dumps([provider.setting()])
    return await start_server(nursery, config.replace(oidc_providers=setting, **changes))


async def test_sign_in_with_a_provider_lands_in_the_chat(
    nursery: trio.Nursery, config: Config, provider: Provider
) -> None:
    server = await _sso_server(nursery, config, provider)
    source = await axe_source()

    # The chat as localhost, the provider as 127.0.0.1: two sites, as in production, so
    # the cookies' SameSite rules are those a real sign-in meets.
    chat = f"http://localhost:{server.port}"

    def scenario(browser):
        client = open_client(browser, chat)
        page = client.page
        page.wait_for_selector("#sso a:text('Sign in with Test')", timeout=WAIT_MS)
        _screenshot(page, "sso-login-view")
        assert violations_in_both_themes(client, source) == {"light": [], "dark": []}
        page.click("#sso a:text('Sign in with Test')")
        _sign_in_at_provider(page, "alice")
        page.wait_for_url(f"{chat}/**", timeout=WAIT_MS)
        client.errors.clear()  # the provider's page's (its favicon, its fonts): not ours
        page.wait_for_selector("#connection[data-state=online]", timeout=WAIT_MS)
        assert page.text_content("#whoami") == "alice"
        _screenshot(page, "sso-signed-in")
        assert client.errors == []

    await in_browser(scenario)


async def test_a_failed_sign_in_shows_its_reason_on_the_login_view(
    nursery: trio.Nursery, config: Config, provider: Provider
) -> None:
    server = await _sso_server(nursery, config, provider)
    await provider.next_id_token(aud="another-client")

    def scenario(browser):
        page = open_client(browser, server.http).page
        page.click("#sso a:text('Sign in with Test')")
        _sign_in_at_provider(page, "bob")
        page.wait_for_selector("#error:not([hidden])", timeout=WAIT_MS)
        error = page.text_content("#error")
        assert "Sign-in with Test failed" in error and "audience" in error
        assert page.is_visible("#login-view")
        _screenshot(page, "sso-failed")
        # Shown once: the reason's cookie is gone.
        assert "chat_sso_error" not in page.evaluate("document.cookie")

    await in_browser(scenario)


async def test_with_single_sign_on_only_the_password_form_is_gone(
    nursery: trio.Nursery, config: Config, provider: Provider
) -> None:
    server = await _sso_server(nursery, config, provider, sso_only=True)
    source = await axe_source()

    def scenario(browser):
        client = open_client(browser, server.http)
        page = client.page
        page.wait_for_selector("#sso a:text('Sign in with Test')", timeout=WAIT_MS)
        assert not page.is_visible("#login-form input[name=password]")
        assert not page.is_visible("#register")
        _screenshot(page, "sso-only")
        assert violations_in_both_themes(client, source) == {"light": [], "dark": []}

    await in_browser(scenario)
