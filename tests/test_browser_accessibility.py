"""The browser client for people using a keyboard and a screen reader: axe-core (from
npm, run inside Chromium: tests/axe.py) finds nothing wrong with the login page, a room,
a direct conversation, the quick switcher and the shortcuts, or the phone layout and its
menus (offline: tests/test_browser_phone.py), in the light theme and in the dark one;
every input has a label, no id is used twice, and only new messages are announced."""

from __future__ import annotations

from typing import Any

from axe import axe_source, violations_in_both_themes
from browser import PHONE, SQLITE_ONLY, WAIT_MS, Client, in_browser, open_client, registered
from support import PASSWORD, Clients, Server
from test_browser import _no_script_errors
from test_browser_files import CHART, NOTES, send_with_files
from test_browser_reading import room_with_unread
from test_browser_search import busy_room, search

pytestmark = SQLITE_ONLY  # tests/browser.py says why

#: What axe-core finds wrong in each theme: nothing (violations_in_both_themes).
NONE = {"light": [], "dark": []}


def _unlabelled_inputs(page: Any) -> list[str]:
    """The form fields (but buttons) with no label element naming them."""
    return page.evaluate(
        """[...document.querySelectorAll("input, textarea, select")]
            .filter((field) => field.type !== "hidden" && field.labels.length === 0)
            .map((field) => field.outerHTML)"""
    )


def _duplicate_ids(page: Any) -> list[str]:
    return page.evaluate(
        """(() => {
            const ids = [...document.querySelectorAll("[id]")].map((e) => e.id);
            return ids.filter((id, i) => ids.indexOf(id) !== i);
        })()"""
    )


def _a_conversation(browser: Any, server: Server, **screen: Any) -> tuple[Client, Client]:
    """alice and bob (on `screen`), in their conversation, a message each."""
    alice = open_client(browser, server.http)
    alice.register("alice")
    bob = open_client(browser, server.http, **screen)
    bob.register("bob")
    alice.say("hello everyone")
    bob.wait_for_message("hello everyone")
    alice.send_direct("bob", "a word in private")
    if bob.page.is_visible("#menu"):  # a phone: the rooms are folded away
        bob.page.click("#menu")
    bob.page.locator("#rooms button", has_text="with alice").click()
    bob.wait_for_room("with alice")
    bob.wait_for_message("a word in private")
    bob.say("sure")
    alice.wait_for_message("sure")
    return alice, bob


async def test_axe_finds_nothing_wrong_with_the_login_page(server: Server) -> None:
    source = await axe_source()

    def scenario(browser):
        page = open_client(browser, server.http)
        page.page.wait_for_selector("#login-form")
        assert violations_in_both_themes(page, source) == NONE
        page.page.focus("#register")  # registering shows the rule for passwords
        assert violations_in_both_themes(page, source, "a11y-login") == NONE
        _no_script_errors(page)

    await in_browser(scenario)


async def test_axe_finds_nothing_wrong_with_a_room(server: Server) -> None:
    source = await axe_source()

    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.say("hello **bob**")
        bob.wait_for_message("hello bob")
        bob.say("hi `alice`")
        alice.wait_for_message("hi alice")
        alice.wait_for_text("#here li", "bob")
        assert violations_in_both_themes(alice, source, "a11y-room") == NONE
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_axe_finds_nothing_wrong_with_a_direct_conversation(server: Server) -> None:
    source = await axe_source()

    def scenario(browser):
        alice, bob = _a_conversation(browser, server)
        assert violations_in_both_themes(bob, source, "a11y-conversation") == NONE
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_axe_finds_nothing_wrong_with_the_phone_layout(server: Server) -> None:
    source = await axe_source()

    def scenario(browser):
        alice, bob = _a_conversation(browser, server, screen=PHONE)
        assert violations_in_both_themes(bob, source, "a11y-phone") == NONE
        bob.page.click("#menu")  # the folded panel, open
        bob.page.wait_for_selector("#sidebar", state="visible", timeout=WAIT_MS)
        assert violations_in_both_themes(bob, source, "a11y-phone-menu") == NONE
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_every_input_has_a_label_and_no_id_is_used_twice(server: Server) -> None:
    def scenario(browser):
        page = open_client(browser, server.http)
        assert _unlabelled_inputs(page.page) == []
        assert _duplicate_ids(page.page) == []
        page.register("alice")
        page.create_room("plans")  # the invite form, the room's people
        page.page.wait_for_selector("#here li", timeout=WAIT_MS)
        assert _unlabelled_inputs(page.page) == []
        assert _duplicate_ids(page.page) == []
        _no_script_errors(page)

    await in_browser(scenario)


async def test_only_new_messages_from_others_are_announced(server: Server) -> None:
    from playwright.sync_api import expect

    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.say("said before carol came")
        bob.wait_for_message("said before carol came")
        carol = open_client(browser, server.http)
        carol.register("carol")
        carol.wait_for_message("said before carol came")  # the history: not announced
        # The one live region that is not a status or an alert is the announcer.
        live = carol.page.evaluate(
            """[...document.querySelectorAll("[aria-live]")].map((e) => e.id)"""
        )
        assert live == ["announcer"]
        assert carol.page.locator("#announcer p").count() == 0
        bob.say("news for everyone")
        expect(carol.page.locator("#announcer p")).to_have_text(["bob: news for everyone"])
        carol.say("my own words")  # ours: not read back to us
        bob.wait_for_message("my own words")
        bob.page.type("#send-form [name=text]", "still typ")  # typing: not announced
        carol.wait_for_text("#typing", "bob is typing...")
        assert carol.page.locator("#announcer p").all_text_contents() == ["bob: news for everyone"]
        _no_script_errors(alice, bob, carol)

    await in_browser(scenario)


async def test_axe_finds_nothing_wrong_with_a_refused_message_and_a_full_composer(
    server: Server,
) -> None:
    source = await axe_source()

    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        bob.send_direct("alice", "unread for alice")  # a badge in alice's room list
        alice.page.wait_for_selector("#rooms .badge:text-is('1')", timeout=WAIT_MS)
        alice.say("an escape \x1b in it")
        alice.page.locator("#messages li.failed .failure").wait_for(timeout=WAIT_MS)
        alice.page.fill("#composer", "x" * 5000)  # the count shows, in red, at the limit
        alice.page.dispatch_event("#composer", "input")
        alice.page.wait_for_selector("#char-count.full", timeout=WAIT_MS)
        assert violations_in_both_themes(alice, source, "a11y-failed-and-full") == NONE
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_axe_finds_nothing_wrong_with_files_in_messages_the_composer_and_the_viewer(
    server: Server,
) -> None:
    source = await axe_source()

    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        message = send_with_files(alice, bob, "the chart and the notes", CHART, NOTES)
        alice.attach(NOTES)  # waiting in the composer
        assert violations_in_both_themes(alice, source) == NONE
        # The image's link is named by its alt text (the file's name), the chip by its text.
        message.get_by_role("link", name="chart.png").click()
        bob.page.wait_for_selector("#viewer[open]", timeout=WAIT_MS)
        assert violations_in_both_themes(bob, source, "a11y-viewer") == NONE
        bob.page.keyboard.press("Escape")
        assert message.get_by_role("link", name="notes.txt · 46 KB").is_visible()
        assert _unlabelled_inputs(alice.page) == []
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_axe_finds_nothing_wrong_with_search_results_and_a_message_in_context(
    server: Server,
) -> None:
    source = await axe_source()
    await busy_room(server)

    def scenario(browser):
        bob = open_client(browser, server.http)
        bob.log_in("bob", PASSWORD)
        search(bob, "ops 1")
        bob.page.wait_for_selector("#search-more:not([hidden])", timeout=WAIT_MS)
        assert violations_in_both_themes(bob, source) == NONE
        bob.page.locator("#results .result").last.click()  # far back: an older page
        bob.page.wait_for_selector("#messages li.found", timeout=WAIT_MS)
        bob.page.wait_for_selector("#present:not([hidden])", timeout=WAIT_MS)
        assert violations_in_both_themes(bob, source) == NONE
        assert _unlabelled_inputs(bob.page) == []
        assert _duplicate_ids(bob.page) == []
        _no_script_errors(bob)

    await in_browser(scenario)


async def test_axe_finds_nothing_wrong_with_the_account_screen_and_the_deleted_page(
    server: Server,
) -> None:
    from files_support import png

    source = await axe_source()

    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.page.click("#account")
        alice.page.wait_for_selector("#sessions li", timeout=WAIT_MS)
        alice.page.fill("#profile-form input[name=display]", "Alice Liddell")
        alice.page.click("#profile-form button[type=submit]")
        alice.wait_for_text("#profile-status", "Saved")
        alice.page.set_input_files(
            "#avatar-file", {"name": "me.png", "mimeType": "image/png", "buffer": png(90, 60)}
        )
        alice.page.wait_for_selector("#avatar-preview:not([hidden])", timeout=WAIT_MS)
        assert violations_in_both_themes(alice, source) == NONE
        assert _unlabelled_inputs(alice.page) == [] and _duplicate_ids(alice.page) == []
        alice.page.click("#account-close")
        alice.say("hello, with a display name")
        bob.wait_for_message("hello, with a display name")
        # The login name beside the display name, in small type.
        assert violations_in_both_themes(bob, source) == NONE
        alice.page.click("#account")
        alice.page.fill("#delete-account-form input[name=confirm]", "alice")
        alice.page.fill("#delete-account-form input[name=password]", "password")
        alice.page.click("#delete-account-form button[type=submit]")
        alice.page.wait_for_selector("#deleted-view:not([hidden])", timeout=WAIT_MS)
        assert violations_in_both_themes(alice, source) == NONE
        _no_script_errors(bob)

    await in_browser(scenario)


async def test_axe_finds_nothing_wrong_with_the_emoji_pickers_the_completion_and_the_theme_switch(
    server: Server,
) -> None:
    source = await axe_source()

    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        bob.say("we shipped :tada:")
        item = alice.page.locator("#messages li[data-id]").filter(has_text="we shipped").first
        item.locator(".text .emoji").wait_for(timeout=WAIT_MS)
        item.hover()
        item.get_by_role("button", name="React to bob's message").click()
        item.get_by_role("button", name="React with 🎉").click()
        item.locator(".chip").wait_for(timeout=WAIT_MS)
        item.hover()
        item.get_by_role("button", name="React to bob's message").click()
        item.locator(".emoji-all button.emoji").first.wait_for(timeout=WAIT_MS)
        assert violations_in_both_themes(alice, source, "a11y-reaction-picker") == NONE
        alice.page.keyboard.press("Escape")
        alice.page.get_by_role("button", name="Insert an emoji").click()
        alice.page.get_by_role("searchbox", name="Search emoji").fill("heart")
        alice.page.locator("#send-form .emoji-all button.emoji").first.wait_for(timeout=WAIT_MS)
        assert violations_in_both_themes(alice, source, "a11y-composer-picker") == NONE
        alice.page.keyboard.press("Escape")
        alice.page.click("#composer")
        alice.page.keyboard.type("yes :ta")
        alice.page.locator("#emoji-suggestions li").first.wait_for(timeout=WAIT_MS)
        assert violations_in_both_themes(alice, source, "a11y-emoji-completion") == NONE
        alice.page.get_by_role("button", name="Account").click()
        alice.page.get_by_role("radio", name="Dark").wait_for(timeout=WAIT_MS)
        assert violations_in_both_themes(alice, source, "a11y-account") == NONE
        assert _unlabelled_inputs(alice.page) == []
        assert _duplicate_ids(alice.page) == []
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_axe_finds_nothing_wrong_with_a_mention_a_reply_and_unread_messages(
    server: Server, clients: Clients
) -> None:
    from playwright.sync_api import expect

    source = await axe_source()
    await room_with_unread(server, clients, "carol", 5, 30)

    def scenario(browser):
        bob = open_client(browser, server.http)
        bob.register("bob")
        page = open_client(browser, server.http)
        page.log_in("alice", PASSWORD)
        page.say("@bob can you look at the release notes?")
        bob.wait_for_message("can you look at the release notes?")
        asked = bob.page.locator("#messages li.mentions-me")
        asked.hover()
        asked.get_by_role("button", name="Reply to alice").click()
        bob.say("on it")  # a reply, with its quote
        bob.say("done")  # and one grouped under it
        page.wait_for_message("done")
        bob.page.mouse.move(0, 0)
        assert violations_in_both_themes(bob, source) == NONE
        bob.screenshot("a11y-mention-and-reply")
        # A room with unread messages: the "New messages" line, the button to the newest.
        carol_page = open_client(browser, server.http)
        carol_page.log_in("carol", PASSWORD)
        carol_page.page.locator("#rooms button", has_text="busy").click()
        expect(carol_page.page.locator("#messages li.unread-line")).to_be_visible(timeout=WAIT_MS)
        expect(carol_page.page.locator("#jump-new")).to_be_visible()
        assert violations_in_both_themes(carol_page, source) == NONE
        carol_page.screenshot("a11y-unread")
        _no_script_errors(bob, page, carol_page)

    await in_browser(scenario)


async def test_axe_finds_nothing_wrong_with_the_quick_switcher_and_the_shortcuts(
    server: Server,
) -> None:
    source = await axe_source()

    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.create_room("leads")
        alice.page.keyboard.press("Control+k")
        alice.page.keyboard.type("l")  # leads and the lobby, one of them chosen
        alice.page.wait_for_selector("#switcher-list [aria-selected=true]", timeout=WAIT_MS)
        assert violations_in_both_themes(alice, source, "a11y-switcher") == NONE
        alice.page.keyboard.press("Escape")
        alice.page.evaluate("document.activeElement.blur()")
        alice.page.keyboard.press("?")
        alice.page.wait_for_selector("#shortcuts[open]", timeout=WAIT_MS)
        assert violations_in_both_themes(alice, source, "a11y-shortcuts") == NONE
        alice.page.keyboard.press("Escape")
        alice.page.keyboard.press("Tab")  # a skip link, shown
        assert violations_in_both_themes(alice, source, "a11y-skip-link") == NONE
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_axe_finds_nothing_wrong_with_a_phone_room_and_its_menus(server: Server) -> None:
    source = await axe_source()

    def scenario(browser):
        alice = open_client(browser, server.http, screen=PHONE)
        alice.register("alice")
        (bob,) = registered(browser, server.http, "bob")
        bob.say("a message with **actions**")
        alice.wait_for_message("a message with actions")
        alice.page.locator("#messages li[data-id] .more-button").first.tap()
        alice.page.wait_for_selector("#messages li.menu-open .actions", timeout=WAIT_MS)
        assert violations_in_both_themes(alice, source, "a11y-phone-message-menu") == NONE
        alice.page.keyboard.press("Escape")
        alice.page.tap("#room-more")
        alice.page.wait_for_selector("#room-tools", state="visible", timeout=WAIT_MS)
        assert violations_in_both_themes(alice, source, "a11y-phone-room-menu") == NONE
        alice.page.keyboard.press("Escape")
        alice.page.tap("#search-open")
        alice.page.wait_for_selector("#search-q", state="visible", timeout=WAIT_MS)
        assert violations_in_both_themes(alice, source, "a11y-phone-search") == NONE
        _no_script_errors(alice, bob)

    await in_browser(scenario)
