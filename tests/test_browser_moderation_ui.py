"""Moderation as the page shows it (chat/static/confirm.js, moderation.js, reports.js,
notices.js, links.js, room-settings.js, people.js): removing, banning and deleting a
reported message are asked first; a banned member is told until when, and the room
leaves their directory; notices close; the Reports button counts open reports live;
"Copy link" on a room or a message gives a link that "Link to a room" opens (which also
takes a room's name); a conversation with an erased account is shown closed; the lobby
lists its people without a console error.

Where a frame crosses people (a ban, the reports count), the two pages are on two
instances of one chat as well as on one SQLite server (test_browser_moderation's
`places`); the rest run on one SQLite server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from axe import axe_source, violations_in_both_themes
from browser import DESKTOP, WAIT_MS, Client, in_browser, open_client
from support import PASSWORD, TLS, Server, account, create_room, server_config, start_server
from test_browser import _no_script_errors
from test_browser_moderation import (
    Ops,
    _api,
    _confirm,
    _in_room,
    _message,
    _open_person_menu,
    _pages,
    _person,
    _wait_gone_to_the_lobby,
    expect,
    ops,
    places,
)

__all__ = ["ops", "places"]  # the fixtures, shared with test_browser_moderation.py

#: A page that may write to the clipboard and read it back.
CLIPBOARD = {**DESKTOP, "permissions": ["clipboard-read", "clipboard-write"]}

#: What axe-core finds wrong in each theme: nothing (violations_in_both_themes).
NONE = {"light": [], "dark": []}


@pytest.fixture
async def solo(tmp_path: Path, nursery: trio.Nursery) -> tuple[Server, Ops]:
    """One server on SQLite, and the room "ops" of alice (owner), bob and carol."""
    server = await start_server(nursery, server_config(tmp_path, None))
    alice, bob, carol = [await account(server, name) for name in ("alice", "bob", "carol")]
    return server, Ops(await create_room(server, alice, "ops", bob, carol), alice, bob, carol)


def _clock(client: Client, when: str) -> str:
    """`when` as the page says a time (moderation.js's clock)."""
    return client.page.evaluate(
        """(when) => {
            const time = new Date(when);
            return time.toDateString() === new Date().toDateString()
                ? time.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" })
                : time.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
        }""",
        when,
    )


def _cancel(client: Client) -> None:
    dialog = client.page.get_by_role("dialog")
    expect(dialog).to_be_visible(timeout=WAIT_MS)
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()


async def test_remove_asks_first_and_cancel_keeps_the_member(solo: tuple[Server, Ops]) -> None:
    server, ops_room = solo

    def scenario(browser):
        alice, carol = _pages(browser, (server, server), ops_room, "alice", "carol")
        _open_person_menu(alice, "carol")
        alice.page.get_by_role("button", name="Remove from the room").click()
        expect(alice.page.locator("#confirm-question")).to_have_text(
            "Remove carol from ops? They can join it again if it is public."
        )
        # The safe answer has the focus; Cancel keeps her in.
        expect(alice.page.get_by_role("button", name="Cancel")).to_be_focused()
        _cancel(alice)
        alice.page.wait_for_timeout(500)
        carol.wait_for_room("ops")
        expect(_person(alice, "carol")).to_have_count(1)
        assert alice.page.text_content("#person-menu-status") == ""
        # Escape is a cancel too.
        alice.page.get_by_role("button", name="Remove from the room").click()
        alice.page.keyboard.press("Escape")
        expect(alice.page.get_by_role("dialog")).to_be_hidden()
        alice.page.get_by_role("button", name="Remove from the room").click()
        _confirm(alice, "Remove")
        _wait_gone_to_the_lobby(carol, "alice removed you from ops.")
        _no_script_errors(alice, carol)

    await in_browser(scenario)


async def test_a_ban_asks_first_then_the_member_is_told_and_the_room_leaves_their_directory(
    places: tuple[Server, Server], ops: Ops
) -> None:
    def scenario(browser):
        alice, carol = _pages(browser, places, ops, "alice", "carol")
        _open_person_menu(alice, "carol")
        alice.page.get_by_label("Reason (optional)").fill("spam")
        alice.page.get_by_role("button", name="Ban", exact=True).click()
        expect(alice.page.locator("#confirm-question")).to_have_text(
            "Ban carol from ops? They are taken out and cannot come back until the ban is lifted."
        )
        _cancel(alice)
        alice.page.wait_for_timeout(500)
        carol.wait_for_room("ops")
        alice.page.get_by_role("button", name="Ban", exact=True).click()
        _confirm(alice, "Ban")
        _wait_gone_to_the_lobby(carol, "alice banned you from ops permanently: spam")
        # The directory lists the public rooms she may join: not this one.
        carol.page.wait_for_timeout(500)
        expect(carol.page.locator("#directory button", has_text="ops")).to_have_count(0)
        carol.page.reload()
        carol.wait_online()
        carol.page.wait_for_timeout(500)
        expect(carol.page.locator("#directory button", has_text="ops")).to_have_count(0)
        _no_script_errors(alice, carol)

    await in_browser(scenario)


async def test_a_ban_for_a_time_tells_the_member_until_when(solo: tuple[Server, Ops]) -> None:
    server, ops_room = solo

    def scenario(browser):
        carol = _in_room(browser, server, "carol", ops_room.room_id)
        # alice bans her for an hour (this thread may wait: it is the browser's).
        answer = httpx.put(
            f"{server.http}/room/{ops_room.room_id}/bans/{ops_room.carol.uid}",
            headers=ops_room.alice.auth,
            json={"Seconds": 3600},
            verify=TLS,
        )
        assert answer.status_code == 200, answer.text
        until = _clock(carol, answer.json()["Until"])
        _wait_gone_to_the_lobby(carol, f"alice banned you from ops until {until}.")
        _no_script_errors(carol)

    await in_browser(scenario)


async def test_deleting_a_reported_message_asks_first(solo: tuple[Server, Ops]) -> None:
    server, ops_room = solo
    posted = await _api(
        server, ops_room.carol, "POST", f"/messages/{ops_room.room_id}", {"Text": "buy now"}
    )
    await _api(server, ops_room.bob, "POST", "/reports", {"MessageID": posted["MessageID"]})

    def scenario(browser):
        alice, carol = _pages(browser, (server, server), ops_room, "alice", "carol")
        alice.page.get_by_role("button", name="Reports").click()
        report = alice.page.locator("#reports li")
        expect(report).to_have_count(1, timeout=WAIT_MS)
        report.get_by_role("button", name="Delete the message").click()
        expect(alice.page.locator("#confirm-question")).to_have_text(
            "Delete carol's message for everyone?"
        )
        _cancel(alice)
        alice.page.wait_for_timeout(500)
        expect(report.locator(".reported-text")).to_have_text("buy now")
        carol.wait_for_message("buy now")
        report.get_by_role("button", name="Delete the message").click()
        _confirm(alice, "Delete it")
        expect(report.locator(".reported-text")).to_have_text("message deleted", timeout=WAIT_MS)
        carol.wait_for_message("message deleted")
        _no_script_errors(alice, carol)

    await in_browser(scenario)


async def test_a_notice_and_an_error_close_with_their_buttons(solo: tuple[Server, Ops]) -> None:
    server, ops_room = solo

    def scenario(browser):
        bob = _in_room(browser, server, "bob", ops_room.room_id)
        bob.page.get_by_role("button", name="Leave").click()
        bob.page.locator("#leave-dialog").get_by_role("button", name="Leave").click()
        notice = bob.page.locator("#notice")
        expect(notice).to_have_text("You left ops.", timeout=WAIT_MS)
        close = bob.page.get_by_role("button", name="Close the notice")
        expect(close).to_be_visible()
        # Once in the lobby (entering a room gives the message box the focus), reached
        # by Tab from the header's last button, closed by Enter.
        expect(bob.page.locator("#room-name")).to_have_text("lobby", timeout=WAIT_MS)
        bob.page.focus("#logout")
        bob.page.keyboard.press("Tab")
        expect(close).to_be_focused()
        bob.page.keyboard.press("Enter")
        expect(notice).to_be_hidden()
        expect(close).to_be_hidden()
        # An error closes the same way.
        bob.page.fill("#room-link", "no such room anywhere")
        bob.page.click("#join-room-form button")
        error = bob.page.locator("#error")
        expect(error).to_contain_text('No room called "no such room anywhere"', timeout=WAIT_MS)
        bob.page.get_by_role("button", name="Close the error").click()
        expect(error).to_be_hidden()
        _no_script_errors(bob)

    await in_browser(scenario)


async def test_the_reports_button_counts_open_reports_live(
    places: tuple[Server, Server], ops: Ops
) -> None:
    a, b = places

    def scenario(browser):
        alice = _in_room(browser, a, "alice", ops.room_id)
        bob, carol = (
            _in_room(browser, b, "bob", ops.room_id),
            _in_room(browser, b, "carol", ops.room_id),
        )
        count = alice.page.locator("#room-reports .count")
        expect(alice.page.locator("#room-reports")).to_be_visible()
        expect(count).to_be_hidden()
        carol.say("you are all idiots")
        bob.wait_for_message("you are all idiots")
        item = _message(bob, "you are all idiots")
        item.hover()
        item.get_by_role("button", name="Report carol's message").click()
        item.get_by_role("button", name="Report it").click()
        # Alice, on the other instance, sees it counted at once.
        expect(count).to_have_text("1", timeout=WAIT_MS)
        expect(alice.page.get_by_role("button", name="Reports 1")).to_be_visible()
        alice.page.get_by_role("button", name="Reports").click()
        alice.page.locator("#reports li").get_by_role("button", name="Resolve").click()
        expect(count).to_be_hidden(timeout=WAIT_MS)
        _no_script_errors(alice, bob, carol)

    await in_browser(scenario)


def _copied(client: Client) -> str:
    return client.page.evaluate("navigator.clipboard.readText()")


async def test_a_rooms_copied_link_pasted_into_link_to_a_room_opens_it(
    solo: tuple[Server, Ops],
) -> None:
    server, ops_room = solo
    await create_room(server, ops_room.alice, "books")

    def scenario(browser):
        alice = open_client(browser, server.http, screen=CLIPBOARD)
        alice.log_in("alice", PASSWORD)
        alice.page.locator("#rooms button", has_text="books").click()
        alice.wait_for_room("books")
        alice.page.get_by_role("button", name="Copy link to this room").click()
        expect(alice.page.locator("#notice")).to_contain_text("copied", timeout=WAIT_MS)
        link = _copied(alice)
        assert re.fullmatch(rf"{re.escape(server.http)}/#/room/\d+", link), link
        carol = open_client(browser, server.http)
        carol.log_in("carol", PASSWORD)
        carol.page.fill("#room-link", link)
        carol.page.click("#join-room-form button")
        carol.wait_for_room("books")
        _no_script_errors(alice, carol)

    await in_browser(scenario)


async def test_a_messages_copied_link_opens_the_room_on_that_message(
    solo: tuple[Server, Ops],
) -> None:
    server, ops_room = solo

    def scenario(browser):
        alice = open_client(browser, f"{server.http}/#/room/{ops_room.room_id}", screen=CLIPBOARD)
        alice.log_in("alice", PASSWORD)
        alice.wait_for_room("ops")
        alice.say("the plan is on the wiki")
        alice.wait_for_message("the plan is on the wiki")
        item = _message(alice, "the plan is on the wiki")
        item.hover()
        item.get_by_role("button", name="Copy link to alice's message").click()
        expect(alice.page.locator("#notice")).to_contain_text("copied", timeout=WAIT_MS)
        link = _copied(alice)
        assert "/message/" in link, link
        bob = open_client(browser, server.http)
        bob.log_in("bob", PASSWORD)
        bob.page.fill("#room-link", link)
        bob.page.click("#join-room-form button")
        bob.wait_for_room("ops")
        found = bob.page.locator("#messages li.found")
        expect(found).to_contain_text("the plan is on the wiki", timeout=WAIT_MS)
        # Opened as the page's address, the same link lands on the message too.
        carol = open_client(browser, link)
        carol.log_in("carol", PASSWORD)
        carol.wait_for_room("ops")
        expect(carol.page.locator("#messages li.found")).to_contain_text(
            "the plan is on the wiki", timeout=WAIT_MS
        )
        _no_script_errors(alice, bob, carol)

    await in_browser(scenario)


async def test_link_to_a_room_takes_a_public_rooms_name(solo: tuple[Server, Ops]) -> None:
    server, ops_room = solo
    await create_room(server, ops_room.alice, "Books")

    def scenario(browser):
        carol = open_client(browser, server.http)
        carol.log_in("carol", PASSWORD)
        carol.page.fill("#room-link", "books")
        carol.page.click("#join-room-form button")
        carol.wait_for_room("Books")
        expect(carol.page.locator("#rooms button", has_text="Books")).to_have_count(1)
        # One of hers, by name, too.
        carol.page.fill("#room-link", "ops")
        carol.page.click("#join-room-form button")
        carol.wait_for_room("ops")
        _no_script_errors(carol)

    await in_browser(scenario)


async def test_a_conversation_with_an_erased_account_is_shown_closed(
    solo: tuple[Server, Ops],
) -> None:
    server, ops_room = solo
    alice, bob = ops_room.alice, ops_room.bob
    room = await _api(server, bob, "GET", f"/dm/{alice.uid}")
    await _api(server, alice, "POST", f"/messages/{room['RoomID']}", {"Text": "bye bob"})
    await _api(server, alice, "DELETE", "/me", {"Password": PASSWORD})

    def scenario(browser):
        page = _in_room_by_id(browser, server, "bob", room["RoomID"])
        expect(page.page.locator("#composer-status")).to_have_text(
            "This person's account was deleted: the conversation is closed. You can still read it.",
            timeout=WAIT_MS,
        )
        expect(page.page.locator("#composer")).to_be_disabled()
        expect(page.page.locator("#send-form button[type=submit]")).to_be_disabled()
        page.wait_for_message("message deleted")  # her messages, tombstones
        _no_script_errors(page)

    await in_browser(scenario)


def _in_room_by_id(browser: Any, server: Server, name: str, room_id: int) -> Client:
    client = open_client(browser, f"{server.http}/#/room/{room_id}")
    client.log_in(name, PASSWORD)
    client.page.wait_for_function(f"() => location.hash === '#/room/{room_id}'", timeout=WAIT_MS)
    client.page.wait_for_selector("#room-name:not(:text-is('lobby'))", timeout=WAIT_MS)
    return client


async def test_the_lobby_lists_its_people_without_a_console_error(
    solo: tuple[Server, Ops],
) -> None:
    """Someone leaving a room makes the page ask for its members again a moment later
    (they may still be online elsewhere): gone to the lobby meanwhile, it asks for the
    lobby's, which the server now answers."""
    server, ops_room = solo

    def scenario(browser):
        alice, bob = _pages(browser, (server, server), ops_room, "alice", "bob")
        alice.wait_for_text("#here li", "bob")
        bob.page.locator("#rooms button", has_text="lobby").click()
        bob.wait_for_room("lobby")
        alice.page.wait_for_timeout(300)  # his leaving reaches her page
        alice.page.locator("#rooms button", has_text="lobby").click()
        alice.wait_for_room("lobby")
        alice.page.wait_for_timeout(2000)  # past the page's second look at the members
        alice.wait_for_text("#here li", "bob")
        lobby = alice.page.get_attribute("#rooms button[data-room]:text-is('lobby')", "data-room")
        assert [r for r in alice.requests if f"room/{lobby}/members" in r], alice.requests
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_axe_finds_nothing_wrong_with_the_question_the_notices_the_count_and_a_closed_talk(
    solo: tuple[Server, Ops],
) -> None:
    """axe-core on each new view: the question asked before a ban, the banned member's
    notice with its close button, the Reports button's count, a conversation closed by
    an erasure."""
    source = await axe_source()
    server, ops_room = solo
    posted = await _api(
        server, ops_room.carol, "POST", f"/messages/{ops_room.room_id}", {"Text": "buy now"}
    )
    await _api(server, ops_room.bob, "POST", "/reports", {"MessageID": posted["MessageID"]})
    direct = await _api(server, ops_room.bob, "GET", f"/dm/{ops_room.alice.uid}")

    def scenario(browser):
        alice, carol = _pages(browser, (server, server), ops_room, "alice", "carol")
        expect(alice.page.locator("#room-reports .count")).to_have_text("1", timeout=WAIT_MS)
        assert violations_in_both_themes(alice, source, "moderation-reports-count") == NONE
        _open_person_menu(alice, "carol")
        alice.page.get_by_role("button", name="Ban", exact=True).click()
        expect(alice.page.get_by_role("dialog")).to_be_visible()
        assert violations_in_both_themes(alice, source, "moderation-confirm") == NONE
        _confirm(alice, "Ban")
        _wait_gone_to_the_lobby(carol, "alice banned you from ops permanently.")
        assert violations_in_both_themes(carol, source, "moderation-banned") == NONE
        _no_script_errors(alice)  # (her page is refused once her account is erased)
        answer = httpx.request(
            "DELETE",
            f"{server.http}/me",
            headers=ops_room.alice.auth,
            json={"Password": PASSWORD},
            verify=TLS,
        )
        assert answer.status_code == 200, answer.text
        bob = _in_room_by_id(browser, server, "bob", direct["RoomID"])
        expect(bob.page.locator("#composer")).to_be_disabled(timeout=WAIT_MS)
        assert violations_in_both_themes(bob, source, "moderation-closed-conversation") == NONE
        _no_script_errors(carol, bob)

    await in_browser(scenario)
