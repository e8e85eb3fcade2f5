"""The browser's session: "Keep me signed in" keeps the page signed in
across tabs and browser restarts, a new tab never asks to log in again, logging out ends
the session, and no token is ever in a URL (the WebSocket is signed in by the cookie)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import trio
from browser import SQLITE_ONLY, WAIT_MS, Client, in_browser, open_client
from support import Server, account, server_config, start_server
from test_browser import serve_one_page, socket_probe_page

PASSWORD = "correct horse"


def log_in(client: Client, name: str, *, remember: bool) -> None:
    page = client.page
    page.fill("#login-form input[name=name]", name)
    page.fill("#login-form input[name=password]", PASSWORD)
    page.set_checked("#login-form input[name=remember]", remember)
    page.click("#login")
    client.wait_online()


def websocket_urls(client: Client) -> list[str]:
    return client.page.evaluate("window.__sockets")


#: Put in a page before its scripts: the URL of every WebSocket it opens.
_RECORD_SOCKETS = """
window.__sockets = [];
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(url, ...rest) { window.__sockets.push(String(url)); super(url, ...rest); }
};
"""


@SQLITE_ONLY  # tests/browser.py says why
async def test_keep_me_signed_in_survives_a_new_tab_and_a_browser_restart(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await account(server, "alice", PASSWORD)

    def scenario(browser):
        first = open_client(browser, server.http)
        first.page.context.add_init_script(_RECORD_SOCKETS)
        label = first.page.locator("#login-form label:has(input[name=remember])")
        assert label.text_content().strip() == "Keep me signed in"
        if os.environ.get("CHAT_SCREENSHOT_DIR"):
            first.page.screenshot(path=f"{os.environ['CHAT_SCREENSHOT_DIR']}/keep-signed-in.png")
        log_in(first, "alice", remember=True)
        assert first.page.evaluate("Object.keys(sessionStorage)") == []
        assert first.page.evaluate("Object.keys(localStorage)") == []
        assert first.page.evaluate("document.cookie") == ""  # HttpOnly: no script sees it

        # A second tab of the same browser: signed in, no login form.
        tab = first.page.context.new_page()
        tab.goto(server.http)
        tab.wait_for_selector("#connection[data-state=online]", timeout=WAIT_MS)
        assert tab.text_content("#whoami") == "alice"
        assert tab.is_hidden("#login-view")
        sockets = tab.evaluate("window.__sockets")
        assert sockets and all("token" not in url and url.endswith("/ws") for url in sockets)

        # The browser restarts: a new context with what the old one kept on disk.
        saved = first.page.context.storage_state()
        first.page.context.close()
        restarted = browser.new_context(storage_state=saved).new_page()
        restarted.goto(server.http)
        restarted.wait_for_selector("#connection[data-state=online]", timeout=WAIT_MS)
        assert restarted.text_content("#whoami") == "alice"
        if os.environ.get("CHAT_SCREENSHOT_DIR"):
            restarted.screenshot(path=f"{os.environ['CHAT_SCREENSHOT_DIR']}/signed-in-again.png")
        return [cookie["value"] for cookie in restarted.context.cookies()]

    cookies = await in_browser(scenario)
    # The server's log (its access lines included, with every field) holds no cookie and
    # no token (every JWT starts with "eyJ").
    assert cookies
    logged = "\n".join(str(vars(record)) for record in caplog.records)
    assert "WebSocket opened" in logged
    assert not [secret for secret in [*cookies, "eyJ"] if secret in logged]


@SQLITE_ONLY  # tests/browser.py says why
async def test_without_keep_me_signed_in_a_restart_asks_to_log_in(server: Server) -> None:
    await account(server, "alice", PASSWORD)

    def scenario(browser):
        client = open_client(browser, server.http)
        log_in(client, "alice", remember=False)
        # A new tab of the same browser is still signed in...
        tab = client.page.context.new_page()
        tab.goto(server.http)
        tab.wait_for_selector("#connection[data-state=online]", timeout=WAIT_MS)
        # ...but a browser-session cookie does not outlive the browser.
        saved = client.page.context.storage_state()
        assert all(cookie["expires"] == -1 for cookie in saved["cookies"])
        kept = {**saved, "cookies": [c for c in saved["cookies"] if c["expires"] != -1]}
        restarted = browser.new_context(storage_state=kept).new_page()
        restarted.goto(server.http)
        restarted.wait_for_selector("#login-view:not([hidden])", timeout=WAIT_MS)
        assert restarted.is_hidden("#chat-view")

    await in_browser(scenario)


@SQLITE_ONLY  # tests/browser.py says why
async def test_the_login_form_sends_nothing_before_the_pages_script_is_there(
    server: Server,
) -> None:
    # Until login.js has taken the form over, the browser would submit it its own way: a
    # GET of the page with the password in the address (history, proxies' logs).
    await account(server, "alice", PASSWORD)

    def scenario(browser):
        page = browser.new_context().new_page()
        page.route("**/static/app.js", lambda route: route.abort())
        addresses: list[str] = []
        page.on("request", lambda request: addresses.append(request.url))
        page.goto(server.http)
        page.fill("#login-form input[name=name]", "alice")
        page.fill("#login-form input[name=password]", PASSWORD)
        page.press("#login-form input[name=password]", "Enter")
        page.wait_for_timeout(300)  # a submission would have navigated by now
        return page.url, addresses, page.is_disabled("#login"), page.is_disabled("#register")

    url, addresses, login_disabled, register_disabled = await in_browser(scenario)
    assert login_disabled and register_disabled
    assert "?" not in url
    assert [address for address in addresses if "password" in address] == []


@SQLITE_ONLY  # tests/browser.py says why
async def test_logging_out_ends_the_session_in_every_tab(server: Server) -> None:
    await account(server, "alice", PASSWORD)

    def scenario(browser):
        client = open_client(browser, server.http)
        log_in(client, "alice", remember=True)
        client.page.click("#logout")
        client.page.wait_for_selector("#login-view:not([hidden])", timeout=WAIT_MS)
        tab = client.page.context.new_page()
        tab.goto(server.http)
        tab.wait_for_selector("#login-view:not([hidden])", timeout=WAIT_MS)
        tab.wait_for_timeout(500)  # the page's attempt to resume has answered
        assert tab.is_hidden("#chat-view")

    await in_browser(scenario)


@SQLITE_ONLY  # tests/browser.py says why
async def test_another_pages_socket_is_refused_though_the_browser_sends_the_cookie(
    nursery: trio.Nursery, server: Server
) -> None:
    """A page on another port of the same host is the same *site*: SameSite=Strict lets
    the browser send the cookie with its WebSocket. The Origin check refuses it."""
    await account(server, "victim", PASSWORD)
    page = socket_probe_page(f"ws://127.0.0.1:{server.port}/ws")
    attacker_port = await nursery.start(serve_one_page, page)

    def scenario(browser):
        victim = open_client(browser, server.http)
        log_in(victim, "victim", remember=True)
        attacker = victim.page.context.new_page()  # the same browser: the same cookies
        attacker.goto(f"http://127.0.0.1:{attacker_port}/")
        attacker.wait_for_function("() => document.title !== 'waiting'", timeout=WAIT_MS)
        assert attacker.title() == "closed 1006"  # the handshake was refused

    await in_browser(scenario)


async def test_a_token_that_expired_while_the_page_slept_is_renewed_on_the_way(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """Tokens last 2 s here, and the page plans its refresh for 5 s: a request made in
    between is refused (401), and the page renews its token and asks again."""
    server = await start_server(nursery, server_config(tmp_path, None, session_token_ttl=2))
    await account(server, "alice", PASSWORD)

    def scenario(browser):
        client = open_client(browser, server.http)
        log_in(client, "alice", remember=False)
        client.page.wait_for_timeout(3000)
        client.create_room("after-the-nap")
        assert client.page.is_visible("#chat-view")
        return [r for r in client.requests if r.startswith("POST ")]

    posts = await in_browser(scenario)
    assert posts.count("POST create-room") == 2  # refused, then made with the new token
    assert "POST session/refresh" in posts
