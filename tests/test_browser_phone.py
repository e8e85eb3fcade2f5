"""The browser client on a phone (390x844 CSS pixels): the messages take most of the
screen, each message's actions wait behind one "..." button, and the page installs as
a web app (its manifest, icons) that a service worker keeps usable offline, read-only."""

from __future__ import annotations

import time
from typing import Any

from axe import axe_source, violations
from browser import PHONE, SQLITE_ONLY, WAIT_MS, Client, in_browser, open_client
from support import PASSWORD, Account, Server, account, create_room, http_client
from test_browser import _no_script_errors

pytestmark = SQLITE_ONLY  # tests/browser.py says why

TOPIC = "Where the launch is planned: dates, owners, and what is still open"


async def _busy_room(server: Server) -> tuple[Account, int]:
    """carol's room "launch", with a topic and a few messages from her and bob."""
    carol = await account(server, "carol_longname")
    bob = await account(server, "bob")
    room = await create_room(server, carol, "launch", bob)
    async with http_client(server) as client:
        settings = await client.put(
            f"/room/{room}/settings", headers=carol.auth, json={"Topic": TOPIC}
        )
        assert settings.status_code == 200, settings.text
        for n in range(6):
            who = carol if n % 2 else bob
            said = await client.post(
                f"/messages/{room}", headers=who.auth, json={"Text": f"message {n}"}
            )
            assert said.status_code == 201, said.text
    return carol, room


def _in_room(browser: Any, server: Server, name: str, room: int, **screen: Any) -> Client:
    page = open_client(browser, f"{server.http}/#/room/{room}", **screen)
    page.log_in(name, PASSWORD)
    page.wait_for_room("launch")
    page.wait_for_message("message 5")
    return page


async def test_messages_take_most_of_a_phone_screen_in_a_room_with_a_topic(
    server: Server,
) -> None:
    _carol, room = await _busy_room(server)

    def scenario(browser):
        page = _in_room(browser, server, "carol_longname", room, screen=PHONE)
        page.page.wait_for_selector("#room-topic", state="visible", timeout=WAIT_MS)
        page.screenshot("phone-room")
        shown = page.page.locator("#messages").bounding_box()["height"]
        assert shown >= 0.7 * 844, shown
        _no_script_errors(page)

    await in_browser(scenario)


async def test_on_a_phone_a_messages_actions_open_from_one_menu_button(server: Server) -> None:
    from playwright.sync_api import expect

    _carol, room = await _busy_room(server)

    def scenario(browser):
        bob = _in_room(browser, server, "bob", room)
        page = _in_room(browser, server, "carol_longname", room, screen=PHONE)
        item = page.page.locator("#messages li[data-id]", has_text="message 4")
        # One button per message, no row of actions under each.
        expect(page.page.locator("#messages .actions button").first).to_be_hidden()
        assert page.page.locator("#messages li[data-id] .more-button").count() == 6
        more = item.locator(".more-button")
        expect(more).to_have_accessible_name("Actions on bob's message")
        page.tap_on_screen('#messages li[data-id]:has-text("message 4") .more-button')
        menu = item.locator(".actions")
        expect(menu).to_be_visible()
        expect(more).to_have_attribute("aria-expanded", "true")
        assert menu.locator("button:visible").all_text_contents() == [
            "Reply",
            "Thread",
            "React",
            "Delete",
            "Report",
            "Save",
            "Pin",  # carol owns the room
            "Copy link",
        ]
        page.screenshot("phone-message-menu")
        page.page.keyboard.press("ArrowDown")  # the arrow keys move in it
        expect(menu.locator("button", has_text="Thread")).to_be_focused()
        page.page.keyboard.press("Escape")  # Escape closes it, back on its button
        expect(menu).to_be_hidden()
        expect(more).to_be_focused()
        page.tap_on_screen('#messages li[data-id]:has-text("message 4") .more-button')
        page.tap_on_screen('#messages li[data-id]:has-text("message 4") .reply-button')
        expect(menu).to_be_hidden()
        page.page.fill("#composer", "answered from a phone")
        page.page.press("#composer", "Enter")
        bob.wait_for_message("answered from a phone")
        quote = bob.page.locator("#messages li.reply .quote")
        expect(quote).to_have_text("↪ bob: message 4")
        assert page.fits_sideways()
        _no_script_errors(page, bob)

    await in_browser(scenario)


async def test_on_a_phone_the_header_is_one_row_with_the_name_whole(server: Server) -> None:
    _carol, room = await _busy_room(server)

    def scenario(browser):
        page = _in_room(browser, server, "carol_longname", room, screen=PHONE)
        header = page.page.locator("header").bounding_box()
        assert header["height"] < 50, header
        whoami = page.page.locator("#whoami")
        assert whoami.text_content() == "carol_longname"
        assert whoami.evaluate("(e) => e.scrollWidth <= e.clientWidth")
        room_header = page.page.locator("#room-name").bounding_box()
        assert room_header["height"] < 32, room_header
        # The room's tools are one tap away.
        page.tap_on_screen("#room-more")
        page.assert_on_screen("#room-settings")
        page.assert_on_screen("#room-level")
        page.screenshot("phone-room-menu")
        assert page.fits_sideways()
        _no_script_errors(page)

    await in_browser(scenario)


async def test_the_web_app_manifest_names_the_app_and_its_icons(server: Server) -> None:
    import json

    def scenario(browser):
        page = open_client(browser, server.http, screen=PHONE)
        href = page.page.get_attribute("link[rel=manifest]", "href")
        response = page.page.request.get(f"{server.http}{href}")
        assert response.status == 200
        assert response.headers["content-type"].startswith("application/manifest+json")
        manifest = json.loads(response.text())
        assert manifest["name"] == "chat"
        assert manifest["start_url"] == "/"
        assert manifest["display"] == "standalone"
        assert manifest["theme_color"].startswith("#")
        sizes = {}
        for icon in manifest["icons"]:
            image = page.page.request.get(f"{server.http}{icon['src']}")
            assert image.status == 200 and image.headers["content-type"] == "image/png"
            body = image.body()
            assert body[:8] == b"\x89PNG\r\n\x1a\n"
            width, height = int.from_bytes(body[16:20], "big"), int.from_bytes(body[20:24], "big")
            assert icon["sizes"] == f"{width}x{height}"
            sizes[width] = height
        assert sizes == {192: 192, 512: 512}
        _no_script_errors(page)

    await in_browser(scenario)


async def test_offline_the_page_shows_the_messages_it_kept_read_only(server: Server) -> None:
    from playwright.sync_api import expect

    _carol, room = await _busy_room(server)
    source = await axe_source()

    def scenario(browser):
        page = _in_room(browser, server, "carol_longname", room, screen=PHONE)
        # The service worker controls the page, and the history is kept.
        page.page.wait_for_function(
            "() => navigator.serviceWorker.controller !== null", timeout=WAIT_MS
        )
        kept = """caches.open("chat-history-v1")
            .then((c) => c.match("/offline/room/" + location.hash.split("/").pop()))
            .then((r) => r?.json())
            .then((messages) => messages?.length ?? 0)"""
        deadline = time.monotonic() + WAIT_MS / 1000
        while page.page.evaluate(kept) < 6:
            assert time.monotonic() < deadline, "the history was not kept"
            page.page.wait_for_timeout(100)
        page.page.context.set_offline(True)
        page.page.reload()
        page.wait_for_room("launch")
        expect(page.page.locator("#offline")).to_contain_text("offline")
        texts = page.page.locator("#messages li[data-id] .text").all_text_contents()
        assert texts == [f"message {n}" for n in range(6)], texts
        expect(page.page.locator("#composer")).to_be_disabled()
        expect(page.page.locator("#send-form button[type=submit]")).to_be_disabled()
        expect(page.page.locator("#messages .more-button").first).to_be_hidden()
        assert violations(page.page, source) == []
        page.screenshot("phone-offline")
        page.page.context.set_offline(False)  # back: the page starts again, signed in
        page.wait_online()
        page.wait_for_message("message 5")
        expect(page.page.locator("#composer")).to_be_enabled()
        page.say("back online")
        page.wait_for_message("back online")

    await in_browser(scenario)
