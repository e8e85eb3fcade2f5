"""The login form and the first things a page shows in the browser client: Enter
does what the chosen button says, registering asks for a new password and shows the
rule for it before it is broken, no connection badge before logging in, and private
rooms carry a lock."""

from __future__ import annotations

import os

from browser import SQLITE_ONLY, WAIT_MS, in_browser, open_client, registered
from support import Server

from chat.core.validation import MIN_PASSWORD_CHARS

pytestmark = SQLITE_ONLY  # tests/browser.py says why


async def test_enter_logs_in_until_register_is_chosen(server: Server) -> None:
    def scenario(browser):
        registered(browser, server.http, "alice")
        page = open_client(browser, server.http).page
        page.fill("#login-form input[name=name]", "alice")
        page.fill("#login-form input[name=password]", "password")
        page.press("#login-form input[name=password]", "Enter")
        page.wait_for_selector("#connection[data-state=online]", timeout=WAIT_MS)
        assert page.text_content("#whoami") == "alice"

    await in_browser(scenario)


async def test_once_register_was_chosen_enter_registers(server: Server) -> None:
    def scenario(browser):
        page = open_client(browser, server.http).page
        page.fill("#login-form input[name=name]", "newcomer")
        page.fill("#login-form input[name=password]", "short")
        page.click("#register")  # too short: refused, and the form stays in register mode
        page.wait_for_selector("#error:not([hidden])", timeout=WAIT_MS)
        page.fill("#login-form input[name=password]", "long enough now")
        page.press("#login-form input[name=password]", "Enter")
        page.wait_for_selector("#connection[data-state=online]", timeout=WAIT_MS)
        assert page.text_content("#whoami") == "newcomer"

    await in_browser(scenario)


async def test_choosing_register_asks_for_a_new_password_and_shows_its_rule(
    server: Server,
) -> None:
    def scenario(browser):
        page = open_client(browser, server.http).page
        password = "#login-form input[name=password]"
        assert page.get_attribute(password, "autocomplete") == "current-password"
        assert not page.is_visible("#password-hint")
        page.focus("#register")
        assert page.get_attribute(password, "autocomplete") == "new-password"
        assert page.is_visible("#password-hint")
        hint = page.text_content("#password-hint")
        assert f"at least {MIN_PASSWORD_CHARS} characters" in hint
        assert page.get_attribute(password, "aria-describedby") == "password-hint"
        if os.environ.get("CHAT_SCREENSHOT_DIR"):
            page.screenshot(path=f"{os.environ['CHAT_SCREENSHOT_DIR']}/registering.png")
        page.focus("#login")  # back to logging in
        assert page.get_attribute(password, "autocomplete") == "current-password"
        assert not page.is_visible("#password-hint")

    await in_browser(scenario)


async def test_no_connection_badge_shows_before_logging_in(server: Server) -> None:
    def scenario(browser):
        client = open_client(browser, server.http)
        assert not client.page.is_visible("#connection")
        client.register("alice")
        assert client.page.is_visible("#connection")
        assert client.page.text_content("#connection") == "online"

    await in_browser(scenario)


async def test_a_private_room_carries_a_lock_in_the_room_list(server: Server) -> None:
    def scenario(browser):
        (alice,) = registered(browser, server.http, "alice")
        page = alice.page
        for name, private in (("open-plan", False), ("back-office", True)):
            page.fill("#create-room-form input[name=name]", name)
            page.set_checked("#create-room-form input[name=private]", private)
            page.click("#create-room-form button[type=submit]")
            alice.wait_for_text("#rooms", name)
        locked = page.locator("#rooms button", has_text="back-office")
        assert locked.locator(".lock").get_attribute("aria-label") == "private"
        assert page.locator("#rooms button", has_text="open-plan").locator(".lock").count() == 0
        assert page.locator("#rooms button", has_text="lobby").locator(".lock").count() == 0
        if os.environ.get("CHAT_SCREENSHOT_DIR"):
            page.screenshot(path=f"{os.environ['CHAT_SCREENSHOT_DIR']}/private-room.png")

    await in_browser(scenario)


async def test_the_login_page_is_drawn_on_the_plain_page_colour(server: Server) -> None:
    # The page colour and the file icon once shared a custom property's name, and the
    # icon, tiled at full size, covered the background of every page.
    def scenario(browser):
        client = open_client(browser, server.http)
        client.page.wait_for_selector("#login-form", timeout=WAIT_MS)
        background = client.page.evaluate(
            "() => { const style = getComputedStyle(document.body);"
            " return [style.backgroundImage, style.backgroundColor]; }"
        )
        assert background == ["none", "rgb(246, 247, 249)"]
        client.screenshot("login-page")

    await in_browser(scenario)
