"""Reading a busy room in the browser client (chat/static/reading.js, timeline.js): a
reader scrolled up stays where they are when messages arrive, told how many are below by
a button that takes them there; a room with unread messages opens at the first of them,
under a "New messages" line, and the read marker moves only as far as they have been
seen; scrolling up loads older messages in place; one sender's messages in a row are
grouped; a mention of you is marked in the text."""

from __future__ import annotations

from typing import Any

import trio
from browser import SQLITE_ONLY, WAIT_MS, Client, in_browser, open_client, registered
from support import PASSWORD, Account, Clients, Server, account, create_room, http_client
from test_browser import _no_script_errors
from test_browser_search import _post

pytestmark = SQLITE_ONLY  # tests/browser.py says why

#: Where the list is scrolled: its scrollTop, and how far its end is below the screen.
_SCROLLED = """(() => {
  const list = document.querySelector("#messages");
  return { top: list.scrollTop, below: list.scrollHeight - list.scrollTop - list.clientHeight };
})()"""


async def _newest_id(server: Server, user: Account, room_id: int) -> int:
    async with http_client(server) as client:
        page = await client.get(f"/messages/{room_id}?limit=1", headers=user.auth)
    assert page.status_code == 200, page.text
    return int(page.json()[0]["MessageID"])


async def mark_all_read(server: Server, clients: Clients, user: Account, room_id: int) -> None:
    """`user`'s read marker in the room moves to its newest message (a read frame)."""
    newest = await _newest_id(server, user, room_id)
    ws = await clients.json("/ws", token=user.token)
    await ws.send({"Type": "read", "RoomID": room_id, "MessageID": newest})
    answer = await ws.receive()
    while answer["Type"] == "activity":  # (a room's news reaches a socket in no room)
        answer = await ws.receive()
    assert answer == {"Type": "read", "RoomID": room_id, "MessageID": newest}, answer


async def room_with_unread(
    server: Server, clients: Clients, reader: str, read: int, unread: int
) -> tuple[Account, Account, int]:
    """alice's room "busy" with `reader` in it, who has read the first `read` of alice's
    messages there ("already read 0", ...) and not the `unread` after ("unread 0", ...)."""
    alice, them = await account(server, "alice"), await account(server, reader)
    room_id = await create_room(server, alice, "busy", them)
    await _post(server, alice, room_id, *(f"already read {n}" for n in range(read)))
    await mark_all_read(server, clients, them, room_id)
    await _post(server, alice, room_id, *(f"unread {n}" for n in range(unread)))
    return alice, them, room_id


async def _unread(server: Server, user: Account, room_id: int) -> int:
    async with http_client(server) as client:
        counts = await client.get("/rooms/unread", headers=user.auth)
    assert counts.status_code == 200, counts.text
    return next(row["Unread"] for row in counts.json() if row["RoomID"] == room_id)


def _open_room(client: Client, name: str) -> None:
    client.page.locator("#rooms button", has_text=name).click()
    client.wait_for_room(name)


def _item(client: Client, text: str) -> Any:
    """The message whose text is `text` (not one quoting it)."""
    has = client.page.locator(f".text:text-is('{text}')")
    return client.page.locator("#messages li[data-id]").filter(has=has)


async def test_a_reader_scrolled_up_stays_put_and_is_told_how_many_arrived(
    server: Server,
) -> None:
    from playwright.sync_api import expect

    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "busy", bob)
    token = trio.lowlevel.current_trio_token()

    def scenario(browser):
        page = open_client(browser, server.http)
        page.log_in("bob", PASSWORD)
        _open_room(page, "busy")
        texts = [f"earlier {n}" for n in range(80)]
        trio.from_thread.run(_post, server, alice, room_id, *texts, trio_token=token)
        page.wait_for_message("earlier 79")
        page.page.evaluate("document.querySelector('#messages').scrollTop -= 2000")
        page.page.wait_for_timeout(300)
        before = page.page.evaluate(_SCROLLED)
        assert before["below"] >= 1900, before
        trio.from_thread.run(
            _post, server, alice, room_id, "news 1", "news 2", "news 3", trio_token=token
        )
        expect(_item(page, "news 3")).to_have_count(1, timeout=WAIT_MS)
        page.page.wait_for_timeout(300)  # (time to be yanked down, if it were)
        after = page.page.evaluate(_SCROLLED)
        assert abs(after["top"] - before["top"]) <= 4, (before, after)
        jump = page.page.locator("#jump-new")
        expect(jump).to_have_text("3 new messages")
        page.screenshot_in_both_themes("reading-new-messages")
        jump.click()
        expect(_item(page, "news 3")).to_be_in_viewport()
        assert page.page.evaluate(_SCROLLED)["below"] <= 4
        expect(jump).to_be_hidden()
        _no_script_errors(page)

    await in_browser(scenario)


async def test_a_room_with_hundreds_unread_opens_at_the_first_under_a_line(
    server: Server, clients: Clients
) -> None:
    from playwright.sync_api import expect

    _alice, bob, room_id = await room_with_unread(server, clients, "bob", 40, 330)
    assert await _unread(server, bob, room_id) == 330
    token = trio.lowlevel.current_trio_token()

    def scenario(browser):
        page = open_client(browser, server.http)
        page.log_in("bob", PASSWORD)
        _open_room(page, "busy")
        line = page.page.locator("#messages li.unread-line")
        expect(line).to_have_text("New messages", timeout=WAIT_MS)
        expect(line).to_be_in_viewport()
        first = page.page.locator("#messages li.unread-line + li[data-id] .text")
        expect(first).to_have_text("unread 0")
        expect(page.page.locator("#messages li.unread-line")).to_have_count(1)
        # Pages of 100 back to it: not 6 clicks on "Load older messages".
        history = [r for r in page.requests if r.startswith("GET messages/")]
        assert len(history) <= 4, history
        page.screenshot("reading-first-unread")
        # Only what was on the screen is read: the marker has not gone to the newest.
        page.page.wait_for_timeout(1500)
        unread = trio.from_thread.run(_unread, server, bob, room_id, trio_token=token)
        assert 300 <= unread < 330, unread
        page.page.locator("#jump-new").click()
        expect(_item(page, "unread 329")).to_be_in_viewport()
        for _ in range(50):
            unread = trio.from_thread.run(_unread, server, bob, room_id, trio_token=token)
            if unread == 0:
                break
            page.page.wait_for_timeout(200)
        assert unread == 0
        _no_script_errors(page)

    await in_browser(scenario)


async def test_scrolling_up_loads_older_messages_in_place(server: Server, clients: Clients) -> None:
    from playwright.sync_api import expect

    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "busy", bob)
    await _post(server, alice, room_id, *(f"history {n}" for n in range(160)))
    await mark_all_read(server, clients, bob, room_id)

    def scenario(browser):
        page = open_client(browser, server.http)
        page.log_in("bob", PASSWORD)
        _open_room(page, "busy")
        page.wait_for_message("history 159")
        items = page.page.locator("#messages li[data-id]")
        expect(items).to_have_count(50)
        expect(page.page.locator("#older")).to_be_visible()  # still there, for the keyboard
        page.page.evaluate("document.querySelector('#messages').scrollTop = 0")
        expect(items).to_have_count(100, timeout=WAIT_MS)
        # The message that was at the top is still where the reader saw it.
        list_top = page.page.locator("#messages").bounding_box()["y"]
        seen = _item(page, "history 110").bounding_box()["y"]
        assert list_top <= seen <= list_top + 80, (list_top, seen)
        assert page.page.evaluate(_SCROLLED)["top"] > 1000
        _no_script_errors(page)

    await in_browser(scenario)


async def test_one_senders_messages_in_a_row_are_grouped(server: Server) -> None:
    from playwright.sync_api import expect

    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        for text in ("one", "two", "three"):
            alice.say(text)
        bob.wait_for_message("three")
        bob.say("four")
        alice.wait_for_message("four")
        alice.say("five")
        bob.wait_for_message("five")
        said = _item(alice, "two")
        said.hover()
        said.get_by_role("button", name="Reply to alice").click()
        alice.say("six")
        bob.wait_for_message("six")

        def grouped(text: str) -> bool:
            return "grouped" in (_item(bob, text).first.get_attribute("class") or "").split()

        # A reply, another sender, and the one after them start groups of their own.
        expected = {
            "one": False,
            "two": True,
            "three": True,
            "four": False,
            "five": False,
            "six": False,
        }
        assert {text: grouped(text) for text in expected} == expected
        expect(_item(bob, "two").locator(".avatar")).to_be_hidden()
        expect(_item(bob, "one").locator(".avatar")).to_be_visible()
        bob.screenshot("reading-groups")
        # A deleted message stays in its group, and so does the one after it.
        doomed = _item(alice, "two")
        doomed.hover()
        doomed.get_by_role("button", name="Delete alice's message").click()
        alice.page.get_by_role("button", name="Yes, delete").click()
        expect(bob.page.locator("#messages li.deleted")).to_have_count(1, timeout=WAIT_MS)
        assert grouped("message deleted") and grouped("three") and not grouped("one")
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_a_mention_of_you_is_marked_in_the_text(server: Server) -> None:
    from playwright.sync_api import expect

    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.say("@bob the deploy is yours, `@bob` is not a mention")
        bob.wait_for_message("the deploy is yours")
        mine = bob.page.locator("#messages .text .mention.me")
        expect(mine).to_have_text(["@bob"])
        # The sender sees the name marked as a mention, not as one of them.
        expect(alice.page.locator("#messages .text .mention")).to_have_text(["@bob"])
        expect(alice.page.locator("#messages .text .mention.me")).to_have_count(0)
        bob.screenshot("reading-mention")
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_a_room_in_the_address_opens_at_its_first_unread_too(
    server: Server, clients: Clients
) -> None:
    """Entered at once, before the page has its unread counts: it waits for them."""
    from playwright.sync_api import expect

    _alice, _bob, room_id = await room_with_unread(server, clients, "bob", 30, 60)

    def scenario(browser):
        page = open_client(browser, f"{server.http}/#/room/{room_id}")
        page.log_in("bob", PASSWORD)
        page.wait_for_room("busy")
        first = page.page.locator("#messages li.unread-line + li[data-id] .text")
        expect(first).to_have_text("unread 0", timeout=WAIT_MS)
        expect(first).to_be_in_viewport()
        # What was on the screen is read; a reload opens after it.
        page.page.wait_for_timeout(1500)
        reads = [f for f in page.frames_sent if isinstance(f, dict) and f["Type"] == "read"]
        assert reads and reads[-1]["RoomID"] == room_id, reads
        page.page.reload()  # signed in again, as the page opens
        page.wait_for_room("busy")
        after = page.page.locator("#messages li.unread-line + li[data-id]")
        expect(after).to_have_attribute("data-id", str(reads[-1]["MessageID"] + 1))
        _no_script_errors(page)

    await in_browser(scenario)
