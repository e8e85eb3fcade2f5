"""The browser client for people using a keyboard and a screen reader: axe-core (from
npm, run inside Chromium: tests/axe.py) finds nothing wrong with the login page, a room,
a direct conversation or the phone layout; every input has a label, no id is used twice,
and only new messages are announced."""

from __future__ import annotations

from typing import Any

from axe import axe_source, violations
from browser import PHONE, SQLITE_ONLY, WAIT_MS, Client, in_browser, open_client, registered
from support import PASSWORD, Server
from test_browser import _no_script_errors
from test_browser_files import CHART, NOTES, send_with_files
from test_browser_search import busy_room, search

pytestmark = SQLITE_ONLY  # tests/browser.py says why


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
        assert violations(page.page, source) == []
        page.page.focus("#register")  # registering shows the rule for passwords
        assert violations(page.page, source) == []
        page.screenshot("a11y-login")
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
        assert violations(alice.page, source) == []
        alice.screenshot("a11y-room")
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_axe_finds_nothing_wrong_with_a_direct_conversation(server: Server) -> None:
    source = await axe_source()

    def scenario(browser):
        alice, bob = _a_conversation(browser, server)
        assert violations(bob.page, source) == []
        bob.screenshot("a11y-conversation")
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_axe_finds_nothing_wrong_with_the_phone_layout(server: Server) -> None:
    source = await axe_source()

    def scenario(browser):
        alice, bob = _a_conversation(browser, server, screen=PHONE)
        assert violations(bob.page, source) == []
        bob.screenshot("a11y-phone")
        bob.page.click("#menu")  # the folded panel, open
        bob.page.wait_for_selector("#sidebar", state="visible", timeout=WAIT_MS)
        assert violations(bob.page, source) == []
        bob.screenshot("a11y-phone-menu")
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
        assert violations(alice.page, source) == []
        alice.screenshot("a11y-failed-and-full")
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
        assert violations(alice.page, source) == []
        # The image's link is named by its alt text (the file's name), the chip by its text.
        message.get_by_role("link", name="chart.png").click()
        bob.page.wait_for_selector("#viewer[open]", timeout=WAIT_MS)
        assert violations(bob.page, source) == []
        bob.screenshot("a11y-viewer")
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
        assert violations(bob.page, source) == []
        bob.page.locator("#results .result").last.click()  # far back: an older page
        bob.page.wait_for_selector("#messages li.found", timeout=WAIT_MS)
        bob.page.wait_for_selector("#present:not([hidden])", timeout=WAIT_MS)
        assert violations(bob.page, source) == []
        assert _unlabelled_inputs(bob.page) == []
        assert _duplicate_ids(bob.page) == []
        _no_script_errors(bob)

    await in_browser(scenario)
