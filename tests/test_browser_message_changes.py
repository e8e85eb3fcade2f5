"""The browser client's changes to messages: edits, deletions and reactions, made in one
page and seen in the others, in real headless Chromium pages against a real server.
(The same across two instances of a cluster, with a page resuming after being away, is
in test_browser_cluster.py.)"""

from __future__ import annotations

import os
from typing import Any

import trio
from browser import PHONE, SQLITE_ONLY, WAIT_MS, Client, in_browser, open_client, registered
from support import Server, account, http_client
from test_browser import _no_script_errors

pytestmark = SQLITE_ONLY  # tests/browser.py says why


def expect(locator: Any) -> Any:
    """Playwright's `expect` (imported when a browser runs: without Playwright the tests
    skip, or fail under CI=true, in `in_browser`)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def _message(client: Client, text: str):
    """The item of the (first) message showing `text`."""
    return client.page.locator("#messages li[data-id]").filter(has_text=text).first


def _act(client: Client, text: str, action: str):
    """Hover over the message showing `text` and click its button named `action`; the
    message's item."""
    item = _message(client, text)
    item.hover()
    item.get_by_role("button", name=action).click()
    return item


def _sent(client: Client, kind: str) -> list[dict]:
    return [f for f in client.frames_sent if isinstance(f, dict) and f.get("Type") == kind]


async def test_an_edit_shows_for_the_other_person_marked_edited_with_its_versions(
    server: Server,
) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.say("lunch at *noon*?")
        bob.wait_for_message("lunch at noon?")
        mine = _act(alice, "lunch at noon?", "Edit your message")
        box = mine.get_by_role("textbox", name="Edit the message")
        expect(box).to_have_value("lunch at *noon*?")  # the text as written
        box.press("End")
        box.press("Shift+Enter")  # a new line, not a save
        box.type("or **one**")
        alice.screenshot("editing")
        box.press("Enter")
        bob.wait_for_message("or one")
        theirs = _message(bob, "or one")
        assert theirs.locator(".text").inner_text() == "lunch at noon?\nor one"
        assert theirs.locator(".text strong").inner_text() == "one"  # formatted again
        expect(alice.page.locator("#messages .editor")).to_have_count(0)  # saved: closed
        edited = theirs.get_by_role("button", name="(edited)")
        expect(edited).to_be_visible()
        edited.click()
        versions = theirs.get_by_role("region", name="Edit history")
        expect(versions.locator(".version-text")).to_have_text(
            ["lunch at *noon*?", "lunch at *noon*?\nor **one**"], timeout=WAIT_MS
        )
        assert any(r.endswith("/edits") for r in bob.requests)
        bob.screenshot("edit-history")
        versions.get_by_role("button", name="Close the edit history").click()
        expect(versions).to_have_count(0)
        assert _sent(alice, "edit")[-1]["Text"] == "lunch at *noon*?\nor **one**"
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_escape_cancels_an_edit_and_nothing_is_sent(server: Server) -> None:
    def scenario(browser):
        (alice,) = registered(browser, server.http, "alice")
        alice.say("as it was")
        alice.wait_for_message("as it was")
        mine = _act(alice, "as it was", "Edit your message")
        box = mine.get_by_role("textbox", name="Edit the message")
        box.fill("never sent")
        box.press("Escape")
        expect(box).to_have_count(0)
        assert alice.message_texts() == ["as it was"]
        assert _sent(alice, "edit") == []
        _no_script_errors(alice)

    await in_browser(scenario)


async def test_the_up_arrow_in_an_empty_composer_edits_ones_last_message(
    server: Server,
) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.say("first")
        alice.say("second, with a typo: teh")
        alice.wait_for_message("typo: teh")  # confirmed, so bob's comes after
        bob.say("bob's, not alice's")
        alice.wait_for_message("bob's, not alice's")
        alice.page.press("#send-form [name=text]", "ArrowUp")
        box = _message(alice, "teh").get_by_role("textbox", name="Edit the message")
        expect(box).to_be_focused()
        box.fill("second, with a typo: the")
        box.press("Enter")
        bob.wait_for_message("typo: the")
        assert bob.message_texts() == ["first", "second, with a typo: the", "bob's, not alice's"]
        expect(alice.page.locator("#send-form [name=text]")).to_be_focused()  # back there
        # With something typed, the Up arrow is the composer's own.
        alice.page.fill("#send-form [name=text]", "a draft")
        alice.page.press("#send-form [name=text]", "ArrowUp")
        expect(alice.page.locator("#messages .editor")).to_have_count(0)
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_deleting_asks_first_then_shows_message_deleted_for_both_and_in_replies(
    server: Server,
) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.say("a secret")
        bob.wait_for_message("a secret")
        theirs = _act(bob, "a secret", "Reply to alice")
        bob.say("what secret?")
        alice.wait_for_message("what secret?")
        # Bob may not delete alice's message (it is not his, nor his room).
        expect(theirs.get_by_role("button", name="Delete alice's message")).to_have_count(0)
        mine = _act(alice, "a secret", "Delete alice's message")
        question = mine.get_by_role("group", name="Delete this message?")
        alice.screenshot("delete-question")
        question.get_by_role("button", name="Cancel").click()  # not yet
        expect(question).to_have_count(0)
        assert _sent(alice, "delete") == []
        mine.get_by_role("button", name="Delete alice's message").click()
        question.get_by_role("button", name="Yes, delete").click()
        for client in (alice, bob):
            client.wait_for_message("message deleted")
            assert client.message_texts() == ["message deleted", "what secret?"]
            gone = client.page.locator("#messages li.deleted")
            expect(gone.locator(".actions")).to_have_count(0)  # nothing more to do with it
            reply = client.page.locator("#messages li.reply .quote")
            expect(reply).to_have_text("↪ alice: message deleted")
            expect(reply).to_have_class("quote deleted")
        assert "a secret" not in bob.page.text_content("#messages")
        bob.screenshot("deleted")
        # After a reload, from the history: the same.
        bob.page.reload()
        bob.wait_online()
        bob.wait_for_message("what secret?")
        assert bob.message_texts() == ["message deleted", "what secret?"]
        expect(bob.page.locator("#messages li.reply .quote")).to_have_text(
            "↪ alice: message deleted"
        )
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_the_creator_of_a_room_may_delete_anyones_message_there(server: Server) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        bob.create_room("bobs-room")
        bob.invite("alice")
        alice.wait_for_text("#rooms button", "bobs-room")
        alice.page.locator("#rooms button", has_text="bobs-room").click()
        alice.wait_for_room("bobs-room")
        alice.say("spam, spam, spam")
        bob.wait_for_message("spam, spam, spam")
        # Bob may delete alice's message in his room (not edit it); she may not delete his.
        _act(bob, "spam", "Delete alice's message")
        expect(_message(bob, "spam").locator(".edit-button")).to_have_count(0)
        bob.page.get_by_role("button", name="Yes, delete").click()
        alice.wait_for_message("message deleted")
        bob.say("tidy again")
        alice.wait_for_message("tidy again")
        expect(_message(alice, "tidy again").locator(".delete-button")).to_have_count(0)
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_reactions_show_as_chips_for_both_and_a_chip_toggles_ones_own(
    server: Server,
) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.say("we shipped it")
        bob.wait_for_message("we shipped it")
        mine = _act(alice, "we shipped it", "React to alice's message")
        mine.get_by_role("button", name="React with 🎉").click()
        expect(mine.get_by_role("group", name="Pick a reaction")).to_have_count(0)
        theirs = _message(bob, "we shipped it")
        chip = theirs.locator(".chip")
        expect(chip).to_have_text("🎉 1", timeout=WAIT_MS)
        expect(chip).to_have_attribute("aria-pressed", "false")
        assert chip.get_attribute("title") == "alice"
        chip.click()  # bob joins in
        for client in (alice, bob):
            expect(_message(client, "we shipped it").locator(".chip")).to_have_text("🎉 2")
        expect(chip).to_have_attribute("aria-pressed", "true")
        assert chip.get_attribute("title") == "you and alice"
        expect(mine.locator(".chip")).to_have_attribute("aria-pressed", "true")
        alice.screenshot("reactions")
        chip.click()  # and takes it back
        expect(mine.locator(".chip")).to_have_text("🎉 1", timeout=WAIT_MS)
        expect(chip).to_have_attribute("aria-pressed", "false")
        assert [f["Type"] for f in _sent(bob, "react") + _sent(bob, "unreact")] == [
            "react",
            "unreact",
        ]
        # A picker opened by mistake closes with a click elsewhere.
        _act(bob, "we shipped it", "React to alice's message")
        expect(theirs.locator(".picker")).to_be_visible()
        bob.page.click("#room-name")
        expect(theirs.locator(".picker")).to_have_count(0)
        # Alice takes hers back too: no chips at all.
        mine.locator(".chip").click()
        expect(theirs.locator(".chip")).to_have_count(0, timeout=WAIT_MS)
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_in_a_direct_conversation_messages_are_reacted_to_and_edited_too(
    server: Server,
) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.send_direct("bob", "between us")
        for client, other in ((alice, "bob"), (bob, "alice")):
            client.wait_for_text("#rooms button", f"with {other}")
            client.page.locator("#rooms button", has_text=f"with {other}").click()
            client.wait_for_room(f"with {other}")
            client.wait_for_message("between us")
        _act(bob, "between us", "React to alice's message")
        bob.page.get_by_role("button", name="React with ❤️").click()
        alice.wait_for_text("#messages .chip", "❤️ 1")
        _act(alice, "between us", "Edit your message")
        alice.page.keyboard.type(", really")
        alice.page.keyboard.press("Enter")
        bob.wait_for_message("between us, really")
        expect(_message(bob, "really").locator(".edited")).to_be_visible()
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_an_error_answering_a_change_is_shown_under_its_message(server: Server) -> None:
    def scenario(browser):
        (alice,) = registered(browser, server.http, "alice")
        alice.say("keep me")
        alice.wait_for_message("keep me")
        alice.page.press("#send-form [name=text]", "ArrowUp")
        box = _message(alice, "keep me").get_by_role("textbox", name="Edit the message")
        box.fill("   ")
        box.press("Enter")
        problem = _message(alice, "keep me").locator(".problem")
        expect(problem).to_have_text("message text must not be empty", timeout=WAIT_MS)
        expect(box).to_be_visible()  # what was typed is still there to fix
        assert alice.page.locator("#error").is_hidden()
        box.fill("keep me, please")
        box.press("Enter")
        alice.wait_for_message("keep me, please")
        expect(problem).to_have_count(0)
        _no_script_errors(alice)

    await in_browser(scenario)


async def test_a_change_to_a_message_further_back_than_the_page_is_ignored_until_loaded(
    server: Server,
) -> None:
    writer = await account(server, "writer")
    async with http_client(server) as client:
        first = await client.post("/messages/1", json={"Text": "the oldest"}, headers=writer.auth)
        for i in range(60):  # more than the page's first page of history
            await client.post("/messages/1", json={"Text": f"m{i}"}, headers=writer.auth)
    old_id = first.json()["MessageID"]

    async def edit_the_oldest() -> None:
        async with http_client(server) as client:
            edited = await client.patch(
                f"/messages/1/{old_id}", json={"Text": "the oldest, edited"}, headers=writer.auth
            )
            assert edited.status_code == 200, edited.text

    token = trio.lowlevel.current_trio_token()

    def scenario(browser):
        (reader,) = registered(browser, server.http, "reader")
        reader.wait_for_message("m59")
        trio.from_thread.run(edit_the_oldest, trio_token=token)
        reader.say("after the edit")  # the edit's frame came before this one
        reader.wait_for_message("after the edit")
        reader.page.click("#older")
        reader.wait_for_message("the oldest, edited")
        assert "(edited)" in _message(reader, "the oldest, edited").inner_text()
        _no_script_errors(reader)

    await in_browser(scenario)


async def test_on_a_phone_a_messages_actions_are_on_screen_and_work(server: Server) -> None:
    def scenario(browser):
        alice = open_client(browser, server.http, screen=PHONE)
        alice.register("alice-with-a-longish-name")
        (bob,) = registered(browser, server.http, "bob")
        bob.say("hello from a desktop, with a line long enough to wrap on a phone")
        alice.wait_for_message("hello from a desktop")
        alice.say("hello from a phone")
        alice.wait_for_message("hello from a phone")
        texts = ("desktop", "from a phone")
        ids = [_message(alice, text).get_attribute("data-id") for text in texts]
        theirs, mine = (f'#messages li[data-id="{i}"]' for i in ids)
        # No hovering on a phone: each message's "⋯" opens its actions, to tap.
        alice.tap_on_screen(f"{theirs} .more-button")
        alice.tap_on_screen(f"{theirs} .react-button")
        alice.tap_on_screen(f'{theirs} .picker button[aria-label="React with 👍"]')
        alice.wait_for_text(f"{theirs} .chip", "👍 1")
        alice.tap_on_screen(f"{mine} .more-button")
        alice.tap_on_screen(f"{mine} .edit-button")
        alice.assert_on_screen(f"{mine} .editor textarea")
        alice.page.fill(f"{mine} .editor textarea", "hello from a phone, edited")
        alice.tap_on_screen(f"{mine} .editor button[type=submit]")
        bob.wait_for_message("hello from a phone, edited")
        alice.tap_on_screen(f"{mine} .edited")
        alice.assert_on_screen(f"{mine} .versions")
        bob.wait_for_text("#messages .chip", "👍 1")
        assert alice.fits_sideways()
        alice.screenshot("changes-phone")
        alice.tap_on_screen(f"{mine} .more-button")
        alice.tap_on_screen(f"{mine} .delete-button")
        alice.tap_on_screen(f"{mine} .confirm .danger")
        bob.wait_for_message("message deleted")
        assert alice.fits_sideways()
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_on_a_phone_a_long_press_on_a_message_opens_its_reactions(server: Server) -> None:
    def scenario(browser):
        alice = open_client(browser, server.http, screen=PHONE)
        alice.register("alice")
        (bob,) = registered(browser, server.http, "bob")
        bob.say("press and hold me")
        theirs = _message(alice, "press and hold me")
        expect(theirs).to_be_visible(timeout=WAIT_MS)
        # A phone's browser turns a long press into a contextmenu event.
        theirs.locator(".text").dispatch_event("contextmenu")
        picker = theirs.get_by_role("group", name="Pick a reaction")
        expect(picker).to_be_visible()
        alice.tap_on_screen(
            f'#messages li[data-id="{theirs.get_attribute("data-id")}"]'
            ' .picker button[aria-label="React with ❤️"]'
        )
        expect(_message(bob, "press and hold me").locator(".chip")).to_have_text(
            "❤️ 1", timeout=WAIT_MS
        )
        # On a desktop a right click keeps the browser's own menu: no picker.
        mine = _message(bob, "press and hold me")
        mine.locator(".text").dispatch_event("contextmenu")
        expect(mine.locator(".picker")).to_have_count(0)
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_screenshots_of_a_conversation_with_edits_deletions_and_reactions(
    server: Server,
) -> None:
    if not os.environ.get("CHAT_SCREENSHOT_DIR"):
        return

    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        phone = open_client(browser, server.http, screen=PHONE)
        phone.register("carol")
        alice.say("Release notes are up: https://example.com/notes")
        alice.say("Deploy at 15:00")
        alice.wait_for_message("Deploy at")  # confirmed, so bob's comes after
        bob.say("I'll be late, sorry")
        bob.wait_for_message("sorry")
        for text in ("Release notes", "Deploy at"):
            item = _message(bob, text)
            item.hover()
            item.locator(".react-button").click()
            item.get_by_role("button", name="React with 👍").click()
        item = _message(alice, "Deploy at")
        item.hover()
        item.locator(".react-button").click()
        item.get_by_role("button", name="React with 🎉").click()
        alice.page.press("#send-form [name=text]", "ArrowUp")
        alice.page.fill("#messages .editor textarea", "Deploy at **16:00** (moved)")
        alice.page.press("#messages .editor textarea", "Enter")
        own = _message(bob, "sorry")
        own.hover()
        own.locator(".delete-button").click()
        own.locator(".confirm .danger").click()
        for client in (alice, bob, phone):
            client.wait_for_message("message deleted")
            client.wait_for_text("#messages .chip", "🎉 1")
            client.wait_for_message("16:00")
        bob.say("On my way")
        phone.wait_for_message("On my way")
        item = _message(alice, "On my way")
        item.hover()
        item.locator(".react-button").click()
        alice.screenshot("changes-desktop")
        phone.page.locator("#messages .edited").tap()
        phone.page.locator("#messages .versions").wait_for(timeout=WAIT_MS)
        phone.screenshot("changes-phone-conversation")
        assert phone.fits_sideways()
        _no_script_errors(alice, bob, phone)

    await in_browser(scenario)
