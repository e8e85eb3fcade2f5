"""Statuses in the browser client (chat/static/status.js), its two people on different
instances of one chat (tests/cluster.py): a status set in one's account screen shows
beside their name on the other's page (the people panel, their messages' authors, with
its words in the tooltip) and goes when it is cleared, live; the status form passes axe
in both themes, and so does the page that shows it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from axe import axe_source, violations_in_both_themes
from browser import WAIT_MS, in_browser
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


async def test_a_status_set_on_one_instance_shows_beside_the_name_on_the_others_page(
    pair: list[Instance],
) -> None:
    a, b = pair
    source = await axe_source()

    def scenario(browser):
        from playwright.sync_api import expect

        alice, bob = _person_on(browser, a, "alice"), _person_on(browser, b, "bob")
        bob.wait_for_text("#here li", "alice")
        alice.say("before the holiday")
        bob.wait_for_message("before the holiday")
        open_account(alice)
        form = alice.page.locator("#status-form")
        form.locator("input[name=emoji]").fill(":palm_tree:")
        form.locator("input[name=text]").fill("On holiday")
        form.locator("select[name=presence]").select_option("dnd")
        form.locator("select[name=until]").select_option("240")
        form.locator("button[type=submit]").click()
        alice.wait_for_text("#status-said", "Status set: 🌴 On holiday, do not disturb")
        found = violations_in_both_themes(alice, source, "status-form")
        alice.page.click("#account-close")
        # On bob's page, on the other instance: in the people panel...
        person = bob.page.locator("#here li").filter(has_text="alice")
        expect(person).to_have_attribute("data-away", "do not disturb", timeout=WAIT_MS)
        badge = person.locator(".status-badge")
        expect(badge).to_have_text("🌴", timeout=WAIT_MS)
        tooltip = badge.get_attribute("title") or ""
        # ...and on her message, the one before included.
        author = bob.page.locator("#messages li[data-id]").filter(has_text="before the holiday")
        expect(author.locator(".name .status-badge")).to_have_text("🌴", timeout=WAIT_MS)
        seen = violations_in_both_themes(bob, source, "status-seen")
        # Alice's own page shows hers beside her name.
        expect(alice.page.locator("#my-status .status-badge")).to_have_text("🌴")
        # Cleared: gone from bob's page at once, no reload.
        open_account(alice)
        expect(form.locator("input[name=emoji]")).to_have_value("🌴")  # hers, to change
        expect(form.locator("select[name=presence]")).to_have_value("dnd")
        alice.page.click("#status-clear")
        alice.wait_for_text("#status-said", "Status cleared.")
        expect(person.locator(".status-badge")).to_have_count(0, timeout=WAIT_MS)
        expect(author.locator(".status-badge")).to_have_count(0, timeout=WAIT_MS)
        expect(person).not_to_have_attribute("data-away", "do not disturb")
        _no_script_errors(alice, bob)
        return found, seen, tooltip

    found, seen, tooltip = await in_browser(scenario)
    assert found == {"light": [], "dark": []}
    assert seen == {"light": [], "dark": []}
    assert tooltip.startswith("🌴 On holiday, do not disturb, until ")
