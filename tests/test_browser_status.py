"""Do not disturb in the browser client (chat/static/status.js, attention.js): while your
status says "dnd", a hidden tab shows no desktop notification, even of a mention; once it
is cleared, it does again. Real headless Chromium pages against a real server."""

from __future__ import annotations

from browser import SQLITE_ONLY, in_browser, registered
from support import Server
from test_browser import _no_script_errors
from test_browser_account_screens import open_account
from test_browser_attention import _HIDEABLE, _until

pytestmark = SQLITE_ONLY  # tests/browser.py says why


async def test_do_not_disturb_holds_desktop_notifications_until_it_is_cleared(
    server: Server,
) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        bob.page.context.grant_permissions(["notifications"])
        bob.page.add_init_script(_HIDEABLE)
        bob.page.reload()
        bob.wait_online()
        open_account(bob)
        bob.page.locator("#status-form select[name=presence]").select_option("dnd")
        bob.page.click("#status-form button[type=submit]")
        bob.wait_for_text("#status-said", "do not disturb")
        bob.page.click("#account-close")
        bob.page.evaluate("window.__hidden = true")
        alice.say("@bob are you there?")
        bob.wait_for_message("@bob are you there?")
        bob.page.wait_for_timeout(300)  # a notification would have been made by now
        held = bob.page.evaluate("window.__notified.length")
        open_account(bob)
        bob.page.click("#status-clear")
        bob.wait_for_text("#status-said", "Status cleared.")
        bob.page.click("#account-close")
        alice.say("@bob now?")
        _until(bob, lambda: bob.page.evaluate("window.__notified.length") == 1)
        shown = bob.page.evaluate("window.__notified.map(({body}) => body)")
        _no_script_errors(alice, bob)
        return held, shown

    held, shown = await in_browser(scenario)
    assert held == 0
    assert shown == ["@bob now?"]
