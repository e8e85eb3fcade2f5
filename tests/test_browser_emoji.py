"""Emoji in the browser client: a :shortcode: shows as its emoji (not in code), `:` and a
name complete one in the composer, the picker (the composer's and the reactions') finds
one by name, keeps the recent ones first, and moves with the arrow keys."""

from __future__ import annotations

from browser import SQLITE_ONLY, WAIT_MS, Client, in_browser, registered
from playwright.sync_api import expect
from support import Server
from test_browser import _no_script_errors

pytestmark = SQLITE_ONLY  # tests/browser.py says why


def _message(client: Client, text: str):
    return client.page.locator("#messages li[data-id]").filter(has_text=text).first


def _picker_search(client: Client, query: str) -> None:
    """Open the composer's picker and search it for `query`."""
    client.wait_room_shown()
    client.page.get_by_role("button", name="Insert an emoji").click()
    search = client.page.get_by_role("searchbox", name="Search emoji")
    expect(search).to_be_focused()
    search.fill(query)
    expect(client.page.locator("#send-form .emoji-status")).to_contain_text("found")


async def test_a_shortcode_shows_as_its_emoji_but_not_in_code(server: Server) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.say("ship it :thumbsup: `:thumbsup:` :no_such_emoji:\n```\n:tada:\n```")
        item = _message(bob, "ship it")
        emoji = item.locator(".text > .emoji")
        expect(emoji).to_have_text("👍", timeout=WAIT_MS)
        expect(emoji).to_have_attribute("title", ":thumbsup:")
        expect(item.locator(".text")).to_have_text(
            "ship it 👍 :thumbsup: :no_such_emoji:\n:tada:\n"
        )
        assert item.locator(".text code").all_text_contents() == [":thumbsup:", ":tada:\n"]
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_a_colon_and_a_name_complete_an_emoji_in_the_composer(server: Server) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        bob.page.click("#composer")
        bob.page.keyboard.type("great :thu")
        options = bob.page.locator("#emoji-suggestions [role=option]")
        expect(options.first).to_have_text("👍 :thumbsup:", timeout=WAIT_MS)
        expect(bob.page.locator("#composer")).to_have_attribute(
            "aria-activedescendant", "emoji-option-0"
        )
        bob.page.keyboard.press("Enter")  # takes the emoji, does not send
        expect(bob.page.locator("#composer")).to_have_value("great 👍 ")
        expect(bob.page.locator("#emoji-suggestions")).to_be_hidden()
        bob.page.keyboard.press("Enter")
        alice.wait_for_message("great 👍")
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_the_pickers_search_finds_an_emoji_and_puts_it_in_the_composer(
    server: Server,
) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        bob.page.fill("#composer", "look: ")
        _picker_search(bob, "unicorn")
        bob.page.keyboard.press("Enter")  # the first found
        expect(bob.page.locator("#send-form .emoji-picker")).to_have_count(0)
        expect(bob.page.locator("#composer")).to_have_value("look: 🦄")
        expect(bob.page.locator("#composer")).to_be_focused()
        bob.page.keyboard.press("Enter")
        alice.wait_for_message("look: 🦄")
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_arrow_keys_move_in_the_picker_enter_picks_and_escape_closes(
    server: Server,
) -> None:
    def scenario(browser):
        (alice,) = registered(browser, server.http, "alice")
        page = alice.page
        _picker_search(alice, "cat face")
        keys = page.keyboard
        keys.press("ArrowDown")  # from the search box to the first found
        found = page.locator("#send-form .emoji-all button.emoji")
        expect(found.first).to_be_focused()
        keys.press("ArrowRight")
        expect(found.nth(1)).to_be_focused()
        keys.press("ArrowLeft")
        keys.press("ArrowUp")  # from the first row: back to the search box
        expect(page.get_by_role("searchbox", name="Search emoji")).to_be_focused()
        keys.press("Escape")
        expect(page.locator("#send-form .emoji-picker")).to_have_count(0)
        expect(page.get_by_role("button", name="Insert an emoji")).to_be_focused()
        # Down moves a row down, in the same column; Enter picks.
        page.get_by_role("button", name="Insert an emoji").click()
        first = page.locator("#send-form .emoji-all button.emoji")
        expect(first.first).to_be_visible(timeout=WAIT_MS)
        page.get_by_role("searchbox", name="Search emoji").press("ArrowDown")
        keys.press("ArrowDown")  # the recent row is one row: the first group's first
        expect(first.first).to_be_focused()
        keys.press("ArrowRight")
        keys.press("ArrowDown")
        focused = page.evaluate("document.activeElement.dataset.emoji")
        boxes = page.evaluate(
            """[...document.querySelectorAll('#send-form .emoji-all button.emoji')]
                .slice(0, 30).map((b) => [b.dataset.emoji, b.getBoundingClientRect().x,
                b.getBoundingClientRect().y])"""
        )
        second = boxes[1]
        below = next(b for b in boxes if b[2] > second[2] and abs(b[1] - second[1]) < 2)
        assert focused == below[0]
        keys.press("Enter")
        expect(page.locator("#composer")).to_have_value(below[0])
        _no_script_errors(alice)

    await in_browser(scenario)


async def test_the_emoji_picked_last_come_first_next_time_even_after_a_reload(
    server: Server,
) -> None:
    def scenario(browser):
        (alice,) = registered(browser, server.http, "alice")
        page = alice.page
        for query in ("unicorn", "rocket"):
            _picker_search(alice, query)
            page.keyboard.press("Enter")
        page.reload()
        alice.wait_online()
        page.get_by_role("button", name="Insert an emoji").click()
        recent = page.get_by_role("group", name="Recent").locator("button.emoji")
        expect(recent).to_have_text(["🚀", "🦄"])
        assert recent.first.get_attribute("aria-label") == "Insert 🚀"
        _no_script_errors(alice)

    await in_browser(scenario)


async def test_a_reaction_from_the_full_picker_reaches_the_other_person(
    server: Server,
) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        bob.say("launch at noon")
        item = _message(alice, "launch at noon")
        item.hover()
        item.get_by_role("button", name="React to bob's message").click()
        picker = item.get_by_role("group", name="Pick a reaction")
        expect(picker.get_by_role("button", name="React with 👍")).to_be_focused()
        alice.page.keyboard.press("ArrowRight")  # the arrows move in it
        expect(picker.get_by_role("button", name="React with ❤️")).to_be_focused()
        alice.page.keyboard.type("rock")  # typing searches
        search = picker.get_by_role("searchbox", name="Search emoji")
        expect(search).to_have_value("rock")
        search.fill("rocket")
        expect(picker.locator(".emoji-status")).to_contain_text("found")
        alice.page.keyboard.press("Enter")
        expect(_message(bob, "launch at noon").locator(".chip")).to_have_text(
            "🚀 1", timeout=WAIT_MS
        )
        expect(item.locator(".picker")).to_have_count(0)
        # And it is the first of the recent ones, next time.
        item.hover()
        item.get_by_role("button", name="React to bob's message").click()
        expect(picker.get_by_role("button", name="React with 🚀")).to_be_focused()
        _no_script_errors(alice, bob)

    await in_browser(scenario)
