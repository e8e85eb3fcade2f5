"""Threads in the browser (chat/static/threads.js, socket.js): the room's timeline leaves
out a thread reply that was not also sent to the room, live as after a reload (where
history leaves it out), and shows one sent with AlsoToRoom; a message's "Thread" (reply
in thread) opens the thread panel, where replies come live, across instances; a root
shows "N replies" under it, live and after a reload; the panel opens and closes on a
phone, and axe-core finds nothing wrong with it open."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from axe import axe_source, violations_in_both_themes
from browser import DESKTOP, PHONE, SQLITE_ONLY, WAIT_MS, Client, in_browser, open_client
from cluster import Instance, open_cluster
from support import (
    PASSWORD,
    Account,
    Server,
    account,
    create_room,
    http_client,
    throwaway_postgres_schema,
)
from test_browser import _no_script_errors
from test_browser_cluster import _person_on

#: What axe-core finds wrong in each theme: nothing (violations_in_both_themes).
NONE = {"light": [], "dark": []}


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[list[Instance]]:
    """Two instances of one chat on PostgreSQL (its LISTEN/NOTIFY bus)."""
    async with (
        throwaway_postgres_schema() as url,
        open_cluster(tmp_path, url, 2) as instances,
    ):
        yield instances


def _summary(client: Client, root: str) -> Any:
    """The thread summary under the message whose text is `root`."""
    return client.page.locator("#messages li[data-id]", has_text=root).locator(".thread-summary")


def _panel_texts(client: Client) -> list[str]:
    """The thread panel's messages: its root, then its replies."""
    return client.page.locator("#thread-panel li .text").all_text_contents()


def _reply_in_panel(client: Client, text: str, *, also_to_room: bool = False) -> None:
    client.page.fill("#thread-composer", text)
    if also_to_room:
        client.page.check("#thread-also")
    client.page.press("#thread-composer", "Enter")


async def test_a_thread_across_two_instances_live_in_the_panels_and_the_timelines(
    pair: list[Instance],
) -> None:
    a, b = pair

    def scenario(browser):
        from playwright.sync_api import expect

        alice, bob = _person_on(browser, a, "alice"), _person_on(browser, b, "bob")
        alice.say("deploy at 5?")
        bob.wait_for_message("deploy at 5?")
        bob.page.get_by_role("button", name="Reply in thread to alice").click()
        expect(bob.page.locator("#thread-panel")).to_be_visible()
        expect(bob.page.locator("#thread-root .text")).to_have_text("deploy at 5?")
        expect(bob.page.locator("#thread-composer")).to_be_focused()
        _reply_in_panel(bob, "on it")
        expect(bob.page.locator("#thread-replies .text")).to_have_text(["on it"])
        expect(bob.page.locator("#thread-composer")).to_have_value("")
        # Alice, on the other instance: "1 reply" under the root, live; not in her timeline.
        expect(_summary(alice, "deploy at 5?")).to_contain_text(
            "1 reply · last reply", timeout=WAIT_MS
        )
        assert alice.message_texts() == ["deploy at 5?"]
        _summary(alice, "deploy at 5?").click()
        expect(alice.page.locator("#thread-replies .text")).to_have_text(["on it"])
        expect(_summary(alice, "deploy at 5?")).to_have_attribute("aria-expanded", "true")
        _reply_in_panel(alice, "done", also_to_room=True)
        alice.wait_for_message("done")
        bob.wait_for_message("done")
        for client in (alice, bob):
            expect(client.page.locator("#thread-replies .text")).to_have_text(["on it", "done"])
            expect(_summary(client, "deploy at 5?")).to_contain_text("2 replies")
            assert client.message_texts() == ["deploy at 5?", "done"]
        assert bob.page.locator("#thread-replies li .also").all_text_contents() == [
            "also sent to the room"
        ]
        # The reply sent to the room is a thread reply too: its own action opens the thread.
        alice.page.get_by_role("button", name="Close the thread").click()
        expect(alice.page.locator("#thread-panel")).to_be_hidden()
        alice.page.get_by_role("button", name="Reply in thread to alice").last.click()
        expect(alice.page.locator("#thread-root .text")).to_have_text("deploy at 5?")
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def _thread(server: Server, *replies: str) -> tuple[Account, Account, int, int]:
    """alice's room "team" with bob in it, her root "deploy at 5?" and, in its thread,
    `replies` by bob."""
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "team", bob)
    async with http_client(server) as client:
        root = await client.post(
            f"/messages/{room_id}", headers=alice.auth, json={"Text": "deploy at 5?"}
        )
        assert root.status_code == 201, root.text
        for text in replies:
            said = await client.post(
                f"/messages/{room_id}",
                headers=bob.auth,
                json={"Text": text, "ThreadID": root.json()["MessageID"]},
            )
            assert said.status_code == 201, said.text
    return alice, bob, room_id, root.json()["MessageID"]


def _in_team(browser: Any, server: Server, name: str, room_id: int, **screen: Any) -> Client:
    page = open_client(browser, f"{server.http}/#/room/{room_id}", **screen)
    page.log_in(name, PASSWORD)
    page.wait_for_room("team")
    page.wait_for_message("deploy at 5?")
    return page


@SQLITE_ONLY  # tests/browser.py says why
async def test_a_roots_summary_is_there_after_a_reload_and_follows_replies_and_deletions(
    server: Server,
) -> None:
    _alice, bob, room_id, root_id = await _thread(server, "on it")

    def post(text: str) -> int:
        response = httpx.post(
            f"{server.http}/messages/{room_id}",
            headers=bob.auth,
            json={"Text": text, "ThreadID": root_id},
        )
        assert response.status_code == 201, response.text
        return response.json()["MessageID"]

    def scenario(browser):
        from playwright.sync_api import expect

        page = _in_team(browser, server, "alice", room_id)
        summary = _summary(page, "deploy at 5?")
        expect(summary).to_contain_text("1 reply · last reply")
        later = post("ready")
        expect(summary).to_contain_text("2 replies")
        page.page.reload()
        page.wait_online()
        page.wait_for_room("team")
        page.wait_for_message("deploy at 5?")
        expect(summary).to_contain_text("2 replies")
        summary.click()
        expect(page.page.locator("#thread-replies .text")).to_have_text(["on it", "ready"])
        # A reply the page knows of, deleted: a tombstone in the panel, one reply fewer.
        deleted = httpx.delete(f"{server.http}/messages/{room_id}/{later}", headers=bob.auth)
        assert deleted.status_code < 300, deleted.text
        expect(summary).to_contain_text("1 reply ·")
        expect(page.page.locator("#thread-replies li.deleted .text")).to_have_text(
            "message deleted"
        )
        # Escape closes the panel; the focus goes back to what opened it.
        page.page.press("#thread-composer", "Escape")
        expect(page.page.locator("#thread-panel")).to_be_hidden()
        expect(summary).to_be_focused()
        assert page.message_texts() == ["deploy at 5?"]
        _no_script_errors(page)

    await in_browser(scenario)


async def test_a_summary_follows_the_servers_thread_frames_for_replies_the_page_never_saw(
    server: Server,
) -> None:
    _alice, bob, room_id, root_id = await _thread(server, "on it", "ready")

    def scenario(browser):
        from playwright.sync_api import expect

        page = _in_team(browser, server, "alice", room_id)
        summary = _summary(page, "deploy at 5?")
        expect(summary).to_contain_text("2 replies")  # from history: no reply seen live
        thread = httpx.get(f"{server.http}/messages/{room_id}/threads/{root_id}", headers=bob.auth)
        newest, oldest = (reply["MessageID"] for reply in thread.json()[:2])
        deleted = httpx.delete(f"{server.http}/messages/{room_id}/{newest}", headers=bob.auth)
        assert deleted.status_code < 300, deleted.text
        expect(summary).to_contain_text("1 reply ·")
        deleted = httpx.delete(f"{server.http}/messages/{room_id}/{oldest}", headers=bob.auth)
        assert deleted.status_code < 300, deleted.text
        expect(summary).to_have_count(0)  # no reply left: no summary
        _no_script_errors(page)

    await in_browser(scenario)


async def test_a_link_to_a_reply_in_a_thread_only_opens_its_room_at_the_root_with_the_thread(
    server: Server,
) -> None:
    _alice, bob, room_id, root_id = await _thread(server, "on it", "ready")
    async with http_client(server) as client:
        thread = await client.get(f"/messages/{room_id}/threads/{root_id}", headers=bob.auth)
    newest = thread.json()[0]["MessageID"]

    def scenario(browser):
        from playwright.sync_api import expect

        page = open_client(browser, f"{server.http}/#/room/{room_id}/message/{newest}")
        page.log_in("alice", PASSWORD)
        page.wait_for_room("team")
        page.wait_for_message("deploy at 5?")
        expect(page.page.locator("#thread-panel")).to_be_visible(timeout=WAIT_MS)
        expect(page.page.locator("#thread-replies .text")).to_have_text(["on it", "ready"])
        assert page.page.is_hidden("#error")
        # The page around the reply answered 404 naming its thread: the one error logged.
        missing = [e for e in page.errors if "status of 404" in e]
        assert len(missing) == 1, page.errors
        page.errors.remove(missing[0])
        _no_script_errors(page)

    await in_browser(scenario)


@SQLITE_ONLY
async def test_on_a_phone_the_thread_opens_from_the_message_menu_over_the_room_and_closes(
    server: Server,
) -> None:
    _alice, _bob, room_id, _root_id = await _thread(server, "on it")

    def scenario(browser):
        from playwright.sync_api import expect

        page = _in_team(browser, server, "bob", room_id, screen=PHONE)
        page.tap_on_screen('#messages li[data-id]:has-text("deploy at 5?") .more-button')
        page.tap_on_screen('#messages li[data-id]:has-text("deploy at 5?") .thread-button')
        panel = page.page.locator("#thread-panel")
        expect(panel).to_be_visible()
        box = panel.bounding_box()
        assert box is not None and box["x"] == 0 and box["width"] == 390, box
        assert page.fits_sideways()
        expect(page.page.locator("#thread-replies .text")).to_have_text(["on it"])
        page.assert_on_screen("#thread-composer")
        page.page.fill("#thread-composer", "from a phone")
        page.tap_on_screen("#thread-form button[type=submit]")
        expect(page.page.locator("#thread-replies .text")).to_have_text(["on it", "from a phone"])
        page.tap_on_screen("#thread-close")
        expect(panel).to_be_hidden()
        expect(page.page.locator("#messages")).to_be_visible()
        expect(_summary(page, "deploy at 5?")).to_contain_text("2 replies")
        _no_script_errors(page)

    await in_browser(scenario)


@SQLITE_ONLY
async def test_axe_finds_nothing_wrong_with_the_thread_panel_open(server: Server) -> None:
    source = await axe_source()
    _alice, _bob, room_id, _root_id = await _thread(server, "on it", "**ready** at `17:00`")

    def scenario(browser):
        from playwright.sync_api import expect

        for screen, name in ((DESKTOP, "thread-panel"), (PHONE, "thread-panel-phone")):
            page = _in_team(browser, server, "alice", room_id, screen=screen)
            _summary(page, "deploy at 5?").click()
            expect(page.page.locator("#thread-replies li")).to_have_count(2)
            page.page.fill("#thread-composer", "see you there")
            assert violations_in_both_themes(page, source) == NONE, name
            page.screenshot_in_both_themes(name)
            _no_script_errors(page)

    await in_browser(scenario)


@SQLITE_ONLY
async def test_the_rooms_timeline_leaves_out_thread_replies_live_and_after_a_reload(
    server: Server,
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "team", bob)
    async with http_client(server) as client:
        root = await client.post(f"/messages/{room_id}", headers=alice.auth, json={"Text": "root"})
    root_id = root.json()["MessageID"]

    def post(text: str, **fields: object) -> None:
        response = httpx.post(
            f"{server.http}/messages/{room_id}",
            headers=alice.auth,
            json={"Text": text, **fields},
        )
        assert response.status_code == 201, response.text

    def scenario(browser):
        page = open_client(browser, server.http)
        page.log_in("bob", PASSWORD)
        page.page.locator("#rooms button", has_text="team").click()
        page.wait_for_room("team")
        page.wait_for_message("root")
        post("only in the thread", ThreadID=root_id)
        post("in both", ThreadID=root_id, AlsoToRoom=True)
        post("after")
        page.wait_for_message("after")
        assert page.message_texts() == ["root", "in both", "after"]
        page.page.reload()
        page.wait_online()
        page.page.locator("#rooms button", has_text="team").click()
        page.wait_for_room("team")
        page.wait_for_message("after")
        assert page.message_texts() == ["root", "in both", "after"]
        _no_script_errors(page)

    await in_browser(scenario)
