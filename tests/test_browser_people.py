"""The people panel of the browser client (chat/static/people.js): a room's members,
online first, online meaning connected anywhere (in any room, on any instance: see
tests/test_browser_cluster.py), each a button a keyboard reaches, on a phone too."""

from __future__ import annotations

from typing import Any

from browser import PHONE, SQLITE_ONLY, WAIT_MS, Client, in_browser, open_client
from support import PASSWORD, Server, account, create_room
from test_browser import _no_script_errors

pytestmark = SQLITE_ONLY  # tests/browser.py says why


def listed(client: Client) -> list[tuple[str, str]]:
    """The people panel, in order: (name as shown, "true" or "false" for online)."""
    return client.page.eval_on_selector_all(
        "#here li", "items => items.map(i => [i.textContent, i.dataset.online])"
    )


def wait_listed(client: Client, expected: list[tuple[str, str]]) -> None:
    from playwright.sync_api import expect

    expect(client.page.locator("#here li")).to_have_text([name for name, _ in expected])
    items = client.page.locator("#here li")
    for index, (_, online) in enumerate(expected):
        expect(items.nth(index)).to_have_attribute("data-online", online, timeout=WAIT_MS)


async def _room_of_four(server: Server) -> int:
    """alice's room "plans", which bob, carol and dave joined."""
    alice, bob, carol, dave = [
        await account(server, name) for name in ("alice", "bob", "carol", "dave")
    ]
    return await create_room(server, alice, "plans", bob, carol, dave)


def _in_plans(browser: Any, server: Server, room_id: int, name: str, **screen: Any) -> Client:
    client = open_client(browser, server.http, **screen)
    client.log_in(name, PASSWORD)
    client.page.goto(f"{server.http}/#/room/{room_id}")
    client.wait_for_room("plans")
    return client


async def test_the_people_panel_lists_the_rooms_members_online_anywhere_first(
    server: Server,
) -> None:
    room_id = await _room_of_four(server)

    def scenario(browser):
        alice = _in_plans(browser, server, room_id, "alice")
        dave = open_client(browser, server.http)  # online, in the lobby: not in the room
        dave.log_in("dave", PASSWORD)
        alice.page.reload()  # asks for the members again
        alice.wait_for_room("plans")
        wait_listed(
            alice,
            [("alice (you)", "true"), ("dave", "true"), ("bob", "false"), ("carol", "false")],
        )
        assert alice.page.text_content("#here-count") == "2 online"
        # Carol arrives in the room: online at once, without asking.
        carol = _in_plans(browser, server, room_id, "carol")
        wait_listed(
            alice,
            [
                ("alice (you)", "true"),
                ("carol", "true"),
                ("dave", "true"),
                ("bob", "false"),
            ],
        )
        alice.screenshot("people-panel")
        # She closes her page: offline again (she was connected nowhere else).
        carol.page.close()
        wait_listed(
            alice,
            [("alice (you)", "true"), ("dave", "true"), ("bob", "false"), ("carol", "false")],
        )
        _no_script_errors(alice, dave)

    await in_browser(scenario)


async def test_the_lobby_lists_the_people_present_in_it(server: Server) -> None:
    await account(server, "zed")  # never connected: not listed (everyone is a member)

    def scenario(browser):
        alice = open_client(browser, server.http)
        alice.register("alice")
        bob = open_client(browser, server.http)
        bob.register("bob")
        wait_listed(alice, [("alice (you)", "true"), ("bob", "true")])
        assert alice.page.text_content("#people-heading").startswith("Here now")
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_each_person_is_reached_by_keyboard_and_opens_a_conversation(
    server: Server,
) -> None:
    room_id = await _room_of_four(server)

    def scenario(browser):
        alice = _in_plans(browser, server, room_id, "alice")
        alice.wait_for_text("#here li", "carol")
        alice.page.focus("#composer")
        # Backwards from the composer, through the panel, to carol's button.
        for _ in range(30):
            alice.page.keyboard.press("Shift+Tab")
            label = alice.page.evaluate("document.activeElement.getAttribute('aria-label')")
            if label and label.startswith("carol"):
                break
        assert label == "carol, offline: write a direct message"
        alice.page.keyboard.press("Enter")
        alice.wait_for_room("with carol")
        assert alice.page.evaluate("document.activeElement.id") == "composer"
        _no_script_errors(alice)

    await in_browser(scenario)


async def test_on_a_phone_the_people_panel_is_one_row_each_person_reachable(
    server: Server,
) -> None:
    alice = await account(server, "alice")
    others = [await account(server, f"member{i:02}") for i in range(12)]
    room_id = await create_room(server, alice, "plans", *others)

    def scenario(browser):
        phone = _in_plans(browser, server, room_id, "alice", screen=PHONE)
        phone.wait_for_text("#here li", "member11")
        row = phone.page.locator("#here").bounding_box()
        assert row["height"] < 50  # a row, not a wall above the messages
        assert phone.fits_sideways()
        # (The person's button; the owner also has a menu on each: test_browser_moderation.py.)
        last = phone.page.locator("#here li", has_text="member11").locator(".person")
        last.focus()  # scrolled to within its row
        phone.assert_on_screen("#here li:has-text('member11') .person")
        phone.screenshot("people-phone")
        last.tap()
        phone.wait_for_room("with member11")
        _no_script_errors(phone)

    await in_browser(scenario)
