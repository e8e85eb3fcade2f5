"""The browser client's dark theme: it follows the system's preference
(prefers-color-scheme), and the account screen's switch (as the system, light, dark)
overrides it, kept in the browser across a reload."""

from __future__ import annotations

from browser import DESKTOP, SQLITE_ONLY, in_browser, open_client
from playwright.sync_api import expect
from support import Server
from test_browser import _no_script_errors

pytestmark = SQLITE_ONLY  # tests/browser.py says why

#: The page's background (--page) in each theme, as the browser computes it.
LIGHT = "rgb(246, 247, 249)"
DARK = "rgb(18, 22, 27)"


def _background(page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


async def test_the_dark_theme_follows_the_systems_preference(server: Server) -> None:
    def scenario(browser):
        dark = open_client(browser, server.http, screen={**DESKTOP, "color_scheme": "dark"})
        light = open_client(browser, server.http, screen={**DESKTOP, "color_scheme": "light"})
        dark.register("alice")
        light.register("bob")
        assert _background(dark.page) == DARK
        assert _background(light.page) == LIGHT
        # The message text too: light on dark.
        dark.say("in the dark")
        dark.wait_for_message("in the dark")
        colour = dark.page.locator("#messages .text").first.evaluate(
            "(e) => getComputedStyle(e).color"
        )
        assert colour == "rgb(228, 231, 236)"
        light.page.emulate_media(color_scheme="dark")  # the system changes its mind
        expect(light.page.locator("body")).to_have_css("background-color", DARK)
        _no_script_errors(dark, light)

    await in_browser(scenario)


async def test_the_theme_chosen_in_the_account_screen_stays_after_a_reload(
    server: Server,
) -> None:
    def scenario(browser):
        alice = open_client(browser, server.http, screen={**DESKTOP, "color_scheme": "light"})
        alice.register("alice")
        page = alice.page
        page.get_by_role("button", name="Account").click()
        switch = page.get_by_role("group", name="Theme")
        expect(switch.get_by_role("radio", name="As the system")).to_be_checked()
        switch.get_by_role("radio", name="Dark").check()
        expect(page.locator("body")).to_have_css("background-color", DARK)
        page.reload()
        alice.wait_online()
        assert _background(page) == DARK
        page.get_by_role("button", name="Account").click()
        expect(switch.get_by_role("radio", name="Dark")).to_be_checked()
        # Light, on a system that prefers dark.
        page.emulate_media(color_scheme="dark")
        switch.get_by_role("radio", name="Light").check()
        expect(page.locator("body")).to_have_css("background-color", LIGHT)
        switch.get_by_role("radio", name="As the system").check()
        expect(page.locator("body")).to_have_css("background-color", DARK)
        page.reload()
        alice.wait_online()
        assert _background(page) == DARK
        _no_script_errors(alice)

    await in_browser(scenario)
