"""Running a room in the browser client (chat/static/moderation.js, room-settings.js,
reports.js): roles in the people panel, the person menu a moderator opens there (roles,
mute, remove, ban), Leave, Delete and Report on messages, the settings dialog with slow
mode's countdown in the composer, and the reports view with the audit log.

Where a flow crosses people, the moderator's page and the member's are on different
instances of one chat (two `chat serve` processes on PostgreSQL: tests/cluster.py), and
the same flows run again on SQLite with both pages on one server."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio
from axe import axe_source, violations_in_both_themes
from browser import WAIT_MS, WIDE, Client, in_browser, open_client
from cluster import open_cluster
from support import (
    PASSWORD,
    Account,
    Server,
    account,
    create_room,
    execute_sql,
    http_client,
    server_config,
    start_server,
    throwaway_postgres_schema,
)
from test_browser import _no_script_errors


def expect(locator: Any) -> Any:
    """Playwright's `expect` (imported when a browser runs: without Playwright the tests
    skip, or fail under CI=true, in `in_browser`)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


@pytest.fixture(params=["sqlite", "postgres-cluster"])
async def places(
    request: pytest.FixtureRequest, tmp_path: Path, nursery: trio.Nursery
) -> AsyncIterator[tuple[Server, Server]]:
    """Where the moderator's page and the member's are opened: one server on SQLite (the
    same one twice), or two instances of one chat on PostgreSQL."""
    if request.param == "sqlite":
        server = await start_server(nursery, server_config(tmp_path, None))
        yield server, server
    else:
        async with (
            throwaway_postgres_schema() as url,
            open_cluster(tmp_path, url, 2) as instances,
        ):
            yield instances[0].server, instances[1].server


@dataclass
class Ops:
    """The room "ops": alice created it (its owner), bob and carol joined (members)."""

    room_id: int
    alice: Account
    bob: Account
    carol: Account


@pytest.fixture
async def ops(places: tuple[Server, Server]) -> Ops:
    alice, bob, carol = [await account(places[0], name) for name in ("alice", "bob", "carol")]
    return Ops(await create_room(places[0], alice, "ops", bob, carol), alice, bob, carol)


async def _bob_moderates(places: tuple[Server, Server], ops: Ops) -> None:
    """Alice makes bob a moderator of "ops"."""
    path = f"/room/{ops.room_id}/members/{ops.bob.uid}"
    await _api(places[0], ops.alice, "PUT", path, {"Role": "moderator"})


async def _api(server: Server, who: Account, method: str, path: str, body: Any = None) -> Any:
    """One request of the HTTP API as `who`; its answer (which must be a success)."""
    async with http_client(server) as client:
        response = await client.request(method, path, headers=who.auth, json=body)
    assert response.is_success, (method, path, response.status_code, response.text)
    return response.json()


def _in_room(browser: Any, server: Server, name: str, room_id: int, **screen: Any) -> Client:
    """`name`'s page on `server`, logged in, showing the room `room_id`."""
    client = open_client(browser, f"{server.http}/#/room/{room_id}", **screen)
    client.log_in(name, PASSWORD)
    client.wait_for_room("ops")
    return client


def _pages(
    browser: Any, places: tuple[Server, Server], ops: Ops, first: str, second: str
) -> tuple[Client, Client]:
    """`first`'s page on the first instance and `second`'s on the other, both in "ops"."""
    return (
        _in_room(browser, places[0], first, ops.room_id),
        _in_room(browser, places[1], second, ops.room_id),
    )


def _person(client: Client, name: str) -> Any:
    return client.page.locator("#here li").filter(has_text=name)


def _open_person_menu(client: Client, name: str) -> None:
    client.page.get_by_role("button", name=f"Moderate {name}").click()
    expect(client.page.locator("#person-menu-heading")).to_have_text(f"Moderating {name}")


def _message(client: Client, text: str) -> Any:
    return client.page.locator("#messages li[data-id]").filter(has_text=text).first


def _act_on_message(client: Client, text: str, action: str) -> Any:
    item = _message(client, text)
    item.hover()
    item.get_by_role("button", name=action).click()
    return item


def _role_shown(client: Client, name: str) -> str:
    """The role the people panel writes beside `name` (the style sheet's, from the li's
    data-role): "" for a member."""
    return client.page.evaluate(
        """(name) => {
            const item = [...document.querySelectorAll("#here li")]
                .find((li) => li.textContent.startsWith(name));
            const content = getComputedStyle(item, "::after").content;
            return content === "none" || content === "normal" ? "" : content.replaceAll('"', "");
        }""",
        name,
    )


def _confirm(client: Client, action: str) -> None:
    """Say yes to the question the page asks first (confirm.js's dialog)."""
    dialog = client.page.get_by_role("dialog")
    expect(dialog).to_be_visible(timeout=WAIT_MS)
    dialog.get_by_role("button", name=action, exact=True).click()
    expect(dialog).to_be_hidden()


def _wait_gone_to_the_lobby(client: Client, notice: str) -> None:
    client.wait_for_room("lobby")
    expect(client.page.locator("#notice")).to_have_text(notice, timeout=WAIT_MS)
    expect(client.page.locator("#rooms button", has_text="ops")).to_have_count(0, timeout=WAIT_MS)


async def test_the_member_list_shows_each_members_role(
    places: tuple[Server, Server], ops: Ops
) -> None:
    b = places[1]
    await _bob_moderates(places, ops)

    def scenario(browser):
        carol = _in_room(browser, b, "carol", ops.room_id)
        for name in ("alice", "bob", "carol"):
            carol.wait_for_text("#here li", name)
        expect(_person(carol, "alice")).to_have_attribute("data-role", "owner", timeout=WAIT_MS)
        expect(_person(carol, "bob")).to_have_attribute("data-role", "moderator")
        expect(_person(carol, "carol")).to_have_attribute("data-role", "member")
        assert [_role_shown(carol, n) for n in ("alice", "bob", "carol")] == [
            "owner",
            "moderator",
            "",
        ]
        # Said to screen readers too, and a member is offered no menu on anyone.
        expect(carol.page.get_by_role("button", name="alice, owner, offline")).to_have_count(1)
        expect(carol.page.locator("#here .person-menu-button")).to_have_count(0)
        assert carol.page.is_hidden("#room-settings") and carol.page.is_hidden("#room-reports")
        _no_script_errors(carol)

    await in_browser(scenario)


async def test_an_owner_makes_a_member_moderator_and_their_page_changes_at_once(
    places: tuple[Server, Server], ops: Ops
) -> None:

    def scenario(browser):
        alice, bob = _pages(browser, places, ops, "alice", "bob")
        assert bob.page.is_hidden("#room-reports")
        _open_person_menu(alice, "bob")
        alice.page.get_by_role("button", name="Make moderator").click()
        expect(alice.page.locator("#person-menu-status")).to_have_text("bob is now a moderator.")
        expect(_person(alice, "bob")).to_have_attribute("data-role", "moderator")
        # Bob's page, on the other instance: his role, and what it lets him do.
        expect(_person(bob, "bob")).to_have_attribute("data-role", "moderator", timeout=WAIT_MS)
        expect(bob.page.locator("#notice")).to_have_text("You are now a moderator of ops.")
        expect(bob.page.locator("#room-reports")).to_be_visible()
        expect(bob.page.locator("#room-settings")).to_be_visible()
        expect(bob.page.get_by_role("button", name="Moderate carol")).to_have_count(1)
        expect(bob.page.get_by_role("button", name="Moderate alice")).to_have_count(0)
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_leaving_a_room_takes_it_off_the_list_and_goes_to_the_lobby(
    places: tuple[Server, Server], ops: Ops
) -> None:

    def scenario(browser):
        alice, bob = _pages(browser, places, ops, "alice", "bob")
        alice.wait_for_text("#here li", "bob")
        # Bob's page has its members list (roles come from it) before he leaves.
        owner = bob.page.locator('#here li[data-role="owner"]').filter(has_text="alice")
        expect(owner).to_have_count(1, timeout=WAIT_MS)
        bob.page.get_by_role("button", name="Leave").click()
        expect(bob.page.locator("#leave-question")).to_contain_text("Leave ops?")
        bob.page.locator("#leave-dialog").get_by_role("button", name="Leave").click()
        _wait_gone_to_the_lobby(bob, "You left ops.")
        # He is no member any more: the others' list drops him.
        expect(_person(alice, "bob")).to_have_count(0, timeout=WAIT_MS)
        # A refresh of the members list still on its way when the leave commits (the
        # page asks again after a presence change) is refused, 403, which the browser
        # logs; the page drops it. Anything else is a fault.
        bob.errors[:] = [e for e in bob.errors if "status of 403" not in e]
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_the_lobby_has_no_leave_button(places: tuple[Server, Server], ops: Ops) -> None:
    a, _ = places

    def scenario(browser):
        alice = open_client(browser, a.http)
        alice.log_in("alice", PASSWORD)
        alice.wait_for_room("lobby")
        assert alice.page.is_hidden("#leave-room")
        alice.page.locator("#rooms button", has_text="ops").click()
        alice.wait_for_room("ops")
        expect(alice.page.locator("#leave-room")).to_be_visible()
        _no_script_errors(alice)

    await in_browser(scenario)


async def test_a_moderator_removes_a_member_whose_page_on_another_instance_leaves_the_room(
    places: tuple[Server, Server], ops: Ops
) -> None:

    def scenario(browser):
        alice, carol = _pages(browser, places, ops, "alice", "carol")
        _open_person_menu(alice, "carol")
        alice.page.get_by_label("Reason (optional)").fill("off topic, again")
        alice.page.get_by_role("button", name="Remove from the room").click()
        _confirm(alice, "Remove")
        expect(alice.page.locator("#person-menu-status")).to_have_text("carol was removed.")
        _wait_gone_to_the_lobby(carol, "alice removed you from ops: off topic, again")
        expect(_person(alice, "carol")).to_have_count(0, timeout=WAIT_MS)
        _no_script_errors(alice, carol)

    await in_browser(scenario)


async def test_a_banned_member_leaves_the_room_and_cannot_join_it_again(
    places: tuple[Server, Server], ops: Ops
) -> None:
    b = places[1]

    def scenario(browser):
        alice, carol = _pages(browser, places, ops, "alice", "carol")
        _open_person_menu(alice, "carol")
        alice.page.get_by_label("Reason (optional)").fill("spam")
        alice.page.get_by_role("button", name="Ban", exact=True).click()
        _confirm(alice, "Ban")
        expect(alice.page.locator("#person-menu-status")).to_have_text("carol is banned.")
        _wait_gone_to_the_lobby(carol, "alice banned you from ops permanently: spam")
        carol.page.fill("#room-link", f"{b.http}/#/room/{ops.room_id}")
        carol.page.click("#join-room-form button")
        expect(carol.page.locator("#error")).to_contain_text(
            f"you are banned from room {ops.room_id}", timeout=WAIT_MS
        )
        assert carol.page.text_content("#room-name") == "lobby"
        # (The browser logs the refusal, a 403; nothing else went wrong.)
        carol.errors[:] = [e for e in carol.errors if "status of 403" not in e]
        _no_script_errors(alice, carol)

    await in_browser(scenario)


async def test_a_mute_for_10_minutes_closes_the_members_composer_saying_until_when(
    places: tuple[Server, Server], ops: Ops
) -> None:

    def scenario(browser):
        alice, carol = _pages(browser, places, ops, "alice", "carol")
        carol.say("before the mute")
        alice.wait_for_message("before the mute")
        _open_person_menu(alice, "carol")
        alice.page.get_by_role("button", name="Mute 10 min").click()
        expect(alice.page.locator("#person-menu-status")).to_contain_text("carol is muted until")
        expect(alice.page.get_by_role("button", name="Unmute")).to_be_visible(timeout=WAIT_MS)
        said = alice.page.text_content("#person-menu-status") or ""
        until = said.removeprefix("carol is muted until ").removesuffix(".")
        # Ten minutes from now, as the person's clock says it: with the day when that is
        # tomorrow (a mute set in the ten minutes before midnight).
        assert until in carol.page.evaluate(
            """[-10_000, 10_000].map((error) => {
                const time = new Date(Date.now() + 600_000 + error);
                return time.toDateString() === new Date().toDateString()
                    ? time.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" })
                    : time.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
            })"""
        ), until
        status = carol.page.locator("#composer-status")
        expect(status).to_have_text(
            f"You are muted here until {until} (by alice): you can read, not write.",
            timeout=WAIT_MS,
        )
        for control in ("#composer", "#send-form button[type=submit]", "#attach", "#emoji-button"):
            expect(carol.page.locator(control)).to_be_disabled()
        # Lifted: the composer opens again.
        alice.page.get_by_role("button", name="Unmute").click()
        expect(carol.page.locator("#composer")).to_be_enabled(timeout=WAIT_MS)
        expect(carol.page.locator("#attach")).to_be_enabled()
        expect(status).to_be_hidden()
        _no_script_errors(alice, carol)

    await in_browser(scenario)


async def test_a_muted_members_reloaded_page_learns_the_mute_from_its_first_refusal(
    places: tuple[Server, Server], ops: Ops
) -> None:
    await _api(
        places[0], ops.alice, "PUT", f"/room/{ops.room_id}/mutes/{ops.carol.uid}", {"Seconds": 3600}
    )

    def scenario(browser):
        carol = _in_room(browser, places[1], "carol", ops.room_id)
        assert carol.page.is_enabled("#composer")  # no frame told this page
        carol.say("can anyone hear me?")
        expect(carol.page.locator("#messages li.failed .failure")).to_contain_text(
            "Not sent: you are muted in room", timeout=WAIT_MS
        )
        expect(carol.page.locator("#composer-status")).to_contain_text("You are muted here until")
        expect(carol.page.locator("#composer")).to_be_disabled()
        _no_script_errors(carol)

    await in_browser(scenario)


async def test_a_moderator_deletes_a_members_message_from_its_menu(
    places: tuple[Server, Server], ops: Ops
) -> None:
    await _bob_moderates(places, ops)

    def scenario(browser):
        bob, carol = _pages(browser, places, ops, "bob", "carol")
        carol.say("cheap watches at example.com")
        bob.wait_for_message("cheap watches at example.com")
        # Carol, a member, may not delete bob's messages; bob, a moderator, may hers.
        bob.say("please keep it on topic")
        carol.wait_for_message("please keep it on topic")
        expect(_message(carol, "please keep it on topic").locator(".delete-button")).to_have_count(
            0
        )
        _act_on_message(bob, "cheap watches", "Delete carol's message")
        bob.page.get_by_role("button", name="Yes, delete").click()
        for client in (bob, carol):
            client.wait_for_message("message deleted")
        assert carol.message_texts() == ["message deleted", "please keep it on topic"]
        _no_script_errors(bob, carol)

    await in_browser(scenario)


async def test_a_reported_message_shows_in_the_moderators_reports_and_is_resolved(
    places: tuple[Server, Server], ops: Ops
) -> None:
    b = places[1]

    def scenario(browser):
        alice, bob = _pages(browser, places, ops, "alice", "bob")
        carol = _in_room(browser, b, "carol", ops.room_id)
        carol.say("you are all idiots")
        bob.wait_for_message("you are all idiots")
        # Report is offered on others' messages, not on one's own.
        expect(_message(carol, "you are all idiots").locator(".report-button")).to_have_count(0)
        item = _act_on_message(bob, "you are all idiots", "Report carol's message")
        item.get_by_label("Why?").fill("insults")
        item.get_by_role("button", name="Report it").click()
        expect(item.locator(".reported")).to_have_text(
            "Reported: the room's moderators will look at it.", timeout=WAIT_MS
        )
        # Alice, on the other instance, opens the room's reports.
        alice.wait_for_message("you are all idiots")
        alice.page.get_by_role("button", name="Reports").click()
        report = alice.page.locator("#reports li")
        expect(report).to_have_count(1, timeout=WAIT_MS)
        expect(report.locator("blockquote")).to_have_text("carol you are all idiots")
        expect(report.locator(".about")).to_contain_text("Reported by bob")
        expect(report.locator(".about")).to_contain_text("“insults”")
        expect(alice.page.locator("#reports-status")).to_have_text("1 open report.")
        report.get_by_role("button", name="Resolve").click()
        expect(report.locator(".outcome")).to_have_text("Resolved.", timeout=WAIT_MS)
        expect(alice.page.locator("#reports-status")).to_have_text("No open reports.")
        expect(alice.page.locator("#audit li").first).to_contain_text(
            "alice resolved a report", timeout=WAIT_MS
        )
        # Opened again, the resolved report is not among the open ones.
        alice.page.get_by_role("button", name="Back to the conversation").click()
        alice.page.get_by_role("button", name="Reports").click()
        expect(alice.page.locator("#reports-status")).to_have_text(
            "No open reports.", timeout=WAIT_MS
        )
        _no_script_errors(alice, bob, carol)

    await in_browser(scenario)


async def test_the_audit_log_lists_the_moderators_actions_newest_first(
    places: tuple[Server, Server], ops: Ops
) -> None:
    a, b = places
    dave = await account(a, "dave")
    room = f"/room/{ops.room_id}"
    await _api(a, ops.alice, "PUT", f"{room}/members/{ops.bob.uid}", {"Role": "moderator"})
    await _api(
        a, ops.bob, "PUT", f"{room}/mutes/{ops.carol.uid}", {"Seconds": 600, "Reason": "cool down"}
    )
    await _api(a, ops.bob, "DELETE", f"{room}/mutes/{ops.carol.uid}")
    await _api(a, ops.alice, "PUT", f"{room}/bans/{dave.uid}", {"Reason": "known spammer"})
    await _api(a, ops.alice, "PUT", f"{room}/settings", {"Topic": "incidents only"})

    def scenario(browser):
        bob = _in_room(browser, b, "bob", ops.room_id)
        bob.page.get_by_role("button", name="Reports").click()
        entries = bob.page.locator("#audit li .what")
        expect(entries).to_have_count(5, timeout=WAIT_MS)
        assert entries.all_text_contents() == [
            "alice changed the settings: topic “incidents only”",
            "alice banned dave until lifted (“known spammer”)",
            "bob lifted carol's mute",
            bob.page.locator("#audit li .what").nth(3).text_content(),
            "alice made bob moderator",
        ]
        assert re.fullmatch(
            r"bob muted carol until .+ \(“cool down”\)", entries.nth(3).text_content() or ""
        )
        _no_script_errors(bob)

    await in_browser(scenario)


async def test_a_moderator_lifts_a_ban_in_the_reports_view_and_the_member_may_join_again(
    places: tuple[Server, Server], ops: Ops
) -> None:
    room = f"/room/{ops.room_id}"
    await _api(places[0], ops.alice, "PUT", f"{room}/bans/{ops.carol.uid}", {"Reason": "spam"})

    def scenario(browser):
        alice = _in_room(browser, places[0], "alice", ops.room_id)
        alice.page.get_by_role("button", name="Reports").click()
        bans = alice.page.locator("#bans li")
        expect(bans).to_have_text(
            ["carol, until lifted by alice: “spam”Lift the ban"], timeout=WAIT_MS
        )
        alice.page.get_by_role("button", name="Lift carol's ban").click()
        expect(bans).to_have_text(["None."], timeout=WAIT_MS)
        expect(alice.page.locator("#audit li .what").first).to_have_text(
            "alice lifted carol's ban", timeout=WAIT_MS
        )
        carol = open_client(browser, places[1].http)
        carol.log_in("carol", PASSWORD)
        carol.page.fill("#room-link", f"{places[1].http}/#/room/{ops.room_id}")
        carol.page.click("#join-room-form button")
        carol.wait_for_room("ops")
        _no_script_errors(alice, carol)

    await in_browser(scenario)


async def test_room_settings_change_the_name_and_topic_for_the_other_person_live(
    places: tuple[Server, Server], ops: Ops
) -> None:

    def scenario(browser):
        alice, bob = _pages(browser, places, ops, "alice", "bob")
        bob.page.evaluate("window.notReloaded = true")
        alice.page.get_by_role("button", name="Settings").click()
        dialog = alice.page.get_by_role("dialog", name="Room settings")
        expect(dialog).to_be_visible()
        dialog.get_by_label("Name").fill("incidents")
        dialog.get_by_label("Topic").fill("what broke, and who is on it")
        dialog.get_by_role("button", name="Save").click()
        expect(dialog).to_be_hidden(timeout=WAIT_MS)
        alice.wait_for_room("incidents")
        bob.wait_for_room("incidents")
        expect(bob.page.locator("#room-topic")).to_have_text(
            "what broke, and who is on it", timeout=WAIT_MS
        )
        expect(bob.page.locator(f"#rooms button[data-room='{ops.room_id}']")).to_have_text(
            "incidents", timeout=WAIT_MS
        )
        assert bob.page.evaluate("window.notReloaded")
        # A member may not change them: no Settings for bob.
        assert bob.page.is_hidden("#room-settings")
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_a_moderator_may_change_the_topic_but_not_the_name(
    places: tuple[Server, Server], ops: Ops
) -> None:
    a, _ = places
    await _bob_moderates(places, ops)

    def scenario(browser):
        bob = _in_room(browser, a, "bob", ops.room_id)
        bob.page.get_by_role("button", name="Settings").click()
        dialog = bob.page.get_by_role("dialog", name="Room settings")
        expect(dialog.get_by_label("Name")).to_be_disabled()
        expect(dialog.get_by_label("Private")).to_be_disabled()
        dialog.get_by_label("Topic").fill("moderated by bob")
        dialog.get_by_role("button", name="Save").click()
        expect(dialog).to_be_hidden(timeout=WAIT_MS)
        expect(bob.page.locator("#room-topic")).to_have_text("moderated by bob")
        _no_script_errors(bob)

    await in_browser(scenario)


async def test_an_owner_sets_the_rooms_retention_in_the_settings_and_a_moderator_cannot(
    places: tuple[Server, Server], ops: Ops
) -> None:
    a, b = places
    await _bob_moderates(places, ops)

    def scenario(browser):
        alice = _in_room(browser, a, "alice", ops.room_id, screen=WIDE)
        alice.page.get_by_role("button", name="Settings").click()
        dialog = alice.page.get_by_role("dialog", name="Room settings")
        retention = dialog.get_by_label("Keep messages for this many days")
        expect(retention).to_have_value("")
        retention.fill("0")
        dialog.get_by_role("button", name="Save").click()
        expect(dialog).to_be_visible()  # 0 is out of the field's range: not sent
        retention.fill("7")
        alice.screenshot("room-settings-retention")
        dialog.get_by_role("button", name="Save").click()
        expect(dialog).to_be_hidden(timeout=WAIT_MS)
        alice.page.get_by_role("button", name="Settings").click()
        expect(retention).to_have_value("7")
        alice.page.get_by_role("button", name="Cancel").click()
        bob = _in_room(browser, b, "bob", ops.room_id)
        bob.page.get_by_role("button", name="Settings").click()
        bob_dialog = bob.page.get_by_role("dialog", name="Room settings")
        expect(bob_dialog.get_by_label("Keep messages for this many days")).to_be_disabled()
        _no_script_errors(alice, bob)

    await in_browser(scenario)
    rooms = await _api(a, ops.alice, "GET", "/rooms/details")
    assert [r["RetentionDays"] for r in rooms if r["RoomID"] == ops.room_id] == [7]
    audit = await _api(a, ops.alice, "GET", f"/room/{ops.room_id}/audit")
    assert audit[0]["Details"] == {"RetentionDays": 7}


async def test_expired_messages_leave_the_open_page(tmp_path: Path, nursery: trio.Nursery) -> None:
    config = server_config(tmp_path, None, retention_days=30, retention_period=0.1)
    server = await start_server(nursery, config)
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "ops")
    old = await _api(server, alice, "POST", f"/messages/{room_id}", {"Text": "from last year"})
    await _api(server, alice, "POST", f"/messages/{room_id}", {"Text": "from today"})
    token = trio.lowlevel.current_trio_token()

    async def a_year_passes() -> None:
        await execute_sql(
            config,
            f"UPDATE messages SET created_at = created_at - {365 * 86_400_000}"
            f" WHERE id = {old['MessageID']}",
        )

    def scenario(browser):
        page = _in_room(browser, server, "alice", room_id)
        expect(_message(page, "from last year")).to_be_visible()
        trio.from_thread.run(a_year_passes, trio_token=token)
        expect(_message(page, "from last year")).to_have_count(0, timeout=WAIT_MS)
        expect(_message(page, "from today")).to_be_visible()
        _no_script_errors(page)

    await in_browser(scenario)


async def test_slow_mode_counts_down_in_the_composer_after_a_send(
    places: tuple[Server, Server], ops: Ops
) -> None:

    def scenario(browser):
        alice, bob = _pages(browser, places, ops, "alice", "bob")
        alice.page.get_by_role("button", name="Settings").click()
        dialog = alice.page.get_by_role("dialog", name="Room settings")
        dialog.get_by_label("Slow mode").fill("60")
        dialog.get_by_role("button", name="Save").click()
        status = bob.page.locator("#composer-status")
        expect(status).to_have_text("Slow mode: one message every 1 min.", timeout=WAIT_MS)
        # The owner is not held back.
        expect(alice.page.locator("#composer-status")).to_contain_text(
            "does not hold moderators back"
        )
        bob.say("one a minute, then")
        alice.wait_for_message("one a minute, then")
        expect(status).to_have_text(
            re.compile(r"^Slow mode: you may send again in (60|59|58) s\.$")
        )
        expect(bob.page.locator("#send-form button[type=submit]")).to_be_disabled()
        first = status.text_content()
        expect(status).not_to_have_text(first or "", timeout=WAIT_MS)  # it counts down
        # Enter does not send while it waits: what was typed stays.
        bob.page.fill("#composer", "too soon")
        bob.page.press("#composer", "Enter")
        assert bob.page.input_value("#composer") == "too soon"
        assert bob.unconfirmed_texts() == []
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_an_early_send_in_slow_mode_waits_its_turn_and_goes_by_itself(
    places: tuple[Server, Server], ops: Ops
) -> None:
    a = places[0]
    # Long enough for bob's reload and sign-in to end inside the wait on a loaded machine
    # (at 3 s they once did not, and "second" went through unrefused); short enough for
    # the resend after it to come within one of the page's waits (WAIT_MS).
    await _api(a, ops.alice, "PUT", f"/room/{ops.room_id}/settings", {"SlowModeSeconds": 8})

    def scenario(browser):
        alice, bob = _pages(browser, places, ops, "alice", "bob")
        bob.say("first")
        alice.wait_for_message("first")
        # A reload forgets the countdown: the server's refusal (RetryAfter) brings it back.
        bob.page.reload()
        bob.wait_online()
        bob.wait_for_room("ops")
        bob.say("second")
        failure = bob.page.locator("#messages li.failed .failure")
        expect(failure).to_contain_text("sending again in", timeout=WAIT_MS)
        expect(bob.page.locator("#composer-status")).to_contain_text("you may send again in")
        # It goes by itself when the wait is over.
        alice.wait_for_message("second")
        bob.wait_for_message("second")
        assert alice.message_texts() == ["first", "second"]
        _no_script_errors(alice, bob)

    await in_browser(scenario)


#: What axe-core finds wrong in each theme: nothing.
NO_VIOLATIONS = {"light": [], "dark": []}


async def test_axe_finds_nothing_wrong_with_the_person_menu_settings_and_reports(
    places: tuple[Server, Server], ops: Ops
) -> None:
    source = await axe_source()
    a, b = places
    await _bob_moderates(places, ops)

    def scenario(browser):
        alice = _in_room(browser, a, "alice", ops.room_id, screen=WIDE)
        carol = _in_room(browser, b, "carol", ops.room_id)
        carol.say("a question about the **deploy**")
        alice.wait_for_message("a question about the deploy")
        alice.say("ask away")
        item = _act_on_message(carol, "ask away", "Report alice's message")
        expect(item.get_by_label("Why?")).to_be_focused()
        assert violations_in_both_themes(carol, source) == NO_VIOLATIONS
        item.get_by_label("Why?").fill("rude")
        item.get_by_role("button", name="Report it").click()
        expect(item.locator(".reported")).to_be_visible(timeout=WAIT_MS)
        _open_person_menu(alice, "carol")
        alice.page.get_by_role("button", name="Mute 10 min").click()
        expect(carol.page.locator("#composer")).to_be_disabled(timeout=WAIT_MS)
        assert violations_in_both_themes(carol, source) == NO_VIOLATIONS
        alice.page.locator("#here").hover()
        assert violations_in_both_themes(alice, source, "moderation-person-menu") == NO_VIOLATIONS
        alice.page.get_by_role("button", name="Settings").click()
        expect(alice.page.get_by_role("dialog", name="Room settings")).to_be_visible()
        assert violations_in_both_themes(alice, source, "moderation-settings") == NO_VIOLATIONS
        alice.page.get_by_role("button", name="Cancel").click()
        alice.page.get_by_role("button", name="Reports").click()
        expect(alice.page.locator("#reports li")).to_have_count(1, timeout=WAIT_MS)
        expect(alice.page.locator("#audit li")).not_to_have_count(0)
        assert violations_in_both_themes(alice, source, "moderation-reports") == NO_VIOLATIONS
        _no_script_errors(alice, carol)

    await in_browser(scenario)
