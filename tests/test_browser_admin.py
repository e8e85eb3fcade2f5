"""The operators' console in the browser (/admin): an operator signs in at /admin and
lands in it, finds an account, and deactivates it; the person's page is signed out at
once and their login says why. A member sees no Admin button."""

from __future__ import annotations

import trio
from browser import SQLITE_ONLY, WAIT_MS, in_browser, open_client, registered
from support import (
    Clients,
    Server,
    account,
    create_room,
    entered,
    http_client,
    post_confirmed,
    start_server,
)
from test_support import operator

from chat.core.config import Config

pytestmark = SQLITE_ONLY  # tests/browser.py says why


def _console(browser, server: Server):  # type: ignore[no-untyped-def]
    """The operator "op" signed in at /admin: the console open."""
    admin = open_client(browser, f"{server.http.rstrip('/')}/admin")
    admin.log_in("op", "pw")
    admin.page.wait_for_selector("#admin-dialog[open]", timeout=WAIT_MS)
    return admin


def _console_showing(browser, server: Server, name: str):  # type: ignore[no-untyped-def]
    """The console, with the account `name` found and open below the list."""
    admin = _console(browser, server)
    admin.page.fill("#admin-search input[name=q]", name)
    admin.page.click("#admin-search button[type=submit]")
    admin.wait_for_text("#admin-status", "1 account")
    admin.page.click("#admin-users tbody tr button")
    admin.wait_for_text("#admin-user-name", name)
    return admin


async def test_an_operator_deactivates_an_account_from_the_console_and_it_is_signed_out(
    server: Server,
) -> None:
    await operator(server, "op")  # password "pw"

    def scenario(browser):
        (bob,) = registered(browser, server.http, "bob")
        admin = _console_showing(browser, server, "bob")
        admin.screenshot("admin-console")
        admin.page.click("#admin-active")
        admin.page.click("#confirm-yes")
        admin.wait_for_text("#admin-status", "bob is deactivated")
        state = admin.page.text_content("#admin-users tbody tr td:nth-child(4)")
        bob.page.wait_for_selector("#login-view:not([hidden])", timeout=WAIT_MS)
        bob.fill_and_click("bob", "password", "#login")
        bob.wait_for_text("#error", "deactivated")
        bob.screenshot("admin-deactivated-login")
        return state, admin.errors

    state, errors = await in_browser(scenario)
    assert state == "deactivated"
    assert errors == []


async def test_a_member_sees_no_admin_button(server: Server) -> None:
    def scenario(browser):
        (alice,) = registered(browser, server.http, "alice")
        return alice.page.is_hidden("#admin"), alice.errors

    hidden, errors = await in_browser(scenario)
    assert hidden and errors == []


async def test_an_operator_archives_a_room_and_reads_the_server_from_the_console(
    server: Server,
) -> None:
    await operator(server, "op")
    bob = await account(server, "bob")
    await create_room(server, bob, "ops")

    def scenario(browser):
        admin = _console(browser, server)
        admin.page.click("#admin-tab-rooms")
        admin.page.fill("#admin-room-search input[name=q]", "ops")
        admin.page.click("#admin-room-search button[type=submit]")
        admin.wait_for_text("#admin-rooms-status", "1 room")
        admin.page.click("#admin-rooms tbody tr button")
        admin.page.click("#admin-room-archive")
        admin.wait_for_text("#admin-rooms-status", "#ops is archived")
        state = admin.page.text_content("#admin-rooms tbody tr td:nth-child(5)")
        admin.screenshot("admin-rooms")
        admin.page.click("#admin-tab-server")
        admin.wait_for_text("#admin-server-facts", "Version")
        row = admin.page.locator("#admin-settings tr", has_text="CHAT_JWT_SECRET")
        secret = row.locator("td").nth(1).text_content()
        admin.screenshot("admin-server")
        return state, secret, admin.errors

    state, secret, errors = await in_browser(scenario)
    assert (state, secret) == ("archived", "(set)")
    assert errors == []


async def test_an_accounts_audit_entries_open_in_the_console_audit_tab(server: Server) -> None:
    op = await operator(server, "op")
    bob = await account(server, "bob")
    async with http_client(server) as client:
        changed = await client.put(
            f"/admin/users/{bob.uid}", headers=op.auth, json={"Active": False}
        )
        assert changed.status_code == 200, changed.text

    def scenario(browser):
        admin = _console_showing(browser, server, "bob")
        admin.page.click("#admin-user-audit")
        admin.wait_for_text("#admin-audit-status", "1 entry")
        cells = admin.page.locator("#admin-audit tbody tr td").all_text_contents()
        admin.screenshot("admin-audit")
        return cells[1:4], admin.errors

    cells, errors = await in_browser(scenario)
    assert cells == ["user-deactivate", "op", "bob"]
    assert errors == []


async def test_an_operator_dismisses_a_report_from_the_console(
    server: Server, clients: Clients
) -> None:
    await operator(server, "op")
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "ops", bob)
    (posted,) = await post_confirmed(await entered(clients, alice, room_id), "buy cheap pills")
    async with http_client(server) as client:
        reported = await client.post(
            "/reports",
            headers=bob.auth,
            json={"MessageID": posted["MessageID"], "Reason": "spam"},
        )
        assert reported.status_code == 201, reported.text

    def scenario(browser):
        admin = _console(browser, server)
        admin.page.click("#admin-tab-reports")
        admin.wait_for_text("#admin-reports-status", "1 report")
        listed = admin.page.locator("#admin-reports tbody tr td").all_text_contents()
        admin.screenshot("admin-reports")
        admin.page.get_by_role("button", name="Dismiss").click()
        admin.wait_for_text("#admin-reports-status", "is dismissed")
        decided = admin.page.text_content("#admin-reports tbody tr td:nth-child(5)")
        return listed[2:4], decided, admin.errors

    listed, decided, errors = await in_browser(scenario)
    assert listed == ["alice: buy cheap pills", "bob: spam"]
    assert decided == "dismissed by op"
    assert errors == []


async def test_an_operator_hands_a_room_to_another_owner_from_the_console(
    server: Server,
) -> None:
    await operator(server, "op")
    alice, bob = await account(server, "alice"), await account(server, "bob")
    await create_room(server, alice, "ops", bob)

    def scenario(browser):
        admin = _console(browser, server)
        admin.page.click("#admin-tab-rooms")
        admin.wait_for_text("#admin-rooms-status", "room")
        admin.page.get_by_role("button", name="#ops").click()
        admin.page.fill("#admin-room-owner input[name=name]", "bob")
        admin.page.click("#admin-room-owner button[type=submit]")
        admin.wait_for_text("#admin-rooms-status", "bob is an owner of #ops")
        admin.page.get_by_role("button", name="Make alice a member of #ops").click()
        admin.wait_for_text("#admin-rooms-status", "alice is a member of #ops")
        owners = admin.page.text_content("#admin-rooms tbody tr:nth-child(2) td:nth-child(3)")
        admin.screenshot("admin-room-owners")
        return owners, admin.errors

    owners, errors = await in_browser(scenario)
    assert owners == "bob"
    assert errors == []


async def test_an_operator_makes_a_password_reset_link_to_hand_over(server: Server) -> None:
    await operator(server, "op")
    await account(server, "bob")

    def scenario(browser):
        admin = _console_showing(browser, server, "bob")
        admin.page.click("#admin-reset")
        admin.wait_for_text("#admin-status", "password reset link for bob is ready")
        url = admin.page.text_content("#admin-reset-url")
        admin.screenshot("admin-reset-link")
        return url, admin.errors

    url, errors = await in_browser(scenario)
    assert url.startswith(server.http.rstrip("/") + "/#reset-password=")
    assert errors == []


async def test_the_server_tab_shows_who_may_register_and_revokes_an_invite(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(registration="invite"))
    op = await operator(server, "op")
    async with http_client(server) as client:
        made = await client.post("/invites", json={"Uses": 3}, headers=op.auth)
        assert made.status_code == 201, made.text

    def scenario(browser):
        admin = _console(browser, server)
        admin.page.click("#admin-tab-server")
        admin.wait_for_text("#admin-registration", "by invitation only")
        listed = admin.page.locator("#admin-invites tbody tr").count()
        admin.screenshot("admin-registration")
        admin.page.locator("#admin-invites tbody tr button").click()
        admin.wait_for_text("#admin-server-status", "is revoked")
        admin.wait_for_text("#admin-registration", "Standing invite links: 0")
        return listed, admin.errors

    listed, errors = await in_browser(scenario)
    assert listed == 1
    assert errors == []
