"""Drafts belong to their room (chat/static/drafts.js): what is being written in one
room (its text, the message it answers, its attachments) never follows the person into
another, where Enter would send it; it waits in its room, and is there again when they
come back."""

from __future__ import annotations

from typing import Any

import trio
from browser import SQLITE_ONLY, Client, in_browser, open_client
from support import PASSWORD, Account, Server, account, create_room, http_client
from test_account_erasure import history
from test_browser import _no_script_errors
from test_browser_files import NOTES

pytestmark = SQLITE_ONLY  # tests/browser.py says why

DRAFT = "the launch is on the 14th, keep it quiet"

#: Put in a page before its own scripts: while ``window.__holdEntered`` is set, the
#: server's "entered" frame (and every frame after it) waits for ``window.__release()``,
#: as on a slow network, where the page has asked for another room and still shows the
#: one it is leaving.
_HOLD_ENTERED = """
(() => {
  const Native = WebSocket;
  const held = [];
  window.__holdEntered = false;
  window.__release = () => { window.__holdEntered = false; for (const f of held.splice(0)) f(); };
  window.WebSocket = class extends Native {
    set onmessage(handler) {
      super.onmessage = (event) => {
        const hold = held.length > 0
          || (window.__holdEntered && JSON.parse(event.data).Type === "entered");
        if (hold) held.push(() => handler(event));
        else handler(event);
      };
    }
  };
})();
"""


def _draft_written(browser: Any, server: Server, room: str) -> Client:
    """alice's page, in `room`, with DRAFT in its composer answering "plans", and a file."""
    page = open_client(browser, server.http)
    page.log_in("alice", PASSWORD)
    page.page.locator("#rooms button", has_text=room).click()
    page.wait_for_room(room)
    page.wait_for_message("plans")
    item = page.page.locator("#messages li[data-id]", has_text="plans")
    item.hover()
    item.get_by_role("button", name="Reply to alice").click()
    page.page.fill("#composer", DRAFT)
    page.attach(NOTES)
    return page


async def test_a_draft_stays_in_its_room_and_comes_back_there(server: Server) -> None:
    from playwright.sync_api import expect

    alice = await account(server, "alice")
    secret = await create_room(server, alice, "secret", private=True)
    async with http_client(server) as client:
        said = await client.post(f"/messages/{secret}", headers=alice.auth, json={"Text": "plans"})
    assert said.status_code == 201, said.text
    lobby = (await client_rooms(server, alice))[0]
    rooms = (lobby, secret)
    token = trio.lowlevel.current_trio_token()

    def scenario(browser):
        page = _draft_written(browser, server, "secret")
        page.screenshot("draft-written")

        page.page.locator("#rooms button", has_text="lobby").click()
        page.wait_for_room("lobby")
        page.screenshot("draft-elsewhere")
        page.page.press("#composer", "Enter")
        page.say("hello lobby")  # what Enter sent would come before this
        page.wait_for_message("hello lobby")
        texts = trio.from_thread.run(texts_by_room, server, alice, rooms, trio_token=token)
        assert texts == {lobby: ["hello lobby"], secret: ["plans"]}
        # Nothing of it was here to send: not the text, the reply, nor the file.
        expect(page.page.locator("#replying")).to_be_hidden()
        expect(page.page.locator("#attachments li")).to_have_count(0)

        page.page.locator("#rooms button", has_text="secret").click()
        page.wait_for_room("secret")
        expect(page.page.locator("#composer")).to_have_value(DRAFT)
        expect(page.page.locator("#replying .quoted")).to_have_text("Replying to alice: plans")
        expect(page.page.locator("#attachments li.uploaded .file-name")).to_have_text(["notes.txt"])
        page.screenshot("draft-back")
        page.page.press("#composer", "Enter")
        page.wait_for_message(DRAFT)
        expect(page.page.locator("#composer")).to_have_value("")
        _no_script_errors(page)

    await in_browser(scenario)
    plans, draft = await history(server, alice, secret)
    assert draft["Text"] == DRAFT
    assert draft["ReplyTo"] == plans["MessageID"]
    assert [f["Name"] for f in draft["Files"]] == ["notes.txt"]


async def test_enter_while_moving_to_another_room_sends_nothing(server: Server) -> None:
    from playwright.sync_api import expect

    alice = await account(server, "alice")
    secret = await create_room(server, alice, "secret", private=True)
    lobby = (await client_rooms(server, alice))[0]
    rooms = (lobby, secret)
    token = trio.lowlevel.current_trio_token()

    def scenario(browser):
        page = open_client(browser, server.http)
        page.page.add_init_script(_HOLD_ENTERED)
        page.page.reload()
        page.log_in("alice", PASSWORD)
        page.page.locator("#rooms button", has_text="secret").click()
        page.wait_for_room("secret")
        page.page.fill("#composer", DRAFT)
        page.page.evaluate("window.__holdEntered = true")
        page.page.locator("#rooms button", has_text="lobby").click()
        expect(page.page.locator("#room-name")).to_have_text("secret")  # still shown
        page.page.press("#composer", "Enter")  # the draft is secret's: not for the lobby
        page.page.evaluate("window.__release()")
        page.wait_for_room("lobby")
        expect(page.page.locator("#composer")).to_have_value("")
        page.say("hello lobby")  # what Enter sent would come before this
        page.wait_for_message("hello lobby")
        texts = trio.from_thread.run(texts_by_room, server, alice, rooms, trio_token=token)
        assert texts == {lobby: ["hello lobby"], secret: []}
        page.page.locator("#rooms button", has_text="secret").click()
        page.wait_for_room("secret")
        expect(page.page.locator("#composer")).to_have_value(DRAFT)
        _no_script_errors(page)

    await in_browser(scenario)


async def texts_by_room(
    server: Server, user: Account, rooms: tuple[int, ...]
) -> dict[int, list[str]]:
    """Each room's message texts, oldest first, as `user` reads them over HTTP."""
    return {room: [m["Text"] for m in await history(server, user, room)] for room in rooms}


async def client_rooms(server: Server, user: Account) -> list[int]:
    """The RoomIDs of `user`'s rooms, the lobby first (GET /rooms)."""
    async with http_client(server) as client:
        response = await client.get("/rooms", headers=user.auth)
    assert response.status_code == 200, response.text
    return list(response.json())


async def test_a_private_draft_survives_a_reload_and_never_reaches_the_lobby(
    server: Server,
) -> None:
    from playwright.sync_api import expect

    alice = await account(server, "alice")
    await account(server, "bob")
    leads = await create_room(server, alice, "leads", private=True)
    async with http_client(server) as client:
        said = await client.post(f"/messages/{leads}", headers=alice.auth, json={"Text": "plans"})
    assert said.status_code == 201, said.text
    lobby = (await client_rooms(server, alice))[0]
    token = trio.lowlevel.current_trio_token()

    def draft_is_back(page):
        expect(page.page.locator("#composer")).to_have_value(DRAFT)
        expect(page.page.locator("#replying")).to_be_visible()
        expect(page.page.locator("#replying .quoted")).to_have_text("Replying to alice: plans")
        expect(page.page.locator("#attachments li.uploaded .file-name")).to_have_text(["notes.txt"])

    def scenario(browser):
        bob = open_client(browser, server.http)
        bob.log_in("bob", PASSWORD)
        bob.wait_for_room("lobby")
        page = _draft_written(browser, server, "leads")

        page.page.locator("#rooms button", has_text="lobby").click()
        page.wait_for_room("lobby")
        page.page.press("#composer", "Enter")
        page.page.reload()  # in the lobby still: its composer is empty
        page.wait_online()
        page.wait_for_room("lobby")
        expect(page.page.locator("#composer")).to_have_value("")
        page.page.press("#composer", "Enter")
        page.say("hello lobby")  # what either Enter sent would come before this
        bob.wait_for_message("hello lobby")
        assert bob.message_texts() == ["hello lobby"]
        texts = trio.from_thread.run(texts_by_room, server, alice, (lobby,), trio_token=token)
        assert texts == {lobby: ["hello lobby"]}

        page.page.locator("#rooms button", has_text="leads").click()
        page.wait_for_room("leads")
        draft_is_back(page)
        page.page.reload()  # in leads: its draft is there again
        page.wait_online()
        page.wait_for_room("leads")
        draft_is_back(page)
        page.screenshot("draft-after-reload")
        page.page.press("#composer", "Enter")
        page.wait_for_message(DRAFT)
        expect(page.page.locator("#composer")).to_have_value("")
        page.page.reload()  # sent: nothing is kept of it
        page.wait_online()
        page.wait_for_room("leads")
        page.wait_for_message(DRAFT)
        expect(page.page.locator("#composer")).to_have_value("")
        expect(page.page.locator("#replying")).to_be_hidden()
        assert bob.message_texts() == ["hello lobby"]
        _no_script_errors(page, bob)

    await in_browser(scenario)
    plans, draft = await history(server, alice, leads)
    assert draft["Text"] == DRAFT
    assert draft["ReplyTo"] == plans["MessageID"]
    assert [f["Name"] for f in draft["Files"]] == ["notes.txt"]
