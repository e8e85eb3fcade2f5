"""Sending from the browser client: nothing stays "sending..." for ever (a refused
message says why, with Retry and Discard; one sent too fast goes again by itself when
the server says; one the server never answers is given up), the composer counts
characters and stops at the server's limit (GET /client/settings), and entering a room
shows its newest message whole (the people filling in and the typing line never hide
it)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import trio
from browser import PHONE, SQLITE_ONLY, WAIT_MS, Client, in_browser, open_client, registered
from support import PASSWORD, Server, account, create_room, http_client, start_server
from test_browser import _no_script_errors
from test_frame_limits import frame_limited

import chat
from chat.core.config import Config

pytestmark = SQLITE_ONLY  # tests/browser.py says why

#: How long the page waits for the server to confirm a message before it offers Retry
#: (chat/static/sending.js).
_SENDING = (Path(chat.__file__).parent / "static" / "sending.js").read_text()
NO_ANSWER_MS = int(re.search(r"const NO_ANSWER_MS = ([\d_]+);", _SENDING)[1].replace("_", ""))


def _texts_sent(client: Client) -> list[dict[str, Any]]:
    return [f for f in client.frames_sent if isinstance(f, dict) and f.get("Type") == "message"]


async def test_a_refused_message_says_why_and_is_retried_or_discarded(server: Server) -> None:
    from playwright.sync_api import expect

    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.say("an escape \x1b in it")  # a control character: refused
        failure = alice.page.locator("#messages li.failed .failure")
        expect(failure).to_have_text(
            "Not sent: message text must not contain control characters other than line"
            " breaks and tabs (U+001B). Retry Discard",
            timeout=WAIT_MS,
        )
        assert alice.page.locator("#messages li.unconfirmed").count() == 0  # not "sending..."
        assert alice.page.locator("#error").is_hidden()  # said on the message, not above
        alice.screenshot("refused")
        # Retry: the same message, under the same id, once more (refused again).
        alice.page.get_by_role("button", name="Retry").click()
        expect(failure).to_have_count(1, timeout=WAIT_MS)
        failure.wait_for(timeout=WAIT_MS)
        sent = _texts_sent(alice)
        assert len(sent) == 2 and sent[0] == sent[1]
        # Still there, and still not sent, after a visit to another room.
        alice.create_room("elsewhere")
        alice.page.locator("#rooms button", has_text="lobby").click()
        alice.wait_for_room("lobby")
        expect(failure).to_have_count(1, timeout=WAIT_MS)
        assert len(_texts_sent(alice)) == 2
        # Discard: gone, and the composer has the focus.
        alice.page.get_by_role("button", name="Discard").click()
        expect(alice.page.locator("#messages li.failed")).to_have_count(0)
        assert alice.page.evaluate("document.activeElement.id") == "composer"
        alice.say("better")
        bob.wait_for_message("better")
        assert bob.message_texts() == ["better"]
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_a_message_sent_too_fast_is_sent_again_after_the_wait_the_server_names(
    nursery: trio.Nursery, config: Config
) -> None:
    from playwright.sync_api import expect

    server = await start_server(nursery, frame_limited(config, rate_messages="2/second"))

    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        # Three at once: the third is past the limit.
        alice.page.evaluate(
            """for (const text of ["one", "two", "three"]) {
                document.querySelector("#composer").value = text;
                document.querySelector("#send-form").requestSubmit();
            }"""
        )
        waiting = alice.page.locator("#messages li.failed .failure")
        expect(waiting).to_have_text(
            re.compile(
                r"^Not sent yet \(too many messages: try again in (\d+) s\): sending again in"
                r" \1 s\. Discard$"
            ),
            timeout=WAIT_MS,
        )
        alice.screenshot("sent-too-fast")
        bob.wait_for_message("three")  # sent again, by itself
        assert sorted(bob.message_texts()) == ["one", "three", "two"]
        expect(alice.page.locator("#messages li.failed")).to_have_count(0)
        # Alice's confirmation is a frame of its own: it may come after Bob's copy.
        alice.wait_for_message("three")
        assert sorted(alice.message_texts()) == ["one", "three", "two"]
        # Under its own id each time: stored once.
        ids = [f["ClientMsgID"] for f in _texts_sent(alice) if f["Text"] == "three"]
        assert len(ids) == 2 and ids[0] == ids[1]
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_a_message_the_server_never_answers_is_given_up_with_retry(
    server: Server,
) -> None:
    from playwright.sync_api import expect

    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        # Alice's page loses the first try of "lost" on its way out (as a proxy might).
        dropped = []

        def route(ws: Any) -> None:
            to_server = ws.connect_to_server()

            def from_page(message: str | bytes) -> None:
                if isinstance(message, str) and '"lost"' in message and not dropped:
                    dropped.append(json.loads(message))
                    return
                to_server.send(message)

            ws.on_message(from_page)

        alice.page.route_web_socket(re.compile(r"/ws(\?|$)"), route)
        # The page's clock, Playwright's from the reload on: the 15 s the page gives the
        # server to answer pass at once (`fast_forward`), not in the test's time.
        alice.page.clock.install()
        alice.page.reload()
        alice.wait_online()
        alice.say("lost")
        expect(alice.page.locator("#messages li.unconfirmed .text")).to_have_text(["lost"])
        alice.page.clock.fast_forward(NO_ANSWER_MS)
        failure = alice.page.locator("#messages li.failed .failure")
        expect(failure).to_have_text("Not sent: the server did not answer. Retry Discard")
        assert dropped and alice.unconfirmed_texts() == []
        alice.page.get_by_role("button", name="Retry").click()
        bob.wait_for_message("lost")
        expect(alice.page.locator("#messages li.failed")).to_have_count(0)
        # Alice's confirmation comes through the route above, after Bob's copy at times.
        alice.wait_for_message("lost")
        assert alice.message_texts() == ["lost"]
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_the_composer_counts_characters_and_stops_at_the_servers_limit(
    nursery: trio.Nursery, config: Config
) -> None:
    from playwright.sync_api import expect

    server = await start_server(nursery, config.replace(max_text_chars=40))

    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        counter = alice.page.locator("#char-count")
        composer = alice.page.locator("#composer")
        composer.type("a" * 20)
        assert counter.is_hidden()  # far from the limit: nothing to say
        composer.type("b" * 14)
        expect(counter).to_have_text("34 / 40")
        composer.type("c" * 10)  # stops at 40
        assert composer.input_value() == "a" * 20 + "b" * 14 + "c" * 6
        expect(counter).to_have_text("40 / 40")
        assert "full" in (counter.get_attribute("class") or "")
        alice.screenshot("composer-full")
        composer.press("Enter")
        bob.wait_for_message("a" * 20)
        expect(counter).to_be_hidden()
        # As the server counts: an emoji is one character, not two.
        composer.fill("😀" * 45)
        composer.dispatch_event("input")
        assert composer.input_value() == "😀" * 40
        composer.press("Enter")
        bob.wait_for_message("😀" * 40)
        assert alice.page.locator("#messages li.failed").count() == 0
        _no_script_errors(alice, bob)

    await in_browser(scenario)


def _newest_is_fully_shown(client: Client) -> bool:
    """The room's newest message is inside the message list's box and above the typing
    line, every bit of it."""
    return client.page.evaluate(
        """(() => {
            const list = document.querySelector("#messages").getBoundingClientRect();
            const items = document.querySelectorAll("#messages li[data-id]");
            const newest = items[items.length - 1].getBoundingClientRect();
            const typing = document.querySelector("#typing").getBoundingClientRect();
            return newest.top >= list.top && newest.bottom <= list.bottom + 0.5
                && newest.bottom <= typing.top + 0.5;
        })()"""
    )


def _wait_until(client: Client, check, what: str) -> None:
    deadline = time.monotonic() + WAIT_MS / 1000
    while not check(client):
        assert time.monotonic() < deadline, what
        client.page.wait_for_timeout(50)


async def _a_busy_room(server: Server) -> int:
    """A room of owner's that carol and dave joined, 80 messages long (more than a page),
    the last one two paragraphs long."""
    owner, carol, dave = [await account(server, name) for name in ("owner", "carol", "dave")]
    room_id = await create_room(server, owner, "busy", carol, dave)
    async with http_client(server) as client:
        for i in range(80):
            text = f"message {i}" if i < 79 else "the newest\n\nsecond paragraph of it"
            sent = await client.post(
                f"/messages/{room_id}", headers=owner.auth, json={"Text": text}
            )
            assert sent.status_code == 201, sent.text
    return room_id


async def _entering_shows_the_newest_whole(server: Server, screen: dict[str, Any]) -> None:
    room_id = await _a_busy_room(server)

    def scenario(browser):
        typist = open_client(browser, server.http)
        typist.log_in("carol", PASSWORD)
        typist.page.goto(f"{server.http}/#/room/{room_id}")
        typist.wait_for_room("busy")
        viewer = open_client(browser, server.http, screen=screen)
        viewer.log_in("dave", PASSWORD)
        viewer.page.goto(f"{server.http}/#/room/{room_id}")
        viewer.wait_for_room("busy")
        viewer.wait_for_message("second paragraph of it")
        viewer.wait_for_text("#here li", "carol")  # the people panel filled in
        _wait_until(viewer, _newest_is_fully_shown, "the newest message is hidden")
        typist.page.type("#composer", "a long thought")  # the typing line shows
        viewer.wait_for_text("#typing", "carol is typing...")
        _wait_until(viewer, _newest_is_fully_shown, "the typing line hides the newest message")
        viewer.screenshot(f"entered-{'phone' if screen is PHONE else 'desktop'}")
        _no_script_errors(typist, viewer)

    await in_browser(scenario)


async def test_entering_a_room_shows_its_newest_message_whole(server: Server) -> None:
    await _entering_shows_the_newest_whole(server, {"viewport": {"width": 720, "height": 500}})


async def test_entering_a_room_on_a_phone_shows_its_newest_message_whole(
    server: Server,
) -> None:
    await _entering_shows_the_newest_whole(server, PHONE)
