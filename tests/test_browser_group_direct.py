"""Group direct conversations in the browser client (chat/static/group-direct.js,
direct.js, rooms.js): started from the "Write to" form with several names, listed for
every member named after the others, written in as any room; someone added from the
room's "Add someone" form reads its history, and a member who leaves is off every list.
Three people, each on a page of their own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
from axe import axe_source, violations_in_both_themes
from browser import PHONE, WAIT_MS, Client, in_browser, open_client
from support import PASSWORD, Account, Server, account, http_client, server_config, start_server
from test_browser import _no_script_errors


@pytest.fixture
async def people(tmp_path: Path, nursery: trio.Nursery) -> tuple[Server, list[Account]]:
    """One server on SQLite, and ann, bob, cat and dan's accounts on it."""
    server = await start_server(nursery, server_config(tmp_path, None))
    return server, [await account(server, name) for name in ("ann", "bob", "cat", "dan")]


def _page(browser: Any, server: Server, name: str, screen: Any = None) -> Client:
    """`name`'s page, logged in (in the lobby), on a laptop's screen unless told."""
    client = open_client(browser, server.http, **({} if screen is None else {"screen": screen}))
    client.log_in(name, PASSWORD)
    client.wait_for_room("lobby")
    return client


def _listed(client: Client, label: str) -> Any:
    return client.page.locator("#rooms button", has_text=label)


def _open(client: Client, label: str) -> None:
    from playwright.sync_api import expect

    expect(_listed(client, label)).to_have_count(1, timeout=WAIT_MS)
    _listed(client, label).click()
    client.wait_for_room(label)


async def _group_of(server: Server, maker: Account, *others: Account) -> int:
    async with http_client(server) as client:
        made = await client.post("/dm", headers=maker.auth, json={"UIDs": [o.uid for o in others]})
    assert made.status_code == 201, made.text
    return int(made.json()["RoomID"])


async def test_several_names_in_write_to_start_a_conversation_the_others_write_in_live(
    people: tuple[Server, list[Account]],
) -> None:
    server, _ = people

    def scenario(browser):
        from playwright.sync_api import expect

        ann, bob, cat = (_page(browser, server, name) for name in ("ann", "bob", "cat"))
        ann.page.fill("#dm-form input[name=to]", "bob, c")  # offered with the name before
        expect(ann.page.locator("#people option[value='bob, cat']")).to_have_count(
            1, timeout=WAIT_MS
        )
        ann.page.fill("#dm-form input[name=to]", "bob, cat")
        ann.page.click("#dm-form button")
        ann.wait_for_room("with bob, cat")
        expect(_listed(ann, "with bob, cat")).to_have_attribute("data-kind", "direct")
        ann.say("hello both")
        ann.wait_for_message("hello both")
        # Told at once, each on their own page: listed after the others in it.
        expect(bob.page.locator("#notice")).to_have_text(
            "ann added you to the conversation with ann, cat.", timeout=WAIT_MS
        )
        _open(bob, "with ann, cat")
        bob.wait_for_message("hello both")
        _open(cat, "with ann, bob")
        bob.say("hi from bob")
        for page in (ann, cat):
            page.wait_for_message("hi from bob")
        assert cat.message_texts() == ["hello both", "hi from bob"]
        ann.screenshot_in_both_themes("group-direct-conversation")
        _no_script_errors(ann, bob, cat)

    await in_browser(scenario)


async def test_someone_added_reads_the_history_and_the_others_see_the_new_name(
    people: tuple[Server, list[Account]],
) -> None:
    server, (ann_account, bob_account, cat_account, _) = people
    room_id = await _group_of(server, ann_account, bob_account, cat_account)
    async with http_client(server) as client:
        said = await client.post(
            f"/messages/{room_id}", headers=ann_account.auth, json={"Text": "plans"}
        )
    assert said.status_code == 201, said.text

    def scenario(browser):
        from playwright.sync_api import expect

        bob, ann, dan = (_page(browser, server, name) for name in ("bob", "ann", "dan"))
        _open(bob, "with ann, cat")
        expect(bob.page.locator("#invite-form button[type=submit]")).to_have_text("Add")
        bob.invite("dan")
        expect(bob.page.locator("#notice")).to_have_text("dan is added.", timeout=WAIT_MS)
        bob.wait_for_room("with ann, cat, dan")
        expect(_listed(ann, "with bob, cat, dan")).to_have_count(1, timeout=WAIT_MS)
        _open(dan, "with ann, bob, cat")
        dan.wait_for_message("plans")
        _no_script_errors(bob, ann, dan)

    await in_browser(scenario)


async def test_on_a_phone_someone_is_added_from_the_room_menu(
    people: tuple[Server, list[Account]],
) -> None:
    server, (ann_account, bob_account, cat_account, _) = people
    await _group_of(server, ann_account, bob_account, cat_account)

    def scenario(browser):
        from playwright.sync_api import expect

        ann = _page(browser, server, "ann", PHONE)
        ann.tap_on_screen("#menu")
        _open(ann, "with bob, cat")
        ann.tap_on_screen("#room-more")
        expect(ann.page.locator("#invite-open")).to_have_text("Add someone")
        ann.tap_on_screen("#invite-open")
        ann.screenshot_in_both_themes("group-direct-phone-add")
        ann.submit_on_screen("#invite-form", "name", "dan")
        expect(ann.page.locator("#notice")).to_have_text("dan is added.", timeout=WAIT_MS)
        ann.wait_for_room("with bob, cat, dan")
        _no_script_errors(ann)

    await in_browser(scenario)


async def test_a_member_who_leaves_is_off_the_others_names_and_it_is_off_their_list(
    people: tuple[Server, list[Account]],
) -> None:
    server, (ann_account, bob_account, cat_account, dan_account) = people
    await _group_of(server, ann_account, bob_account, cat_account, dan_account)

    def scenario(browser):
        from playwright.sync_api import expect

        cat, ann = _page(browser, server, "cat"), _page(browser, server, "ann")
        _open(cat, "with ann, bob, dan")
        cat.page.click("#leave-room")
        question = "Leave the conversation with ann, bob, dan?"
        expect(cat.page.locator("#leave-question")).to_contain_text(question)
        cat.page.click("#leave-confirm")
        cat.wait_for_room("lobby")
        notice = "You left the conversation with ann, bob, dan."
        expect(cat.page.locator("#notice")).to_have_text(notice, timeout=WAIT_MS)
        expect(_listed(cat, "with ann, bob, dan")).to_have_count(0, timeout=WAIT_MS)
        expect(_listed(ann, "with bob, dan")).to_have_count(1, timeout=WAIT_MS)
        _no_script_errors(cat, ann)

    await in_browser(scenario)


async def test_axe_finds_nothing_wrong_with_a_group_conversation_and_its_add_form(
    people: tuple[Server, list[Account]],
) -> None:
    source = await axe_source()
    server, (ann_account, bob_account, cat_account, _) = people
    await _group_of(server, ann_account, bob_account, cat_account)

    def scenario(browser):
        ann = _page(browser, server, "ann")
        ann.page.fill("#dm-form input[name=to]", "bob, cat")
        _open(ann, "with bob, cat")
        assert violations_in_both_themes(ann, source, "group-direct-axe") == {
            "light": [],
            "dark": [],
        }
        _no_script_errors(ann)

    await in_browser(scenario)
