"""The account screen with its people on different instances of one chat (tests/cluster.py):
a display name set through one instance is on the messages the other instance's page
shows, and a browser logged out from a page on one instance is signed out on the other."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from browser import WAIT_MS, in_browser, open_client
from cluster import Instance, open_cluster
from support import throwaway_postgres_schema
from test_browser import _no_script_errors
from test_browser_account_screens import open_account
from test_browser_cluster import _person_on


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[list[Instance]]:
    """Two instances of one chat on PostgreSQL (its LISTEN/NOTIFY bus)."""
    async with (
        throwaway_postgres_schema() as url,
        open_cluster(tmp_path, url, 2) as instances,
    ):
        yield instances


async def test_a_display_name_set_on_one_instance_shows_on_the_others_page(
    pair: list[Instance],
) -> None:
    a, b = pair

    def scenario(browser):
        alice, bob = _person_on(browser, a, "alice"), _person_on(browser, b, "bob")
        open_account(alice)
        alice.page.fill("#profile-form input[name=display]", "Alice Liddell")
        alice.page.click("#profile-form button[type=submit]")
        alice.wait_for_text("#profile-status", "Alice Liddell")
        alice.page.click("#account-close")
        alice.say("hello across")
        bob.wait_for_message("hello across")
        row = bob.page.locator("#messages li[data-id]").filter(has_text="hello across")
        shown = row.locator(".name").inner_text()
        login = row.locator(".login-name").inner_text()
        _no_script_errors(alice, bob)
        return shown, login

    shown, login = await in_browser(scenario)
    assert shown.startswith("Alice Liddell") and login == "alice"


async def test_a_browser_logged_out_from_one_instance_is_signed_out_on_the_other(
    pair: list[Instance],
) -> None:
    a, b = pair

    def scenario(browser):
        desk = _person_on(browser, a, "alice")
        laptop = open_client(browser, b.server.http)
        laptop.log_in("alice")
        open_account(desk)
        others = desk.page.locator("#sessions li").filter(has=desk.page.locator("button"))
        others.first.wait_for(timeout=WAIT_MS)
        others.first.get_by_role("button").click()
        # The page reloads to sign out: wait for the notice the reloaded page shows, not
        # for the login view (visible from the first paint, before the notice is put in).
        laptop.wait_for_text("#error", "Your session has ended")
        return laptop.page.text_content("#error")

    assert await in_browser(scenario) == "Your session has ended: log in again."
