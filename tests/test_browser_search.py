"""Searching messages in the browser client (chat/static/search.js) and a message shown in
its context (chat/static/context.js): the header's search box lists what it finds with
the room, the sender, the time and the words found highlighted; a result opens its room
at the message (GET /messages/{room}?around=), highlighted, with newer pages loaded by
scrolling down and "Jump to the present" back to the live room."""

from __future__ import annotations

from typing import Any

from browser import PHONE, WAIT_MS, Client, in_browser, open_client
from support import PASSWORD, Account, Server, account, create_room, http_client, room_history
from test_browser import _no_script_errors

#: The message everyone is looking for, and how many others surround it.
WANTED = "the staging password rotation is on the 3rd"
BEFORE, AFTER = 40, 70


async def _post(server: Server, user: Account, room_id: int, *texts: str) -> None:
    """`user` says each of `texts` in the room, in order (POST /messages)."""
    async with http_client(server) as client:
        for text in texts:
            response = await client.post(
                f"/messages/{room_id}", json={"Text": text}, headers=user.auth
            )
            assert response.status_code == 201, response.text


async def busy_room(server: Server) -> tuple[Account, Account, int]:
    """alice and bob in the room "ops", where alice said WANTED between BEFORE and AFTER
    other messages ("ops 0", "ops 1", ...)."""
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "ops", bob)
    await _post(server, alice, room_id, *(f"ops {n}" for n in range(BEFORE)))
    await _post(server, alice, room_id, WANTED)
    await _post(server, alice, room_id, *(f"ops {n}" for n in range(BEFORE, BEFORE + AFTER)))
    return alice, bob, room_id


def _signed_in(browser: Any, server: Server, name: str, **screen: Any) -> Client:
    client = open_client(browser, server.http, **screen)
    client.log_in(name, PASSWORD)
    return client


def search(client: Client, words: str, *, refused: bool = False) -> None:
    """Search for `words` from the header's box and wait for the answer: the results,
    or (`refused`) the reason the server gave. A search refused unexpectedly fails here
    with that reason, not later as results missing."""
    from playwright.sync_api import expect

    client.page.fill("#search-q", words)
    client.page.press("#search-q", "Enter")  # search.js says "Searching…" before it asks
    expect(client.page.locator("#search-status")).not_to_have_text("Searching…")
    error = client.page.locator("#search-error")
    if not refused:
        assert error.is_hidden(), f"the search for {words!r} failed: {error.text_content()}"


def _hold_entered(client: Client, sockets: list[Any] | None = None) -> list[str]:
    """Keep the "entered" frames the server sends `client`'s page from reaching it: they
    go on the list returned, and the page's sockets (as Playwright routes them) on
    `sockets`, to hand a frame on with ``sockets[0].send(frame)``."""
    import re

    held: list[str] = []

    def route(ws: Any) -> None:
        to_server = ws.connect_to_server()
        if sockets is not None:
            sockets.append(ws)

        def from_server(message: str | bytes) -> None:
            if isinstance(message, str) and '"Type":"entered"' in message.replace(" ", ""):
                held.append(message)
                return
            ws.send(message)

        to_server.on_message(from_server)

    client.page.route_web_socket(re.compile(r"/ws(\?|$)"), route)
    return held


def _open_first_result(client: Client, words: str) -> None:
    """Search for `words` and open the first result (in "ops"), shown in its context."""
    from playwright.sync_api import expect

    search(client, words)
    client.page.locator("#results .result").first.click()
    client.wait_for_room("ops")
    expect(client.page.locator("#messages li.found")).to_have_count(1, timeout=WAIT_MS)


def _wanted_in_view(client: Client) -> bool:
    """The message found is on the list, highlighted, and inside the list's view."""
    return client.page.evaluate(
        """() => {
            const item = document.querySelector("#messages li.found");
            if (item === null) return false;
            const list = document.querySelector("#messages").getBoundingClientRect();
            const box = item.getBoundingClientRect();
            return box.top >= list.top && box.bottom <= list.bottom;
        }"""
    )


async def test_a_search_finds_a_message_and_its_result_opens_it_in_its_room_highlighted(
    server: Server,
) -> None:
    from playwright.sync_api import expect

    await busy_room(server)

    def scenario(browser):
        bob = _signed_in(browser, server, "bob")  # in the lobby
        search(bob, "rotation")
        results = bob.page.locator("#results .result")
        expect(results).to_have_count(1, timeout=WAIT_MS)
        result = results.first
        expect(result.locator(".where")).to_have_text("ops")
        expect(result.locator(".who")).to_have_text("alice")
        expect(result.locator(".snippet mark")).to_have_text(["rotation"])
        expect(result.locator(".snippet")).to_have_text(WANTED)
        assert bob.page.locator("#room").is_hidden()  # the results in its place
        bob.screenshot("search-results")
        result.click()
        bob.wait_for_room("ops")
        found = bob.page.locator("#messages li.found")
        expect(found.locator(".text")).to_have_text(WANTED)
        bob.page.wait_for_function("() => document.querySelector('#messages li.found') !== null")
        assert _wanted_in_view(bob)
        # Its neighbours around it, not the room's newest page.
        texts = bob.message_texts()
        assert f"ops {BEFORE - 1}" in texts and f"ops {BEFORE}" in texts
        assert f"ops {BEFORE + AFTER - 1}" not in texts
        expect(bob.page.locator("#present")).to_be_visible()
        assert any("around=" in r for r in bob.requests)
        bob.screenshot("search-opened-in-context")
        _no_script_errors(bob)

    await in_browser(scenario)


async def test_scrolling_down_from_a_message_found_loads_newer_pages_until_the_present(
    server: Server,
) -> None:
    from playwright.sync_api import expect

    await busy_room(server)

    def scenario(browser):
        bob = _signed_in(browser, server, "bob")
        _open_first_result(bob, "staging password")
        expect(bob.page.locator("#present")).to_be_visible()
        for _ in range(10):  # a page at a time, as the reader scrolls to the end
            if bob.page.locator("#present").is_hidden():
                break
            bob.page.eval_on_selector("#messages", "(list) => list.scrollTo(0, list.scrollHeight)")
            bob.page.wait_for_timeout(300)
        expect(bob.page.locator("#present")).to_be_hidden(timeout=WAIT_MS)
        texts = bob.message_texts()
        assert texts[-1] == f"ops {BEFORE + AFTER - 1}"
        start = texts.index(WANTED)
        expected = [f"ops {n}" for n in range(BEFORE, BEFORE + AFTER)]
        assert texts[start + 1 :] == expected  # every one, once, in order
        assert any("after=" in r for r in bob.requests)
        _no_script_errors(bob)

    await in_browser(scenario)


async def test_messages_arriving_while_an_older_page_is_shown_wait_for_the_present(
    server: Server,
) -> None:
    from playwright.sync_api import expect

    await busy_room(server)

    def scenario(browser):
        bob = _signed_in(browser, server, "bob")
        alice_page = _signed_in(browser, server, "alice")
        _open_first_result(bob, "rotation")
        alice_page.page.locator("#rooms button", has_text="ops").click()
        alice_page.wait_for_room("ops")
        alice_page.say("news while bob reads")
        expect(bob.page.locator("#held-count")).to_have_text(
            "1 new message below.", timeout=WAIT_MS
        )
        assert "news while bob reads" not in bob.message_texts()  # not under an old page
        assert _wanted_in_view(bob)  # and bob was not moved
        bob.page.get_by_role("button", name="Jump to the present").click()
        bob.wait_for_message("news while bob reads")
        expect(bob.page.locator("#present")).to_be_hidden()
        texts = bob.message_texts()
        assert texts[-2:] == [f"ops {BEFORE + AFTER - 1}", "news while bob reads"]
        _no_script_errors(bob, alice_page)

    await in_browser(scenario)


async def test_more_results_pages_back_and_only_in_narrows_to_the_room_shown(
    server: Server,
) -> None:
    from playwright.sync_api import expect

    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "ops", bob)
    await _post(server, alice, 1, *(f"lobby deploy {n}" for n in range(15)))
    await _post(server, alice, room_id, *(f"ops deploy {n}" for n in range(12)))

    def scenario(browser):
        client = _signed_in(browser, server, "bob")
        # "only in" offers the room shown when the search opens: the lobby, once entered
        # (online comes first: the socket is open before its "entered" answers).
        client.wait_for_room("lobby")
        search(client, "deploy")
        results = client.page.locator("#results .result")
        expect(results).to_have_count(20, timeout=WAIT_MS)
        expect(results.first.locator(".snippet")).to_have_text("ops deploy 11")  # newest first
        client.page.get_by_role("button", name="More results").click()
        expect(results).to_have_count(27, timeout=WAIT_MS)
        expect(client.page.locator("#search-more")).to_be_hidden()
        expect(client.page.locator("#search-status")).to_have_text("27 messages found.")
        # Only in the room shown (the lobby).
        client.page.get_by_label("only in").check()
        expect(results).to_have_count(15, timeout=WAIT_MS)
        assert set(results.locator(".where").all_text_contents()) == {"lobby"}
        _no_script_errors(client)

    await in_browser(scenario)


async def test_before_a_room_is_shown_search_offers_no_only_in_and_searches_every_room(
    server: Server,
) -> None:
    from playwright.sync_api import expect

    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "ops", bob)
    await _post(server, alice, 1, "lobby deploy")
    await _post(server, alice, room_id, "ops deploy")

    def scenario(browser):
        client = open_client(browser, server.http)
        # The page's socket never hears "entered": it stays online with no room shown.
        held = _hold_entered(client)
        client.log_in("bob", PASSWORD)
        search(client, "deploy")
        results = client.page.locator("#results .result")
        expect(results).to_have_count(2, timeout=WAIT_MS)
        assert held, "the page was shown a room after all"
        expect(client.page.locator("#search-here-label")).to_be_hidden()
        assert set(results.locator(".where").all_text_contents()) == {"lobby", "ops"}
        client.screenshot("search-before-a-room")
        _no_script_errors(client)

    await in_browser(scenario)


async def test_words_typed_in_search_while_the_page_loads_stay_there(server: Server) -> None:
    from playwright.sync_api import expect

    alice = await account(server, "alice")
    await account(server, "bob")
    await _post(server, alice, 1, "lobby deploy")

    def scenario(browser):
        client = open_client(browser, server.http)
        # The page's first room arrives only once bob has begun typing a search.
        sockets: list[Any] = []
        held = _hold_entered(client, sockets)
        client.log_in("bob", PASSWORD)
        client.page.locator("#search-q").press_sequentially("depl")
        for _ in range(100):  # the page's "enter" answered, and held here
            if held:
                break
            client.page.wait_for_timeout(50)
        assert held, "the server never answered the page's enter"
        sockets[0].send(held.pop())
        client.wait_for_room("lobby")
        expect(client.page.locator("#search-q")).to_be_focused()
        expect(client.page.locator("#search-q")).to_have_value("depl")
        expect(client.page.locator("#composer")).to_have_value("")
        client.screenshot("search-typed-while-the-page-loads")
        client.page.keyboard.type("oy")
        client.page.keyboard.press("Enter")
        expect(client.page.locator("#results .result")).to_have_count(1, timeout=WAIT_MS)
        _no_script_errors(client)

    await in_browser(scenario)


async def test_a_snippet_is_text_with_only_the_words_found_marked(server: Server) -> None:
    from playwright.sync_api import expect

    alice = await account(server, "alice")
    await account(server, "bob")
    await _post(server, alice, 1, "<b>bold</b> <img src=x onerror=alert(1)> needle here")

    def scenario(browser):
        client = _signed_in(browser, server, "bob")
        search(client, "needle")
        snippet = client.page.locator("#results .snippet")
        expect(snippet).to_have_text(
            "<b>bold</b> <img src=x onerror=alert(1)> needle here", timeout=WAIT_MS
        )
        assert snippet.evaluate("(s) => [...s.children].map((c) => c.tagName)") == ["MARK"]
        assert client.dialogs == []
        _no_script_errors(client)

    await in_browser(scenario)


async def test_a_search_too_short_says_why(server: Server) -> None:
    from playwright.sync_api import expect

    await account(server, "bob")

    def scenario(browser):
        client = _signed_in(browser, server, "bob")
        search(client, "ab", refused=True)
        error = client.page.locator("#search-error")
        expect(error).to_be_visible(timeout=WAIT_MS)
        # The server's reason, as it gives it.
        expect(error).to_contain_text("at least 3 characters")
        expect(error).to_contain_text('"ab" is too short')
        assert client.page.locator("#results li").count() == 0
        client.screenshot("search-too-short")
        client.errors[:] = [e for e in client.errors if "status of 400" not in e]
        _no_script_errors(client)

    await in_browser(scenario)


async def test_searching_on_a_phone_fits_the_screen(server: Server) -> None:
    from playwright.sync_api import expect

    await busy_room(server)

    def scenario(browser):
        client = _signed_in(browser, server, "bob", screen=PHONE)
        client.tap_on_screen("#search-open")  # the search box opens under its button
        client.assert_on_screen("#search-q")
        search(client, "rotation")
        expect(client.page.locator("#results .result")).to_have_count(1, timeout=WAIT_MS)
        client.assert_on_screen("#results .result")
        client.screenshot("search-phone")
        client.tap_on_screen("#results .result")
        client.wait_for_room("ops")
        expect(client.page.locator("#messages li.found")).to_have_count(1, timeout=WAIT_MS)
        client.assert_on_screen("#to-present")
        client.screenshot("search-phone-opened")
        _no_script_errors(client)

    await in_browser(scenario)


async def test_the_quote_of_a_message_further_back_opens_it_in_context(server: Server) -> None:
    from playwright.sync_api import expect

    alice, _, room_id = await busy_room(server)
    history = await room_history(server, alice, room_id)  # the newest 100, newest first
    wanted_id = next(m["MessageID"] for m in history if m["Text"] == WANTED)
    assert wanted_id not in [m["MessageID"] for m in history[:50]]  # not on the page's first
    async with http_client(server) as client:
        response = await client.post(
            f"/messages/{room_id}",
            json={"Text": "about that rotation", "ReplyTo": wanted_id},
            headers=alice.auth,
        )
    assert response.status_code == 201, response.text

    def scenario(browser):
        client = _signed_in(browser, server, "bob")
        client.page.locator("#rooms button", has_text="ops").click()
        client.wait_for_message("about that rotation")
        quote = client.page.locator("#messages li.reply .quote")
        expect(quote).to_have_text("↪ an earlier message")  # not on the page
        quote.click()
        found = client.page.locator("#messages li.found")
        expect(found).to_have_attribute("data-id", str(wanted_id), timeout=WAIT_MS)
        assert _wanted_in_view(client)
        _no_script_errors(client)

    await in_browser(scenario)


async def test_going_to_a_room_while_results_are_shown_shows_the_room(server: Server) -> None:
    from playwright.sync_api import expect

    await busy_room(server)

    def scenario(browser):
        bob = _signed_in(browser, server, "bob")
        search(bob, "rotation")
        expect(bob.page.locator("#results .result")).to_have_count(1, timeout=WAIT_MS)
        bob.page.locator("#rooms button", has_text="ops").click()
        bob.wait_for_room("ops")
        expect(bob.page.locator("#room")).to_be_visible()
        expect(bob.page.locator("#search-view")).to_be_hidden()
        bob.wait_for_message(f"ops {BEFORE + AFTER - 1}")  # its newest page, as always
        _no_script_errors(bob)

    await in_browser(scenario)
