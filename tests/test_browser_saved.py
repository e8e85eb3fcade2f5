"""Saved messages in the browser client (chat/static/saved.js): "Save" among a message's
actions (and in a phone's "⋯" menu), "Saved messages" in the account screen listing them
(newest saved first; one deleted by its author drops out), a saved message opening in
its room in context, and the user's other browser marking what one saved or unsaved."""

from __future__ import annotations

from typing import Any

import httpx
from axe import axe_source, violations_in_both_themes
from browser import PHONE, WAIT_MS, Client, in_browser, open_client
from support import PASSWORD, TLS, Account, Server, account, create_room, http_client
from test_browser import _no_script_errors

KEPT = "the deploy checklist lives in the wiki"
DELETED = "the old password is hunter2"
FILLER = 30


async def _post(server: Server, user: Account, room_id: int, text: str) -> int:
    async with http_client(server) as client:
        response = await client.post(f"/messages/{room_id}", json={"Text": text}, headers=user.auth)
    assert response.status_code == 201, response.text
    return int(response.json()["MessageID"])


async def _room_with_bobs_messages(server: Server) -> tuple[Account, int, int]:
    """alice and bob in "ops", where bob said KEPT and DELETED, then FILLER more (so
    that KEPT is off the first page's view); bob, the room, DELETED's id."""
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "ops", bob)
    await _post(server, bob, room_id, KEPT)
    deleted = await _post(server, bob, room_id, DELETED)
    for n in range(FILLER):
        await _post(server, alice, room_id, f"ops {n}")
    assert alice.uid
    return bob, room_id, deleted


def _in_ops(browser: Any, server: Server, room_id: int, **screen: Any) -> Client:
    client = open_client(browser, f"{server.http}/#/room/{room_id}", **screen)
    client.log_in("alice", PASSWORD)
    client.wait_for_room("ops")
    client.wait_for_message(f"ops {FILLER - 1}")
    return client


def _item(text: str) -> str:
    """The message whose text is `text`, exactly: a substring would also find "ops 2"
    beside its time, "9:05 PM", at nine o'clock."""
    return f'#messages li[data-id]:has(.text:text-is("{text}"))'


def _message(client: Client, text: str) -> Any:
    return client.page.locator(_item(text))


def _open_saved_list(client: Client, screenshot: str | None = None) -> None:
    """From the account screen (its "Saved messages" section saved as `screenshot`)."""
    client.page.click("#account")
    client.page.locator("#saved-open").scroll_into_view_if_needed()
    if screenshot is not None:
        client.screenshot(screenshot)
    client.page.click("#saved-open")
    client.page.locator("#saved-view").wait_for(state="visible", timeout=WAIT_MS)


async def test_saved_messages_are_listed_and_one_opens_in_its_room(server: Server) -> None:
    from playwright.sync_api import expect

    bob, room_id, deleted = await _room_with_bobs_messages(server)
    source = await axe_source()

    def scenario(browser):
        alice = _in_ops(browser, server, room_id)
        for text in (KEPT, DELETED):
            save = _message(alice, text).locator(".save-button")
            save.click()
            expect(save).to_have_text("Unsave", timeout=WAIT_MS)
        expect(_message(alice, KEPT).locator(".save-button")).to_have_attribute(
            "aria-label", "Unsave bob's message"
        )
        _open_saved_list(alice, "saved-in-account")
        items = alice.page.locator("#saved-list .result")
        expect(items).to_have_count(2, timeout=WAIT_MS)
        expect(items.locator(".snippet")).to_have_text([DELETED, KEPT])  # newest saved first
        expect(items.first.locator(".where")).to_have_text("ops")
        expect(items.first.locator(".who")).to_have_text("bob")
        assert alice.page.locator("#room").is_hidden()  # the list in its place
        assert violations_in_both_themes(alice, source, "saved-list") == {"light": [], "dark": []}
        alice.page.click("#saved-close")
        expect(alice.page.locator("#room")).to_be_visible()

        # bob deletes his message: it drops out of alice's list.
        # (This thread may wait: it is the browser's.)
        gone = httpx.delete(
            f"{server.http}/messages/{room_id}/{deleted}", headers=bob.auth, verify=TLS
        )
        assert gone.status_code == 204, gone.text
        _open_saved_list(alice)
        expect(items).to_have_count(1, timeout=WAIT_MS)
        expect(items.locator(".snippet")).to_have_text([KEPT])
        items.first.click()
        alice.wait_for_room("ops")
        found = alice.page.locator("#messages li.found")
        expect(found.locator(".text")).to_have_text(KEPT, timeout=WAIT_MS)
        assert alice.page.locator("#saved-view").is_hidden()
        alice.screenshot("saved-opened-in-context")
        _no_script_errors(alice)

    await in_browser(scenario)


async def test_a_message_saved_in_one_browser_shows_saved_in_the_other(server: Server) -> None:
    from playwright.sync_api import expect

    _bob, room_id, _deleted = await _room_with_bobs_messages(server)

    def scenario(browser):
        laptop = _in_ops(browser, server, room_id)
        desk = _in_ops(browser, server, room_id)
        save = _message(laptop, f"ops {FILLER - 1}").locator(".save-button")
        save.click()
        expect(save).to_have_text("Unsave", timeout=WAIT_MS)
        # Live, from the frame the server sends every connection of alice's.
        other = _message(desk, f"ops {FILLER - 1}").locator(".save-button")
        expect(other).to_have_text("Unsave", timeout=WAIT_MS)
        # And after a reload, from the server's list.
        desk.page.reload()
        desk.wait_for_room("ops")
        expect(other).to_have_text("Unsave", timeout=WAIT_MS)
        # Unsaved on the laptop: off the list the desk shows, and unmarked there.
        _open_saved_list(desk)
        listed = desk.page.locator("#saved-list .result")
        expect(listed).to_have_count(1, timeout=WAIT_MS)
        save.click()
        expect(save).to_have_text("Save", timeout=WAIT_MS)
        expect(listed).to_have_count(0, timeout=WAIT_MS)
        desk.page.click("#saved-close")
        expect(other).to_have_text("Save", timeout=WAIT_MS)
        _no_script_errors(laptop, desk)

    await in_browser(scenario)


async def test_a_phone_saves_from_a_messages_menu(server: Server) -> None:
    from playwright.sync_api import expect

    _bob, room_id, _deleted = await _room_with_bobs_messages(server)

    def scenario(browser):
        phone = _in_ops(browser, server, room_id, screen=PHONE)
        last = f"ops {FILLER - 1}"
        phone.tap_on_screen(f"{_item(last)} .more-button")
        save = _message(phone, last).locator(".save-button")
        expect(save).to_be_visible(timeout=WAIT_MS)
        phone.screenshot("saved-phone-menu")
        save.click()
        phone.tap_on_screen(f"{_item(last)} .more-button")
        expect(save).to_have_text("Unsave", timeout=WAIT_MS)
        phone.page.keyboard.press("Escape")
        _open_saved_list(phone)
        expect(phone.page.locator("#saved-list .snippet")).to_have_text([last], timeout=WAIT_MS)
        phone.screenshot("saved-list-phone")
        _no_script_errors(phone)

    await in_browser(scenario)
