"""Archiving and deleting a room in the browser client (chat/static/room-ends.js,
room-settings.js, moderation.js): the owner archives "ops" from its settings and the
member's page shows it read-only (the banner, the composer closed, a send impossible);
the owner unarchives it; deleting asks for the room's name typed, and once typed the
room disappears from both pages.

The owner's page and the member's are on two instances of one chat on PostgreSQL, and
again both on one SQLite server (test_browser_moderation's `places`)."""

from __future__ import annotations

from axe import axe_source, violations_in_both_themes
from browser import Client, in_browser
from support import Server
from test_browser import _no_script_errors
from test_browser_moderation import Ops, _pages, _wait_gone_to_the_lobby, expect, ops, places

__all__ = ["ops", "places"]  # the fixtures, shared with test_browser_moderation.py

#: What axe-core finds wrong in each theme: nothing.
NONE = {"light": [], "dark": []}


def _open_settings(client: Client) -> None:
    client.page.click("#room-settings")
    expect(client.page.locator("#settings-dialog")).to_be_visible()


async def test_an_owner_archives_a_room_and_the_member_can_only_read_it(
    places: tuple[Server, Server], ops: Ops
) -> None:
    source = await axe_source()

    def scenario(browser):
        alice, bob = _pages(browser, places, ops, "alice", "bob")
        bob.say("before the archive")
        alice.wait_for_message("before the archive")
        _open_settings(alice)
        expect(alice.page.locator("#room-ends-section")).to_be_visible()
        alice.page.click("#archive-room")
        expect(alice.page.locator("#settings-dialog")).to_be_hidden()
        # The member's page hears of it (the room frame, from the other instance).
        expect(bob.page.locator("#archived-banner")).to_be_visible()
        for control in ("#composer", "#attach", "#emoji-button", "#thread-composer"):
            expect(bob.page.locator(control)).to_be_disabled()
        expect(bob.page.locator("#composer-status")).to_have_text(
            "This room is archived: you can read it, not write in it."
        )
        assert bob.message_texts()[-1] == "before the archive"
        # Nothing axe-core finds wrong, in either theme (each saved as a screenshot).
        assert violations_in_both_themes(bob, source, "room-archived-member") == NONE
        # The owner's page too; and Unarchive opens it again.
        expect(alice.page.locator("#archived-banner")).to_be_visible()
        _open_settings(alice)
        expect(alice.page.locator("#archive-room")).to_have_text("Unarchive room")
        alice.page.locator("#room-ends-section").scroll_into_view_if_needed()
        assert violations_in_both_themes(alice, source, "room-ends-settings") == NONE
        alice.page.click("#archive-room")
        expect(bob.page.locator("#archived-banner")).to_be_hidden()
        for control in ("#composer", "#attach", "#emoji-button", "#thread-composer"):
            expect(bob.page.locator(control)).to_be_enabled()
        bob.say("open again")
        alice.wait_for_message("open again")
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_an_owner_deletes_a_room_once_its_name_is_typed_and_it_disappears(
    places: tuple[Server, Server], ops: Ops
) -> None:
    def scenario(browser):
        alice, bob = _pages(browser, places, ops, "alice", "bob")
        _open_settings(alice)
        form = alice.page.locator("#delete-room-form")
        form.locator("input[name=confirm]").fill("opz")
        form.get_by_role("button", name="Delete room").click()
        expect(alice.page.locator("#room-ends-error")).to_have_text(
            "Type the room's name, ops, exactly: nothing was deleted."
        )
        expect(bob.page.locator("#rooms button", has_text="ops")).to_have_count(1)
        form.locator("input[name=confirm]").fill("ops")
        form.get_by_role("button", name="Delete room").click()
        _wait_gone_to_the_lobby(bob, "ops was deleted by its owners.")
        _wait_gone_to_the_lobby(alice, "ops was deleted by its owners.")
        bob.screenshot("room-deleted-member")
        _no_script_errors(alice, bob)

    await in_browser(scenario)
