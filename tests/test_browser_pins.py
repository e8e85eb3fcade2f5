"""Pinned messages as the page shows them (chat/static/pins.js): a moderator pins a
message from its actions, and a member's room header shows "Pinned (1)" at once, whose
list shows the message and who pinned it (checked by axe in both themes) and opens it
in its context; an unpin takes it away again; members who are not moderators are not
offered Pin; on a phone, Pin waits in the message's "⋯" menu.

The moderator's page and the member's are on two instances of one chat as well as on
one SQLite server (test_browser_moderation's `places`)."""

from __future__ import annotations

from pathlib import Path

import trio
from axe import axe_source, violations_in_both_themes
from browser import PHONE, WAIT_MS, Client, in_browser
from support import Server, account, create_room, server_config, start_server
from test_browser import _no_script_errors
from test_browser_moderation import Ops, _api, _in_room, _message, _pages, expect, ops, places

__all__ = ["ops", "places"]  # the fixtures, shared with test_browser_moderation.py


def _pins_button(client: Client) -> object:
    return client.page.locator("#pins-open")


def _pin_from_actions(client: Client, text: str, action: str = "Pin") -> None:
    item = _message(client, text)
    item.hover()
    item.get_by_role("button", name=f"{action} ", exact=False).click()


async def test_a_moderator_pins_and_the_member_sees_the_pinned_list_update(
    places: tuple[Server, Server], ops: Ops
) -> None:
    source = await axe_source()
    message = await _api(
        places[1],
        ops.carol,
        "POST",
        f"/messages/{ops.room_id}",
        {"Text": "the runbook lives at /docs/runbook"},
    )
    assert message["MessageID"]

    def scenario(browser):
        alice, carol = _pages(browser, places, ops, "alice", "carol")
        expect(_pins_button(carol)).to_be_hidden()
        _pin_from_actions(alice, "the runbook")
        expect(_pins_button(carol)).to_have_text("Pinned (1)", timeout=WAIT_MS)
        alice.screenshot("pins-message-actions")
        _pins_button(carol).click()
        pinned = carol.page.locator("#pins li")
        expect(pinned).to_have_count(1)
        expect(pinned).to_contain_text("the runbook lives at /docs/runbook")
        expect(pinned).to_contain_text("pinned by alice")
        assert violations_in_both_themes(carol, source, "pins-list") == {"light": [], "dark": []}
        # Unpinned: the list and its button go.
        _pin_from_actions(alice, "the runbook", "Unpin")
        expect(_pins_button(carol)).to_be_hidden(timeout=WAIT_MS)
        expect(carol.page.locator("#pins-panel")).to_be_hidden()
        _no_script_errors(alice, carol)

    await in_browser(scenario)


async def test_choosing_a_pinned_message_shows_it_in_its_context(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    server = await start_server(nursery, server_config(tmp_path, None))
    alice, carol = await account(server, "alice"), await account(server, "carol")
    room_id = await create_room(server, alice, "ops", carol)
    first = await _api(server, carol, "POST", f"/messages/{room_id}", {"Text": "pin this one"})
    for i in range(60):
        await _api(server, alice, "POST", f"/messages/{room_id}", {"Text": f"chatter {i}"})
    await _api(server, alice, "PUT", f"/messages/{room_id}/{first['MessageID']}/pin")

    def scenario(browser):
        client = _in_room(browser, server, "carol", room_id)
        expect(_pins_button(client)).to_have_text("Pinned (1)", timeout=WAIT_MS)
        _pins_button(client).click()
        client.page.locator("#pins li button").click()
        found = client.page.locator("#messages li.found")
        expect(found).to_contain_text("pin this one", timeout=WAIT_MS)
        expect(found).to_be_in_viewport()
        expect(client.page.locator("#pins-panel")).to_be_hidden()
        _no_script_errors(client)

    await in_browser(scenario)


async def test_a_member_who_is_not_a_moderator_is_not_offered_pin(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    server = await start_server(nursery, server_config(tmp_path, None))
    alice, carol = await account(server, "alice"), await account(server, "carol")
    room_id = await create_room(server, alice, "ops", carol)
    await _api(server, alice, "POST", f"/messages/{room_id}", {"Text": "not for carol to pin"})

    def scenario(browser):
        owner = _in_room(browser, server, "alice", room_id)
        member = _in_room(browser, server, "carol", room_id)
        expect(_message(owner, "not for carol").locator(".pin-button")).to_have_count(1)
        expect(_message(member, "not for carol").locator(".actions button")).not_to_have_count(0)
        expect(_message(member, "not for carol").locator(".pin-button")).to_have_count(0)
        _no_script_errors(owner, member)

    await in_browser(scenario)


async def test_on_a_phone_pin_waits_in_the_message_menu(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    server = await start_server(nursery, server_config(tmp_path, None))
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "ops")
    await _api(server, alice, "POST", f"/messages/{room_id}", {"Text": "pin me on a phone"})

    def scenario(browser):
        client = _in_room(browser, server, "alice", room_id, screen=PHONE)
        item = _message(client, "pin me on a phone")
        item.get_by_role("button", name="Actions on alice's message").click()
        item.get_by_role("button", name="Pin alice's message").click()
        expect(_pins_button(client)).to_have_count(1)
        client.page.locator("#room-more").click()
        expect(_pins_button(client)).to_have_text("Pinned (1)", timeout=WAIT_MS)
        _pins_button(client).click()
        expect(client.page.locator("#pins li")).to_contain_text("pin me on a phone")
        client.screenshot("pins-phone")
        _no_script_errors(client)

    await in_browser(scenario)


async def _pinned_room(tmp_path: Path, nursery: trio.Nursery, text: str) -> tuple[Server, Ops]:
    """One SQLite server with the room "ops" of alice (owner), bob and carol, where alice
    pinned carol's message `text`."""
    server = await start_server(nursery, server_config(tmp_path, None))
    alice, bob, carol = [await account(server, name) for name in ("alice", "bob", "carol")]
    room = Ops(await create_room(server, alice, "ops", bob, carol), alice, bob, carol)
    sent = await _api(server, carol, "POST", f"/messages/{room.room_id}", {"Text": text})
    await _api(server, alice, "PUT", f"/messages/{room.room_id}/{sent['MessageID']}/pin")
    return server, room


async def test_the_pinned_list_shows_an_edit_of_a_pinned_message(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    server, room = await _pinned_room(tmp_path, nursery, "deploy on fridya")

    def scenario(browser):
        alice, carol = _pages(browser, (server, server), room, "alice", "carol")
        _pins_button(alice).click()
        expect(alice.page.locator("#pins li")).to_contain_text("deploy on fridya")
        item = _message(carol, "deploy on fridya")
        item.hover()
        item.get_by_role("button", name="Edit your message").click()
        editor = item.locator(".editor textarea")
        editor.fill("deploy on friday")
        editor.press("Enter")
        expect(alice.page.locator("#pins li")).to_contain_text("deploy on friday", timeout=WAIT_MS)
        _no_script_errors(alice, carol)

    await in_browser(scenario)


async def test_a_deleted_pinned_message_leaves_the_pinned_list(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    server, room = await _pinned_room(tmp_path, nursery, "a mistake, pinned")

    def scenario(browser):
        alice, carol = _pages(browser, (server, server), room, "alice", "carol")
        expect(_pins_button(alice)).to_have_text("Pinned (1)", timeout=WAIT_MS)
        messages = carol.page.locator("#messages li[data-id]")
        item = messages.filter(has_text="a mistake, pinned").first
        item.hover()
        item.get_by_role("button", name="Delete carol's message").click()
        item.get_by_role("button", name="Yes, delete").click()
        expect(_pins_button(alice)).to_be_hidden(timeout=WAIT_MS)
        _no_script_errors(alice, carol)

    await in_browser(scenario)


async def test_a_click_elsewhere_or_escape_closes_the_pinned_list(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    server, room = await _pinned_room(tmp_path, nursery, "close me")

    def scenario(browser):
        carol = _in_room(browser, server, "carol", room.room_id)
        panel = carol.page.locator("#pins-panel")
        _pins_button(carol).click()
        expect(panel).to_be_visible()
        carol.page.locator("#composer").click()
        expect(panel).to_be_hidden()
        _pins_button(carol).click()
        expect(carol.page.locator("#pins li button")).to_be_focused()
        carol.page.keyboard.press("Escape")
        expect(panel).to_be_hidden()
        expect(_pins_button(carol)).to_be_focused()
        _no_script_errors(carol)

    await in_browser(scenario)
