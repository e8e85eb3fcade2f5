"""The threads one follows in the browser (chat/static/thread-list.js, threads.js): the
side panel's "Threads" with a badge counting the followed threads with unread replies,
live, across instances; its view listing each with its room, root, unread count and
mention marker, live; one opened in its room's thread panel, read there (while the page
is seen), and so no longer counted (after a reload too); the panel's Follow button; the
view by keyboard and on a phone, and axe-core finding nothing wrong with it."""

from __future__ import annotations

from typing import Any

import httpx
from axe import axe_source, violations_in_both_themes
from browser import DESKTOP, PHONE, SQLITE_ONLY, WAIT_MS, Client, in_browser, open_client
from cluster import Instance
from support import PASSWORD, Server, create_room, http_client
from test_browser import _no_script_errors
from test_browser_cluster import _person_on
from test_browser_threads import NONE, _reply_in_panel, _summary, _thread, pair

__all__ = ["pair"]  # the fixture: two instances of one chat on PostgreSQL


def _badge(client: Client) -> Any:
    return client.page.locator("#threads-badge")


def _listed(client: Client) -> Any:
    """The Threads view's threads, opened from the side panel."""
    if client.page.locator("#threads-view").is_hidden():
        client.page.click("#threads-open")
    return client.page.locator("#thread-list li")


def _reply(server: Server, auth: dict[str, str], room_id: int, root_id: int, text: str) -> None:
    said = httpx.post(
        f"{server.http}/messages/{room_id}", headers=auth, json={"Text": text, "ThreadID": root_id}
    )
    assert said.status_code == 201, said.text


async def test_a_reply_from_another_instance_counts_in_threads_until_it_is_read(
    pair: list[Instance],
) -> None:
    a, b = pair

    def scenario(browser):
        from playwright.sync_api import expect

        # Alice on one instance, bob on the other.
        alice = _person_on(browser, a, "alice")
        bob = _person_on(browser, b, "bob")
        alice.say("release on Friday?")
        bob.wait_for_message("release on Friday?")
        lobby = alice.page.locator("#room-name").text_content()
        alice.create_room("elsewhere")
        expect(_listed(alice)).to_have_count(0)
        expect(alice.page.locator("#threads-status")).to_contain_text("No threads followed yet")
        bob.page.get_by_role("button", name="Reply in thread to alice").click()
        _reply_in_panel(bob, "@alice on it")
        expect(bob.page.locator("#thread-replies .text")).to_have_text(["@alice on it"])
        # Alice, in another room on the other instance, her Threads view open: the badge
        # and the view, live (an activity frame).
        expect(_badge(alice)).to_have_text("1", timeout=WAIT_MS)
        expect(alice.page.locator("#threads-open")).to_have_accessible_name(
            "Threads, 1 with unread replies"
        )
        listed = _listed(alice)
        expect(listed).to_have_count(1)
        expect(alice.page.locator("#threads-view")).to_be_visible()
        expect(listed.locator(".where")).to_have_text(lobby or "")
        expect(listed.locator(".who")).to_have_text("alice")
        expect(listed.locator(".snippet")).to_have_text("release on Friday?")
        expect(listed.locator(".unread-count")).to_have_text("1 unread")
        expect(listed.locator(".mention-mark")).to_be_visible()
        expect(listed.locator("time")).not_to_be_empty()
        # Opened: its room and the panel on it; read there, so counted no more.
        listed.locator("button").click()
        expect(alice.page.locator("#threads-view")).to_be_hidden()
        alice.wait_for_room(lobby or "")
        expect(alice.page.locator("#thread-root .text")).to_have_text("release on Friday?")
        expect(alice.page.locator("#thread-replies .text")).to_have_text(["@alice on it"])
        expect(_badge(alice)).to_be_hidden()
        alice.page.reload()
        alice.wait_online()
        expect(_listed(alice).locator(".snippet")).to_have_text("release on Friday?")
        expect(_listed(alice).locator(".unread-count")).to_have_count(0)
        expect(_badge(alice)).to_be_hidden()
        _no_script_errors(alice, bob)

    await in_browser(scenario)


@SQLITE_ONLY  # tests/browser.py says why
async def test_the_follow_button_shows_what_the_server_says_when_the_panel_opens(
    server: Server,
) -> None:
    # Followed from another device after this page read its list of followed threads
    # (which nothing here reads again: no reply came): the panel asks the server.
    _, bob, room_id, root_id = await _thread(server)

    def scenario(browser):
        from playwright.sync_api import expect

        page = open_client(browser, f"{server.http}/#/room/{room_id}")
        page.log_in("bob", PASSWORD)
        page.wait_for_room("team")
        expect(_listed(page)).to_have_count(0)
        expect(page.page.locator("#threads-status")).to_contain_text("No threads followed yet")
        page.page.press("#threads-view", "Escape")
        page.page.wait_for_timeout(500)  # past the list's own reading again (300 ms)
        followed = httpx.put(f"{server.http}/threads/{root_id}/follow", headers=bob.auth)
        assert followed.status_code == 200, followed.text
        page.page.get_by_role("button", name="Reply in thread to alice").click()
        follow = page.page.get_by_role("button", name="Follow this thread")
        expect(follow).to_have_attribute("aria-pressed", "true")
        follow.click()
        expect(follow).to_have_attribute("aria-pressed", "false")
        asked = httpx.get(f"{server.http}/threads/{root_id}/follow", headers=bob.auth)
        assert asked.json()["Following"] is False
        _no_script_errors(page)

    await in_browser(scenario)


@SQLITE_ONLY  # tests/browser.py says why
async def test_an_unfollowed_thread_stops_counting_and_following_it_again_counts_again(
    server: Server,
) -> None:
    alice, bob, room_id, root_id = await _thread(server, "on it")
    await create_room(server, alice, "elsewhere")

    def scenario(browser):
        from playwright.sync_api import expect

        page = open_client(browser, f"{server.http}/#/room/{room_id}")
        page.log_in("alice", PASSWORD)
        page.wait_for_room("team")
        expect(_badge(page)).to_have_text("1")
        _summary(page, "deploy at 5?").click()
        follow = page.page.get_by_role("button", name="Follow this thread")
        expect(follow).to_have_attribute("aria-pressed", "true")
        expect(_badge(page)).to_be_hidden()
        follow.click()
        expect(follow).to_have_attribute("aria-pressed", "false")
        expect(follow).to_be_focused()
        # Elsewhere, a later reply: not counted, and the thread is not listed.
        page.page.locator("#rooms button", has_text="elsewhere").click()
        page.wait_for_room("elsewhere")
        _reply(server, bob.auth, room_id, root_id, "ready")
        expect(_listed(page)).to_have_count(0)
        expect(page.page.locator("#threads-status")).to_contain_text("No threads followed yet")
        expect(_badge(page)).to_be_hidden()
        page.page.press("#threads-view", "Escape")
        # Followed again: from its newest reply on, the next one counts.
        page.page.locator("#rooms button", has_text="team").click()
        page.wait_for_room("team")
        _summary(page, "deploy at 5?").click()
        expect(page.page.locator("#thread-replies .text")).to_have_text(["on it", "ready"])
        expect(follow).to_have_attribute("aria-pressed", "false")
        follow.click()
        expect(follow).to_have_attribute("aria-pressed", "true")
        page.page.locator("#rooms button", has_text="elsewhere").click()
        page.wait_for_room("elsewhere")
        _reply(server, bob.auth, room_id, root_id, "shipped")
        expect(_badge(page)).to_have_text("1", timeout=WAIT_MS)
        expect(_listed(page).locator(".unread-count")).to_have_text("1 unread")
        _no_script_errors(page)

    await in_browser(scenario)


#: The page as if its tab were hidden, or seen again (document.visibilityState).
_SEEN = """(seen) => {
  const value = seen ? "visible" : "hidden";
  Object.defineProperty(document, "visibilityState", { value, configurable: true });
  document.dispatchEvent(new Event("visibilitychange"));
}"""


@SQLITE_ONLY
async def test_a_reply_shown_while_the_page_is_hidden_is_read_once_it_is_seen(
    server: Server,
) -> None:
    _alice, bob, room_id, root_id = await _thread(server, "on it")

    def scenario(browser):
        from playwright.sync_api import expect

        page = open_client(browser, f"{server.http}/#/room/{room_id}")
        page.log_in("alice", PASSWORD)
        page.wait_for_room("team")
        _summary(page, "deploy at 5?").click()
        expect(page.page.locator("#thread-replies .text")).to_have_text(["on it"])
        expect(_badge(page)).to_be_hidden()
        page.page.evaluate(_SEEN, False)
        _reply(server, bob.auth, room_id, root_id, "ready")
        expect(page.page.locator("#thread-replies .text")).to_have_text(["on it", "ready"])
        expect(_badge(page)).to_have_text("1", timeout=WAIT_MS)
        page.page.evaluate(_SEEN, True)
        expect(_badge(page)).to_be_hidden()
        _no_script_errors(page)

    await in_browser(scenario)


@SQLITE_ONLY
async def test_the_threads_view_is_reached_by_tab_and_closed_by_escape(server: Server) -> None:
    await _thread(server, "on it")

    def scenario(browser):
        from playwright.sync_api import expect

        page = open_client(browser, server.http)
        page.log_in("alice", PASSWORD)
        expect(_badge(page)).to_have_text("1")
        page.page.locator("#rooms button").first.focus()
        page.page.keyboard.press("Shift+Tab")
        entry = page.page.locator("#threads-open")
        expect(entry).to_be_focused()
        page.page.keyboard.press("Enter")
        expect(page.page.locator("#threads-view")).to_be_visible()
        expect(entry).to_have_attribute("aria-expanded", "true")
        expect(page.page.locator("#room")).to_be_hidden()
        # The list is drawn once the thread's root is read: Tab reaches it after that.
        expect(page.page.locator("#thread-list li button")).to_be_visible()
        page.page.keyboard.press("Tab")
        expect(page.page.get_by_role("button", name="Back to the conversation")).to_be_focused()
        page.page.keyboard.press("Tab")
        expect(page.page.locator("#thread-list li button")).to_be_focused()
        page.page.keyboard.press("Escape")
        expect(page.page.locator("#threads-view")).to_be_hidden()
        expect(page.page.locator("#room")).to_be_visible()
        expect(entry).to_be_focused()
        # Again, and Enter on the thread: its panel, where Escape closes it.
        page.page.keyboard.press("Enter")
        page.page.locator("#thread-list li button").focus()
        page.page.keyboard.press("Enter")
        expect(page.page.locator("#thread-composer")).to_be_focused()
        expect(page.page.locator("#thread-replies .text")).to_have_text(["on it"])
        expect(_badge(page)).to_be_hidden()
        page.page.keyboard.press("Escape")
        expect(page.page.locator("#thread-panel")).to_be_hidden()
        _no_script_errors(page)

    await in_browser(scenario)


@SQLITE_ONLY
async def test_on_a_phone_the_threads_view_opens_from_the_rooms_panel_and_opens_a_thread(
    server: Server,
) -> None:
    await _thread(server, "on it")

    def scenario(browser):
        from playwright.sync_api import expect

        page = open_client(browser, server.http, screen=PHONE)
        page.log_in("alice", PASSWORD)
        page.wait_room_shown()
        page.tap_on_screen("#menu")
        expect(_badge(page)).to_have_text("1")
        page.tap_on_screen("#threads-open")
        expect(page.page.locator("#sidebar")).to_be_hidden()
        page.assert_on_screen("#thread-list li .unread-count")
        page.assert_on_screen("#threads-close")
        page.tap_on_screen("#thread-list li button")
        panel = page.page.locator("#thread-panel")
        expect(panel).to_be_visible()
        box = panel.bounding_box()
        assert box is not None and box["x"] == 0 and box["width"] == 390, box
        expect(page.page.locator("#thread-replies .text")).to_have_text(["on it"])
        page.assert_on_screen("#thread-follow")
        page.tap_on_screen("#thread-close")
        expect(panel).to_be_hidden()
        page.tap_on_screen("#menu")
        expect(_badge(page)).to_be_hidden()
        _no_script_errors(page)

    await in_browser(scenario)


@SQLITE_ONLY
async def test_axe_finds_nothing_wrong_with_the_threads_view(server: Server) -> None:
    source = await axe_source()
    alice, bob, room_id, _root_id = await _thread(server, "@alice on it", "ready at 5")
    # A second thread, bob's, that alice answered: followed, read.
    async with http_client(server) as client:
        root = await client.post(
            f"/messages/{room_id}", headers=bob.auth, json={"Text": "lunch at the usual place?"}
        )
        answer = await client.post(
            f"/messages/{room_id}",
            headers=alice.auth,
            json={"Text": "yes", "ThreadID": root.json()["MessageID"]},
        )
        assert answer.status_code == 201, answer.text

    def scenario(browser):
        from playwright.sync_api import expect

        for screen, name in ((DESKTOP, "threads-view"), (PHONE, "threads-view-phone")):
            page = open_client(browser, f"{server.http}/#/room/{room_id}", screen=screen)
            page.log_in("alice", PASSWORD)
            page.wait_for_room("team")
            if screen is PHONE:
                page.tap_on_screen("#menu")
            expect(_badge(page)).to_have_text("1")
            expect(_listed(page)).to_have_count(2)
            expect(_listed(page).first.locator(".unread-count")).to_have_text("2 unread")
            assert violations_in_both_themes(page, source) == NONE, name
            page.screenshot_in_both_themes(name)
            _no_script_errors(page)

    await in_browser(scenario)


@SQLITE_ONLY
async def test_a_search_takes_the_threads_views_place_and_back_shows_the_room(
    server: Server,
) -> None:
    await _thread(server, "on it")

    def scenario(browser):
        from playwright.sync_api import expect

        page = open_client(browser, server.http)
        page.log_in("alice", PASSWORD)
        expect(_listed(page)).to_have_count(1)
        page.page.fill("#search-q", "deploy")
        page.page.press("#search-q", "Enter")
        expect(page.page.locator("#search-view")).to_be_visible()
        expect(page.page.locator("#threads-view")).to_be_hidden()
        expect(page.page.locator("#threads-open")).to_have_attribute("aria-expanded", "false")
        page.page.click("#search-close")
        expect(page.page.locator("#room")).to_be_visible()
        expect(page.page.locator("#threads-view")).to_be_hidden()
        _no_script_errors(page)

    await in_browser(scenario)
