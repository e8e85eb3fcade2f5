"""The browser client with a keyboard alone (chat/static/keyboard.js, roving.js): skip
links, the Ctrl+K quick switcher, the focus in the message box after a room switch,
Alt+Up/Down between rooms, arrow keys and Escape in menus and pickers, and "?" for the
list of shortcuts."""

from __future__ import annotations

from typing import Any

from browser import SQLITE_ONLY, WAIT_MS, Client, in_browser, open_client
from support import PASSWORD, Server, account, create_room
from test_browser import _no_script_errors

pytestmark = SQLITE_ONLY  # tests/browser.py says why


def _focused(page: Client) -> str:
    """The focused element, as `#id` or its tag and text."""
    return page.page.evaluate(
        """(() => {
            const e = document.activeElement;
            return e.id ? `#${e.id}` : `${e.tagName.toLowerCase()}:${e.textContent.trim()}`;
        })()"""
    )


def _from_the_top(page: Client) -> None:
    """The next Tab goes to the page's first stop (as after loading it)."""
    page.page.evaluate(
        """(() => {
            document.body.tabIndex = -1;
            document.body.focus();
            document.body.removeAttribute("tabindex");
        })()"""
    )


def _logged_in(browser: Any, server: Server, name: str) -> Client:
    page = open_client(browser, server.http)
    page.log_in(name, PASSWORD)
    page.wait_for_room("lobby")
    return page


async def test_the_first_tab_stops_are_skip_links_to_the_messages_and_the_message_box(
    server: Server,
) -> None:
    await account(server, "alice")

    def scenario(browser):
        page = _logged_in(browser, server, "alice")
        _from_the_top(page)
        page.page.keyboard.press("Tab")
        assert _focused(page) == "a:Skip to the messages"
        page.screenshot("keyboard-skip-link")
        page.page.keyboard.press("Enter")
        assert _focused(page) == "#messages"
        _from_the_top(page)
        page.page.keyboard.press("Tab")
        page.page.keyboard.press("Tab")
        assert _focused(page) == "a:Skip to the message box"
        page.page.keyboard.press("Enter")
        assert _focused(page) == "#composer"
        assert page.room_in_address().startswith("#/room/")  # the address still names the room
        page.page.keyboard.type("typed without a mouse")
        page.page.keyboard.press("Enter")
        page.wait_for_message("typed without a mouse")
        _no_script_errors(page)

    await in_browser(scenario)


async def test_ctrl_k_opens_a_room_and_a_direct_conversation_by_name(server: Server) -> None:
    from playwright.sync_api import expect

    alice = await account(server, "alice")
    await account(server, "bob")
    await create_room(server, alice, "leads", private=True)

    def scenario(browser):
        bob = _logged_in(browser, server, "bob")
        page = _logged_in(browser, server, "alice")
        page.page.keyboard.press("Control+k")
        expect(page.page.locator("#switcher")).to_be_visible()
        assert _focused(page) == "#switcher-q"
        page.page.keyboard.type("lea")
        chosen = page.page.locator("#switcher-list [aria-selected=true]")
        expect(chosen).to_have_text("leads (room)")
        page.screenshot("keyboard-switcher")
        page.page.keyboard.press("Enter")
        page.wait_for_room("leads")
        expect(page.page.locator("#switcher")).to_be_hidden()
        assert _focused(page) == "#composer"

        page.page.keyboard.press("Control+k")
        page.page.keyboard.type("bo")  # bob: the page has not met him, the server has
        expect(page.page.locator("#switcher-list [role=option]")).to_have_text(
            ["bob (direct message)"], timeout=WAIT_MS
        )
        page.page.keyboard.press("Enter")
        page.wait_for_room("with bob")
        assert _focused(page) == "#composer"
        page.page.keyboard.type("found you by name")
        page.page.keyboard.press("Enter")
        bob.page.locator("#rooms button", has_text="with alice").click()
        bob.wait_for_message("found you by name")

        page.page.keyboard.press("Control+k")  # Escape closes it, nothing chosen
        page.page.keyboard.type("lobby")
        page.page.keyboard.press("Escape")
        expect(page.page.locator("#switcher")).to_be_hidden()
        expect(page.page.locator("#room-name")).to_have_text("with bob")
        _no_script_errors(page, bob)

    await in_browser(scenario)


async def test_the_focus_is_in_the_message_box_after_a_room_switch(server: Server) -> None:
    alice = await account(server, "alice")
    await create_room(server, alice, "leads")

    def scenario(browser):
        page = _logged_in(browser, server, "alice")
        button = page.page.locator("#rooms button", has_text="leads")
        button.focus()
        page.page.keyboard.press("Enter")
        page.wait_for_room("leads")
        assert _focused(page) == "#composer"
        _no_script_errors(page)

    await in_browser(scenario)


async def test_alt_up_and_down_go_to_the_previous_and_the_next_room(server: Server) -> None:
    alice = await account(server, "alice")
    await create_room(server, alice, "leads")
    await create_room(server, alice, "ops")

    def scenario(browser):
        page = _logged_in(browser, server, "alice")
        order = page.page.locator("#rooms button").all_text_contents()
        assert order[0] == "lobby", order
        page.page.keyboard.press("Alt+ArrowDown")
        page.wait_for_room(order[1])
        page.page.keyboard.press("Alt+ArrowDown")
        page.wait_for_room(order[2])
        page.page.keyboard.press("Alt+ArrowUp")
        page.wait_for_room(order[1])
        page.page.keyboard.press("Alt+ArrowUp")
        page.wait_for_room("lobby")
        page.page.keyboard.press("Alt+ArrowUp")  # round to the last
        page.wait_for_room(order[-1])
        _no_script_errors(page)

    await in_browser(scenario)


async def test_arrow_keys_move_in_a_menu_and_escape_closes_it(server: Server) -> None:
    from playwright.sync_api import expect

    alice = await account(server, "alice")
    await create_room(server, alice, "leads")

    def scenario(browser):
        # A narrow window, where the room's tools are a menu (roving.js), by keyboard.
        page = open_client(browser, server.http, screen={"viewport": {"width": 600, "height": 700}})
        page.log_in("alice", PASSWORD)
        page.page.keyboard.press("Control+k")
        page.page.keyboard.type("leads")
        page.page.keyboard.press("Enter")
        page.wait_for_room("leads")
        opener = page.page.locator("#room-more")
        opener.focus()
        page.page.keyboard.press("Enter")
        expect(page.page.locator("#room-tools")).to_be_visible()
        expect(opener).to_have_attribute("aria-expanded", "true")
        expect(page.page.locator("#room-settings")).to_be_focused()
        page.page.keyboard.press("ArrowDown")
        expect(page.page.locator("#room-link-copy")).to_be_focused()
        page.page.keyboard.press("End")
        expect(page.page.locator("#invite-open")).to_be_focused()
        page.page.keyboard.press("ArrowDown")  # round to the first
        expect(page.page.locator("#room-settings")).to_be_focused()
        page.page.keyboard.press("ArrowUp")  # and back to the last
        expect(page.page.locator("#invite-open")).to_be_focused()
        page.page.keyboard.press("Home")
        expect(page.page.locator("#room-settings")).to_be_focused()
        page.page.keyboard.press("Escape")
        expect(page.page.locator("#room-tools")).to_be_hidden()
        expect(opener).to_be_focused()
        expect(opener).to_have_attribute("aria-expanded", "false")
        _no_script_errors(page)

    await in_browser(scenario)


async def test_question_mark_lists_the_shortcuts_but_types_in_a_text_field(
    server: Server,
) -> None:
    from playwright.sync_api import expect

    await account(server, "alice")

    def scenario(browser):
        page = _logged_in(browser, server, "alice")
        page.page.focus("#composer")
        page.page.keyboard.type("what?")
        expect(page.page.locator("#composer")).to_have_value("what?")
        expect(page.page.locator("#shortcuts")).to_be_hidden()
        page.page.evaluate("document.activeElement.blur()")
        page.page.keyboard.press("?")
        dialog = page.page.locator("#shortcuts")
        expect(dialog).to_be_visible()
        expect(dialog.locator("dd")).to_contain_text(["Go to a room or a person by name"])
        page.screenshot("keyboard-shortcuts")
        page.page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        _no_script_errors(page)

    await in_browser(scenario)
