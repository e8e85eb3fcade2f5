"""Invite links in the browser: an operator makes one in the account screen, a second
person opens it, registers (the code filled in from the link) and lands in the room it
names; under ``CHAT_REGISTRATION=closed`` the login form says why nobody registers."""

from __future__ import annotations

import trio
from browser import SQLITE_ONLY, WAIT_MS, in_browser, open_client
from support import create_room, start_server
from test_support import operator

from chat.core.config import Config

pytestmark = SQLITE_ONLY  # tests/browser.py says why


async def test_a_person_registers_with_an_operators_link_and_lands_in_its_room(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(registration="invite"))
    op = await operator(server)
    room_id = await create_room(server, op, "welcome")

    def scenario(browser):
        admin = open_client(browser, server.http)
        admin.log_in("op", "pw")
        admin.page.click("#account")
        admin.page.wait_for_selector("#invite-links-section:not([hidden])", timeout=WAIT_MS)
        admin.page.check(f"#invite-link-rooms input[value='{room_id}']", timeout=WAIT_MS)
        admin.page.click("#invite-link-form button[type=submit]")
        admin.page.wait_for_selector("#invite-link-made:not([hidden])", timeout=WAIT_MS)
        admin.wait_for_text("#invite-links li", "0 of 1 used")
        admin.screenshot("invite-made")
        link = admin.page.text_content("#invite-link")
        dana = open_client(browser, link)
        dana.page.wait_for_selector("#registration-note:not([hidden])", timeout=WAIT_MS)
        prefilled = dana.page.input_value("#login-form input[name=invite]")
        address = dana.page.evaluate("location.href")
        dana.screenshot("invite-login")
        dana.register("dana")
        dana.wait_room_shown()
        dana.screenshot("invite-landed")
        room = dana.page.text_content("#room-name")
        return link, prefilled, address, room, admin.errors + dana.errors

    link, prefilled, address, room, errors = await in_browser(scenario)
    assert link.startswith(f"{server.http}/?invite=chat_inv_")
    assert prefilled and prefilled in link
    assert "invite=" not in address  # taken out of the address bar and its history
    assert room == "welcome"
    assert errors == []


async def test_under_closed_registration_the_form_says_why(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(registration="closed"))

    def scenario(browser):
        someone = open_client(browser, server.http)
        someone.page.wait_for_selector("#registration-note:not([hidden])", timeout=WAIT_MS)
        someone.screenshot("registration-closed")
        note = someone.page.text_content("#registration-note")
        return note, someone.page.is_hidden("#register"), someone.errors

    note, hidden, errors = await in_browser(scenario)
    assert "Registration is closed" in note
    assert hidden
    assert errors == []
