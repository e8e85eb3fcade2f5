"""A thread's messages in the browser's thread panel are messages like the room's
(chat/static/threads.js, changes.js, attachments.js): reacted to, edited and deleted
there, by their author or a moderator, each change shown in both people's panels across
instances and on the root in the room's timeline too; their files shown as in the
timeline, and attached in the panel's composer as in the room's; and a thread longer
than the panel reads at first offers its older replies on asking."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from browser import SQLITE_ONLY, WAIT_MS, Client, in_browser, open_client, registered
from cluster import Instance, open_cluster
from files_support import chart, png, upload
from support import (
    PASSWORD,
    Server,
    account,
    create_room,
    http_client,
    throwaway_postgres_schema,
)
from test_browser import _no_script_errors
from test_browser_cluster import _person_on

from chat.core.outgoing import OutgoingMessage
from chat.core.records import NewMessage
from chat.store import open_store


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[list[Instance]]:
    """Two instances of one chat on PostgreSQL (its LISTEN/NOTIFY bus)."""
    async with (
        throwaway_postgres_schema() as url,
        open_cluster(tmp_path, url, 2) as instances,
    ):
        yield instances


def _in_panel(client: Client, text: str) -> Any:
    """The thread panel's item of the message showing `text`."""
    return client.page.locator("#thread-panel li[data-id]").filter(has_text=text).first


def _act(client: Client, text: str, action: str) -> Any:
    """Hover over the panel's message showing `text`, click its button named `action`;
    the message's item."""
    item = _in_panel(client, text)
    item.hover()
    item.get_by_role("button", name=action).click()
    return item


async def test_in_the_thread_panel_replies_are_reacted_to_edited_and_deleted_across_instances(
    pair: list[Instance],
) -> None:
    a, b = pair

    def scenario(browser):
        from playwright.sync_api import expect

        alice, bob = _person_on(browser, a, "alice"), _person_on(browser, b, "bob")
        alice.say("deploy at 5?")
        for client in (alice, bob):
            client.wait_for_message("deploy at 5?")
            client.page.get_by_role("button", name="Reply in thread to alice").click()
            expect(client.page.locator("#thread-root .text")).to_have_text("deploy at 5?")
        bob.page.fill("#thread-composer", "on it")
        bob.page.press("#thread-composer", "Enter")
        expect(alice.page.locator("#thread-replies .text")).to_have_text(["on it"], timeout=WAIT_MS)
        # Alice reacts to Bob's reply, and to her root, in the panel.
        _act(alice, "on it", "React to bob's message").get_by_role(
            "button", name="React with 🎉"
        ).click()
        _act(alice, "deploy at 5?", "React to alice's message").get_by_role(
            "button", name="React with 🎉"
        ).first.click()
        expect(_in_panel(bob, "on it").locator(".chip")).to_have_text("🎉 1", timeout=WAIT_MS)
        # The root is in both timelines too: its chip there as in the panel.
        for client in (alice, bob):
            root = client.page.locator("#messages li[data-id]", has_text="deploy at 5?")
            expect(root.locator(".chip")).to_have_text("🎉 1", timeout=WAIT_MS)
            expect(_in_panel(client, "deploy at 5?").locator(".chip")).to_have_text("🎉 1")
        # Bob edits his reply in place; Alice sees the new text, marked edited.
        mine = _act(bob, "on it", "Edit your message")
        box = mine.get_by_role("textbox", name="Edit the message")
        box.fill("on it, 5:30")
        box.press("Enter")
        expect(mine.locator(".editor")).to_have_count(0, timeout=WAIT_MS)
        theirs = _in_panel(alice, "on it, 5:30")
        expect(theirs.locator(".edited")).to_have_text("(edited)", timeout=WAIT_MS)
        expect(theirs.locator(".chip")).to_have_text("🎉 1")
        assert (
            _in_panel(alice, "on it, 5:30").get_by_role("button", name="Edit your message").count()
            == 0
        )
        # Then deletes it: a tombstone in both panels, the root's summary at none.
        _act(bob, "on it, 5:30", "Delete bob's message")
        bob.page.get_by_role("button", name="Yes, delete").click()
        for client in (alice, bob):
            expect(client.page.locator("#thread-replies li.deleted .text")).to_have_text(
                "message deleted", timeout=WAIT_MS
            )
            expect(client.page.locator("#thread-replies .chip")).to_have_count(0)
        bob.screenshot("thread-panel-reactions")
        _no_script_errors(alice, bob)

    await in_browser(scenario)


@SQLITE_ONLY  # tests/browser.py says why
async def test_a_thread_replys_image_and_file_show_in_the_panel_as_in_the_timeline(
    server: Server,
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "team", bob)
    image = await upload(server, bob, png(400, 300), "chart.png", "image/png")
    notes = await upload(server, bob, b"minutes", "notes.txt", "text/plain")
    async with http_client(server) as client:
        root = await client.post(f"/messages/{room_id}", headers=alice.auth, json={"Text": "q3?"})
        root_id = root.json()["MessageID"]
        reply = await client.post(
            f"/messages/{room_id}",
            headers=bob.auth,
            json={"Text": "see", "ThreadID": root_id, "Files": [image["FileID"], notes["FileID"]]},
        )
        assert reply.status_code == 201, reply.text

    def scenario(browser):
        from playwright.sync_api import expect

        page = open_client(browser, f"{server.http}/#/room/{room_id}")
        page.log_in("alice", PASSWORD)
        page.wait_for_message("q3?")
        page.page.locator("#messages li[data-id]", has_text="q3?").locator(
            ".thread-summary"
        ).click()
        reply_item = _in_panel(page, "see")
        expect(reply_item.locator(".files img")).to_have_attribute("alt", "chart.png")
        expect(reply_item.locator(".files .file .file-name")).to_have_text("notes.txt")
        page.page.wait_for_function(  # its thumbnail loaded
            "() => document.querySelector('#thread-panel .files img')?.naturalWidth > 0",
            timeout=WAIT_MS,
        )
        reply_item.hover()  # its actions, over its top right corner
        expect(reply_item.get_by_role("button", name="React to bob's message")).to_be_visible()
        page.screenshot("thread-panel-files")
        _no_script_errors(page)

    await in_browser(scenario)


@SQLITE_ONLY
async def test_a_thread_longer_than_the_panel_reads_offers_its_older_replies(
    server: Server,
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "team")
    async with http_client(server) as client:
        root = await client.post(
            f"/messages/{room_id}", headers=alice.auth, json={"Text": "the long one"}
        )
    thread = root.json()["MessageID"]
    # The replies straight into the store: the panel reads them from there.
    async with open_store(server.config) as store:
        await store.add_messages(
            [
                NewMessage(room_id, alice.uid, OutgoingMessage(f"reply {n}", thread_id=thread))
                for n in range(1, 1006)
            ]
        )

    def scenario(browser):
        from playwright.sync_api import expect

        page = open_client(browser, f"{server.http}/#/room/{room_id}")
        page.log_in("alice", PASSWORD)
        page.wait_for_message("the long one")
        page.page.get_by_role("button", name="Reply in thread to alice").click()
        replies = page.page.locator("#thread-replies li[data-id]")
        expect(replies).to_have_count(1000, timeout=WAIT_MS)
        expect(page.page.locator("#thread-root .text")).to_have_text("the long one")
        expect(replies.first.locator(".text")).to_have_text("reply 6")
        older = page.page.get_by_role("button", name="Load older replies")
        older.click()
        expect(replies).to_have_count(1005)
        expect(replies.first.locator(".text")).to_have_text("reply 1")
        expect(older).to_be_hidden()
        expect(replies.last.locator(".text")).to_have_text("reply 1005")
        _no_script_errors(page)

    await in_browser(scenario)


def _drop_on_thread(client: Client, file: dict[str, Any]) -> None:
    """Drop `file` (as Playwright's set_input_files takes one) on the thread panel's
    messages, as the browser does for a file dragged in from the desktop."""
    client.page.evaluate(
        """({ name, mimeType, data }) => {
            const transfer = new DataTransfer();
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            transfer.items.add(new File([bytes], name, { type: mimeType }));
            const target = document.querySelector("#thread-body");
            for (const type of ["dragenter", "dragover", "drop"]) {
                target.dispatchEvent(new DragEvent(type, {
                    bubbles: true, cancelable: true, dataTransfer: transfer,
                }));
            }
        }""",
        {**file, "data": base64.b64encode(file["buffer"]).decode(), "buffer": None},
    )


@SQLITE_ONLY
async def test_files_attached_in_the_thread_composer_go_with_the_reply_and_not_to_the_room(
    server: Server,
) -> None:
    chart_file = {"name": "chart.png", "mimeType": "image/png", "buffer": chart()}
    notes = {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"minutes\n"}

    def scenario(browser):
        from playwright.sync_api import expect

        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.say("numbers?")
        for client in (alice, bob):
            client.wait_for_message("numbers?")
            client.page.get_by_role("button", name="Reply in thread to alice").click()
        with bob.page.expect_file_chooser() as chooser:
            bob.page.get_by_role("button", name="Attach files to the reply").click()
        chooser.value.set_files([chart_file])
        _drop_on_thread(bob, notes)
        uploaded = bob.page.locator("#thread-attachments li.uploaded .file-name")
        expect(uploaded).to_have_text(["chart.png", "notes.txt"], timeout=WAIT_MS)
        expect(bob.page.locator("#attachments li")).to_have_count(0)  # the room's: none
        bob.screenshot("thread-composer-files")
        bob.page.press("#thread-composer", "Enter")  # no text: the files alone
        reply = _in_panel(alice, "notes.txt")
        expect(reply.locator(".files img")).to_have_attribute("alt", "chart.png", timeout=WAIT_MS)
        expect(reply.locator(".files .file .file-name")).to_have_text("notes.txt")
        expect(bob.page.locator("#thread-attachments li")).to_have_count(0)
        expect(_in_panel(bob, "notes.txt").locator(".files img")).to_have_count(1)
        assert alice.message_texts() == ["numbers?"]  # a thread reply: not in the room
        _no_script_errors(alice, bob)

    await in_browser(scenario)
