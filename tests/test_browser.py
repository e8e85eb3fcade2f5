"""The browser client, driven in real headless Chromium pages against a real server."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import trio
from browser import (
    PHONE,
    SQLITE_ONLY,
    WAIT_MS,
    WIDE,
    Client,
    in_browser,
    open_client,
    registered,
)
from files_support import chart
from support import (
    PASSWORD,
    Account,
    Server,
    StoppableServer,
    account,
    create_room,
    execute_sql,
    http_client,
    open_clients,
    select_rows,
    start_server,
)

from chat.app.history.backlog import MAX_RESUME
from chat.core.config import Config
from chat.core.outgoing import OutgoingMessage
from chat.core.records import NewMessage
from chat.store import open_store

pytestmark = SQLITE_ONLY  # tests/browser.py says why

ROOT = Path(__file__).resolve().parent.parent


def _no_script_errors(*clients: Client) -> None:
    for client in clients:
        # (A refused or dropped WebSocket is logged by the browser; that is not ours.)
        # (Nor Chromium saying its private contexts, as the tests' are, have no Push API.)
        ours = [
            e
            for e in client.errors
            if "WebSocket" not in e and "ERR_CONNECTION" not in e and "Push API" not in e
        ]
        assert not ours, ours


async def test_two_people_register_and_chat_both_ways(server: Server) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.say("hello bob")
        bob.wait_for_message("hello bob")
        bob.say("hi alice")
        alice.wait_for_message("hi alice")
        # Each sees both messages, once, in order.
        assert alice.message_texts() == bob.message_texts() == ["hello bob", "hi alice"]
        names = bob.page.locator("#messages .name").all_text_contents()
        assert names == ["alice", "bob"]
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_shift_enter_breaks_the_line_and_the_others_see_the_message_in_lines(
    server: Server,
) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        composer = alice.page.locator("#send-form [name=text]")
        one_line = composer.bounding_box()["height"]
        composer.type("first line")
        composer.press("Shift+Enter")
        composer.type("second line")
        composer.press("Shift+Enter")
        composer.type("third")
        assert composer.bounding_box()["height"] > one_line  # it grew with its lines
        composer.press("Enter")
        bob.wait_for_message("second line")
        assert bob.message_texts() == ["first line\nsecond line\nthird"]
        # Shown as three lines, not run together.
        shown = bob.page.locator("#messages li .text").first
        assert shown.inner_text() == "first line\nsecond line\nthird"
        assert composer.input_value() == ""
        assert composer.bounding_box()["height"] == one_line
        if os.environ.get("CHAT_SCREENSHOT_DIR"):
            bob.page.screenshot(path=f"{os.environ['CHAT_SCREENSHOT_DIR']}/multi-line.png")
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_a_reply_quotes_the_message_it_answers_and_its_quote_shows_that_message(
    server: Server,
) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.say("lunch at noon?\nor later")
        bob.wait_for_message("lunch at noon?")
        question = bob.page.locator("#messages li").filter(has_text="lunch at noon?")
        question_id = int(question.get_attribute("data-id"))
        question.hover()
        question.get_by_role("button", name="Reply to alice").click()
        assert (
            bob.page.locator("#replying")
            .inner_text()
            .startswith("Replying to alice: lunch at noon?")
        )
        bob.say("noon is fine")
        assert bob.page.locator("#replying").is_hidden()  # sent: the reply is done
        alice.wait_for_message("noon is fine")
        reply = alice.page.locator("#messages li.reply")
        assert reply.locator(".quote").inner_text() == "↪ alice: lunch at noon?"
        assert reply.locator(".text").inner_text() == "noon is fine"
        sent = [f for f in bob.frames_sent if isinstance(f, dict) and f.get("Text")]
        assert sent[-1]["ReplyTo"] == question_id
        reply.locator(".quote").click()
        asked = alice.page.locator(f'#messages li[data-id="{question_id}"]')
        assert "found" in asked.get_attribute("class")
        if os.environ.get("CHAT_SCREENSHOT_DIR"):
            alice.page.screenshot(path=f"{os.environ['CHAT_SCREENSHOT_DIR']}/reply.png")
        # Escape lets go of a reply chosen by mistake; the next message answers nothing.
        reply.hover()
        reply.get_by_role("button", name="Reply to bob").click()
        if os.environ.get("CHAT_SCREENSHOT_DIR"):
            alice.page.screenshot(path=f"{os.environ['CHAT_SCREENSHOT_DIR']}/replying.png")
        alice.page.press("#send-form [name=text]", "Escape")
        assert alice.page.locator("#replying").is_hidden()
        alice.say("see you")
        bob.wait_for_message("see you")
        assert "ReplyTo" not in alice.frames_sent[-1]
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_a_reload_stays_signed_in_with_no_token_in_storage(server: Server) -> None:
    await account(server, "carol", "password")

    def scenario(browser):
        carol = open_client(browser, server.http)
        carol.log_in("carol")
        # The session cookie (HttpOnly) signs the page in again; no token is kept.
        assert carol.page.evaluate("Object.keys(sessionStorage)") == []
        carol.page.reload()
        carol.wait_online()
        assert "carol" in carol.page.text_content("#whoami")
        _no_script_errors(carol)

    await in_browser(scenario)


async def test_errors_from_the_server_are_shown(server: Server) -> None:
    await account(server, "dave", "password")

    def scenario(browser):
        page = open_client(browser, server.http)
        page.fill_and_click("dave", "wrong", "#login")
        page.wait_for_text("#error", "invalid credentials")
        page.fill_and_click("dave", "password", "#register")
        page.wait_for_text("#error", "already taken")
        page.log_in("dave")
        page.page.fill("#join-room-form input[name=room]", "999")
        page.page.click("#join-room-form button")
        page.wait_for_text("#error", "no room with RoomID 999")

    await in_browser(scenario)


async def test_the_lobby_history_is_shown_on_arrival(server: Server) -> None:
    writer = await account(server, "writer")
    async with open_clients(server) as clients:
        talker = await clients.talker(token=writer.token)
        for i in range(3):
            await talker.say(f"earlier {i}")
        await talker.stored()

    def scenario(browser):
        reader = open_client(browser, server.http)
        reader.register("reader")
        reader.wait_for_message("earlier 2")
        assert reader.message_texts() == ["earlier 0", "earlier 1", "earlier 2"]

    await in_browser(scenario)


async def test_days_are_separated_by_their_names(nursery: trio.Nursery, config: Config) -> None:
    # The test moves messages back in time in the table, behind the server's back: the
    # history kept in memory (chat.app.history.from_memory) would not know, so it is off here.
    server = await start_server(nursery, config.replace(history_cache_mb=0))
    writer = await account(server, "writer")
    async with open_clients(server) as clients:
        talker = await clients.talker(token=writer.token)
        for text in ("three days ago", "also then", "today"):
            await talker.say(text)
        await talker.stored()
    back = (
        "created_at - interval '3 days'"
        if server.config.is_postgres
        else "created_at - 3 * 86400000"
    )
    await execute_sql(
        server.config,
        f"UPDATE messages SET created_at = {back} WHERE body IN ('three days ago', 'also then')",
    )

    def scenario(browser):
        reader = open_client(browser, server.http)
        reader.register("reader")
        reader.wait_for_message("today")
        days = reader.page.locator("#messages li.day").all_inner_texts()
        assert len(days) == 2 and days[1] == "Today", days
        assert days[0] not in ("Today", "Yesterday")
        # Each separator comes right before its day's first message.
        order = reader.page.locator("#messages li").evaluate_all(
            "items => items.map(i => i.classList.contains('day') ? 'day' :"
            " i.querySelector('.text').textContent)"
        )
        assert order == ["day", "three days ago", "also then", "day", "today"]
        if os.environ.get("CHAT_SCREENSHOT_DIR"):
            reader.page.screenshot(path=f"{os.environ['CHAT_SCREENSHOT_DIR']}/days.png")

    await in_browser(scenario)


async def test_older_messages_load_a_page_at_a_time(server: Server) -> None:
    writer = await account(server, "writer")
    texts = [f"old {i}" for i in range(120)]
    async with open_clients(server) as clients:
        talker = await clients.talker(token=writer.token)
        for text in texts:
            await talker.say(text)
        await talker.stored()

    def scenario(browser):
        reader = open_client(browser, server.http)
        reader.register("reader")
        reader.wait_for_message("old 119")
        assert reader.message_texts() == texts[70:]  # the latest page on arrival
        older = reader.page.locator("#older")
        older.click()
        reader.wait_for_message("old 20")
        assert reader.message_texts() == texts[20:]
        older.click()
        reader.wait_for_message("old 0")
        assert reader.message_texts() == texts  # everything, once, in order
        reader.page.wait_for_selector("#older", state="hidden", timeout=WAIT_MS)
        _no_script_errors(reader)

    await in_browser(scenario)


async def test_a_room_can_be_created_joined_and_entered(server: Server) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.page.fill("#create-room-form input[name=name]", "plans")
        alice.page.click("#create-room-form button")
        alice.page.wait_for_selector("#room-name:has-text('plans')", timeout=WAIT_MS)
        alice.say("in the plans room")
        alice.wait_for_message("in the plans room")
        room_button = alice.page.locator("#rooms button", has_text="plans")
        room_id = room_button.get_attribute("data-room")

        bob.page.fill("#join-room-form input[name=room]", room_id)
        bob.page.click("#join-room-form button")
        bob.page.wait_for_selector("#room-name:has-text('plans')", timeout=WAIT_MS)
        bob.wait_for_message("in the plans room")  # the room's history on entering
        bob.say("bob was here")
        alice.wait_for_message("bob was here")
        # Back to the lobby: the room's messages are not there.
        bob.page.locator("#rooms button", has_text="lobby").click()
        bob.page.wait_for_selector("#room-name:has-text('lobby')", timeout=WAIT_MS)
        assert "bob was here" not in bob.message_texts()
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_a_room_switched_to_shows_its_newest_page_that_came_with_entered(
    server: Server,
) -> None:
    writer = await account(server, "writer")
    room_id = await create_room(server, writer, "plans")
    texts = [f"plan {i}" for i in range(60)]
    async with open_clients(server) as clients:
        writing = await clients.json("/ws", token=writer.token)
        await writing.request({"Type": "enter", "RoomID": room_id, "Presence": False})
        for text in texts:
            await writing.send({"Type": "message", "Text": text})
        for _ in texts:
            await writing.receive()

    def scenario(browser):
        # The writer, for whom nothing in the room is unread: a reader with 60 unread
        # would have the page look further back, for the first of them (reading.js).
        reader = open_client(browser, server.http)
        reader.log_in("writer", PASSWORD)
        reader.page.locator("#rooms button", has_text="plans").click()
        reader.wait_for_room("plans")
        reader.wait_for_message("plan 59")
        assert reader.message_texts() == texts[10:]  # the newest 50, in order
        reader.screenshot("room-switched-to")
        # One round trip: the page came in "entered", none was asked for over HTTP.
        assert not [r for r in reader.requests if r.startswith(f"GET messages/{room_id}")]
        entering = [f for f in reader.frames_sent if isinstance(f, dict) and f["Type"] == "enter"]
        assert entering[-1] == {"Type": "enter", "RoomID": room_id, "Presence": "list", "Page": 50}
        # Older pages still come over HTTP, and meet the first one exactly.
        reader.page.locator("#older").click()
        reader.wait_for_message("plan 0")
        assert reader.message_texts() == texts
        _no_script_errors(reader)

    await in_browser(scenario)


async def test_a_direct_message_reaches_the_other_person_in_their_conversation_once(
    server: Server,
) -> None:
    from playwright.sync_api import expect

    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.send_direct("bob", "just for you")
        # The conversation is now one of bob's rooms, named after alice, with the
        # message unread; listed once however many messages arrive.
        conversation = bob.page.locator("#rooms li", has_text="with alice")
        expect(conversation.locator(".badge")).to_have_text("1", timeout=WAIT_MS)
        for text in ("and this", "and that"):
            alice.say(text)
        alice.wait_for_message("and that")
        expect(conversation.locator(".badge")).to_have_text("3", timeout=WAIT_MS)
        assert "just for you" not in bob.message_texts()  # not in the lobby
        assert bob.page.locator("#rooms button", has_text="with alice").count() == 1
        conversation.locator("button").click()
        bob.wait_for_room("with alice")
        bob.wait_for_message("and that")
        expected = ["just for you", "and this", "and that"]
        assert bob.message_texts() == alice.message_texts() == expected
        # Nowhere else on either page (no second log of direct messages).
        for client in (alice, bob):
            assert client.page.locator("body").inner_text().count("just for you") == 1
        bob.page.reload()
        bob.wait_online()
        bob.wait_for_room("with alice")  # the address kept the conversation
        bob.wait_for_message("and that")
        assert bob.message_texts() == expected
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_html_in_a_message_is_shown_as_text_and_never_runs(server: Server) -> None:
    attack = "<img src=x onerror=alert(1)><script>alert(2)</script>"

    def scenario(browser):
        mallory, victim = registered(browser, server.http, "mallory", "victim")
        mallory.say(attack)
        victim.wait_for_message("<img src=x")
        assert victim.message_texts() == [attack]
        assert victim.page.locator("#messages img, #messages script").count() == 0
        victim.page.wait_for_timeout(300)  # give a broken renderer time to misbehave
        assert victim.dialogs == [] and mallory.dialogs == []
        # A new arrival renders the same text from the history: just as inert.
        late = open_client(browser, server.http)
        late.register("late")
        late.wait_for_message("<img src=x")
        assert late.page.locator("#messages img").count() == 0 and late.dialogs == []

    await in_browser(scenario)


async def test_the_page_resumes_after_a_reconnection_and_sends_what_was_written_offline(
    config: Config,
) -> None:
    async with trio.open_nursery() as nursery:
        restartable = StoppableServer(nursery, config)
        server = await restartable.start()
        writer, reader_account = await account(server, "writer"), await account(server, "reader")

        # The browser runs in its own thread; the server side is driven from here,
        # at the points the browser scenario signals.
        token = trio.lowlevel.current_trio_token()
        steps = {}

        def step(name: str) -> None:
            trio.from_thread.run(steps[name], trio_token=token)

        async def restart_with_missed_messages() -> None:
            again = await restartable.start()
            async with open_clients(again) as clients:
                talker = await clients.talker(token=writer.token)
                for i in range(120):  # more than one page of history
                    await talker.say(f"missed {i}")
                await talker.stored()
                direct = await clients.json("/", token=writer.token)
                await direct.send(
                    {"from": writer.uid, "to": reader_account.uid, "content": "missed privately"}
                )
                await direct.receive()  # the sender's copy: stored

        steps["stop"] = restartable.stop  # the connection drops
        steps["restart"] = restart_with_missed_messages

        def scenario(browser):
            from playwright.sync_api import expect

            reader = open_client(browser, server.http)
            reader.log_in("reader", PASSWORD)
            reader.say("before the drop")
            reader.wait_for_message("before the drop")
            step("stop")
            reader.page.wait_for_selector("#connection:not([data-state=online])", timeout=WAIT_MS)
            # Written while offline: shown as waiting, sent once the page is back.
            reader.say("written offline")
            expect(reader.page.locator("#messages li.unconfirmed .text")).to_have_text(
                ["written offline"]
            )
            requests_before = len(reader.requests)
            step("restart")
            reader.wait_online()
            reader.wait_for_message("written offline")
            # The page may have come back while the missed messages were still being
            # written: then "written offline" was stored among them, and the rest follow.
            reader.wait_for_message("missed 119")
            assert reader.unconfirmed_texts() == []
            missed = ["before the drop"] + [f"missed {i}" for i in range(120)]
            texts = reader.message_texts()
            # Everything, once, in the order it was stored.
            assert sorted(texts) == sorted([*missed, "written offline"])
            assert [text for text in texts if text != "written offline"] == missed
            ids = reader.page.eval_on_selector_all(
                "#messages li[data-id]", "items => items.map(item => Number(item.dataset.id))"
            )
            assert len(ids) == len(texts) and ids == sorted(set(ids))
            # It resumed on the socket from the last message it had seen, and did not
            # page back through the room's history for it.
            enters = [
                f for f in reader.frames_sent if isinstance(f, dict) and f.get("Type") == "enter"
            ]
            last_seen = int(ids[0])
            assert enters[-1] == {
                "Type": "enter",
                "RoomID": 1,
                "SinceID": last_seen,
                "Presence": "list",
            }
            lobby_pages = [r for r in reader.requests[requests_before:] if "/messages/1" in r]
            assert lobby_pages == []
            # The conversation begun while it was away is listed, its message unread.
            conversation = reader.page.locator("#rooms li", has_text="with writer")
            expect(conversation.locator(".badge")).to_have_text("1", timeout=WAIT_MS)
            conversation.locator("button").click()
            reader.wait_for_message("missed privately")
            assert reader.message_texts() == ["missed privately"]

        await in_browser(scenario)
        # Sent once, stored once, although the page may have tried more than once.
        sql = "SELECT count(*) FROM messages WHERE body = 'written offline'"
        assert await select_rows(config, sql) == [(1,)]
        nursery.cancel_scope.cancel()


async def test_a_page_away_for_long_pages_back_for_what_the_resume_left_out(
    config: Config,
) -> None:
    async with trio.open_nursery() as nursery:
        restartable = StoppableServer(nursery, config)
        server = await restartable.start()
        writer = await account(server, "writer")
        await account(server, "reader")
        token = trio.lowlevel.current_trio_token()
        missed = [f"m{i}" for i in range(MAX_RESUME + 30)]

        async def restart_with_many_missed() -> None:
            await restartable.stop()
            # Stored while no server runs: the page cannot come back before all of them
            # are there, so its resume always finds more than it may send.
            async with open_store(config) as store:
                rows = [
                    NewMessage(store.lobby_id, writer.uid, OutgoingMessage(text)) for text in missed
                ]
                await store.add_messages(rows)
            await restartable.start()

        def scenario(browser):
            reader = open_client(browser, server.http)
            reader.log_in("reader", PASSWORD)
            reader.say("seen")
            reader.wait_for_message("seen")
            trio.from_thread.run(restart_with_many_missed, trio_token=token)
            reader.wait_online()
            reader.wait_for_message(missed[-1])
            reader.wait_for_message(missed[0])  # left out of the resume: from the history
            assert reader.message_texts() == ["seen", *missed]
            assert any("messages/1?" in r and "last_id=" in r for r in reader.requests)
            _no_script_errors(reader)

        await in_browser(scenario)
        nursery.cancel_scope.cancel()


async def test_direct_messages_sent_before_the_page_opened_wait_in_their_conversation(
    server: Server,
) -> None:
    from playwright.sync_api import expect

    writer, reader = await account(server, "writer"), await account(server, "reader")
    async with open_clients(server) as clients:
        sender = await clients.json("/", token=writer.token)
        for text in ("first note", "second note"):
            await sender.send({"from": writer.uid, "to": reader.uid, "content": text})
            await sender.receive()  # the sender's copy: stored

    def scenario(browser):
        page = open_client(browser, server.http)
        page.log_in("reader", PASSWORD)
        conversation = page.page.locator("#rooms li", has_text="with writer")
        expect(conversation.locator(".badge")).to_have_text("2", timeout=WAIT_MS)
        conversation.locator("button").click()
        page.wait_for_message("second note")
        assert page.message_texts() == ["first note", "second note"]
        assert page.page.locator("#messages .name").all_text_contents() == ["writer"] * 2
        _no_script_errors(page)

    await in_browser(scenario)


async def test_a_page_from_another_origin_cannot_open_a_socket(
    nursery: trio.Nursery, server: Server
) -> None:
    victim = await account(server, "victim")
    # The attacker's page, served from another origin (another port), tries to open an
    # authenticated socket to the chat server with a stolen-looking token.
    page = socket_probe_page(f"ws://127.0.0.1:{server.port}/ws?token={victim.token}")
    attacker_port = await nursery.start(serve_one_page, page)

    def scenario(browser):
        attacker = open_client(browser, f"http://127.0.0.1:{attacker_port}/")
        attacker.page.wait_for_function("() => document.title !== 'waiting'", timeout=WAIT_MS)
        assert attacker.page.title() == "closed 1006"  # the handshake was refused
        # The chat page itself, same server, same token: allowed.
        own = open_client(browser, server.http)
        own.page.evaluate(
            "token => { const ws = new WebSocket(`ws://${location.host}/ws?token=${token}`);"
            " ws.onopen = () => { document.title = 'open'; }; }",
            victim.token,
        )
        # (Polled from here: the page's CSP forbids the eval wait_for_function uses.)
        deadline = time.monotonic() + WAIT_MS / 1000
        while own.page.title() != "open":
            assert time.monotonic() < deadline, "our own page could not open a socket"
            own.page.wait_for_timeout(50)

    await in_browser(scenario)


def socket_probe_page(url: str) -> bytes:
    """A page that opens a WebSocket to `url` and puts what happened in its title: "open",
    or "closed <code>"."""
    return (
        "<!doctype html><title>waiting</title><script>"
        f"const ws = new WebSocket('{url}');"
        "ws.onopen = () => { document.title = 'open'; };"
        "ws.onclose = (event) => { document.title = 'closed ' + event.code; };"
        "</script>"
    ).encode()


async def serve_one_page(page: bytes, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    """A minimal HTTP server answering every request with `page`. Runs until cancelled."""

    async def answer(stream: trio.SocketStream) -> None:
        async with stream:
            request = b""
            while b"\r\n\r\n" not in request:
                data = await stream.receive_some()
                if not data:
                    return
                request += data
            head = (
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
                b"Content-Length: " + str(len(page)).encode() + b"\r\n\r\n"
            )
            await stream.send_all(head + page)

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    task_status.started(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(answer, listeners)


async def test_a_reload_stays_in_the_room_it_showed(server: Server) -> None:
    def scenario(browser):
        alice = open_client(browser, server.http)
        alice.register("alice")
        alice.wait_for_room("lobby")  # online first, then in the room (and its address)
        assert alice.room_in_address() == "#/room/1"  # the lobby
        room_id = alice.create_room("plans")
        alice.say("in the plans room")
        alice.wait_for_message("in the plans room")
        assert alice.room_in_address() == f"#/room/{room_id}"
        alice.page.reload()
        alice.wait_online()
        alice.wait_for_room("plans")
        alice.wait_for_message("in the plans room")
        assert alice.message_texts() == ["in the plans room"]
        assert alice.page.is_hidden("#notice")
        _no_script_errors(alice)

    await in_browser(scenario)


async def test_a_reload_stays_in_the_direct_conversation_it_showed(server: Server) -> None:
    writer, reader = await account(server, "writer"), await account(server, "reader")
    async with open_clients(server) as clients:
        sender = await clients.json("/", token=writer.token)
        await sender.send({"from": writer.uid, "to": reader.uid, "content": "a private note"})
        await sender.receive()  # the sender's copy: stored

    def scenario(browser):
        page = open_client(browser, server.http)
        page.log_in("reader", PASSWORD)
        page.page.locator("#rooms button", has_text="with writer").click()
        page.wait_for_message("a private note")
        page.page.reload()
        page.wait_online()
        page.wait_for_message("a private note")
        assert page.page.text_content("#room-name") != "lobby"
        _no_script_errors(page)

    await in_browser(scenario)


async def test_back_and_forward_move_between_the_rooms_visited(server: Server) -> None:
    def scenario(browser):
        alice = open_client(browser, server.http)
        alice.register("alice")
        plans = alice.create_room("plans")
        alice.page.locator("#rooms button", has_text="lobby").click()
        alice.wait_for_room("lobby")
        alice.page.go_back()
        alice.wait_for_room("plans")
        assert alice.room_in_address() == f"#/room/{plans}"
        alice.page.go_forward()
        alice.wait_for_room("lobby")
        assert alice.room_in_address() == "#/room/1"
        _no_script_errors(alice)

    await in_browser(scenario)


async def room_of_someone_else(server: Server, name: str, *, private: bool) -> tuple[Account, int]:
    """A room created by another user (through the HTTP API): that user, and its id."""
    owner = await account(server, "owner")
    async with http_client(server) as client:
        created = await client.post(
            "/create-room", json={"Name": name, "IsPrivate": private}, headers=owner.auth
        )
    assert created.status_code == 201, created.text
    return owner, created.json()["RoomID"]


async def a_room_to_be_invited_to(server: Server) -> tuple[int, Callable[[], None]]:
    """Someone else's private room "secret" (its id), the account "guest" not in it, and a
    function the browser's thread calls to have the room's creator invite the guest."""
    owner, room_id = await room_of_someone_else(server, "secret", private=True)
    guest = await account(server, "guest")
    token = trio.lowlevel.current_trio_token()

    async def invite() -> None:
        async with http_client(server) as client:
            invited = await client.put(
                "/invite", json={"RoomID": room_id, "UID": guest.uid}, headers=owner.auth
            )
        assert invited.status_code == 200, invited.text

    return room_id, lambda: trio.from_thread.run(invite, trio_token=token)


async def test_an_address_naming_someone_elses_private_room_opens_the_lobby_with_a_notice(
    server: Server,
) -> None:
    _, room_id = await room_of_someone_else(server, "secret", private=True)

    def scenario(browser):
        guest = open_client(browser, f"{server.http}/#/room/{room_id}")
        guest.register("guest")
        guest.wait_for_room("lobby")
        guest.wait_for_text("#notice", "not one of your rooms")
        assert guest.room_in_address() == "#/room/1"
        _no_script_errors(guest)

    await in_browser(scenario)


async def test_an_address_typed_in_goes_to_that_room_once_invited_to_it(server: Server) -> None:
    room_id, invite_guest = await a_room_to_be_invited_to(server)

    def scenario(browser):
        page = open_client(browser, server.http)
        page.log_in("guest", PASSWORD)
        go_to_room = f"location.hash = '#/room/{room_id}'"
        page.page.evaluate(go_to_room)
        page.wait_for_text("#notice", "not one of your rooms")
        assert page.room_in_address() == "#/room/1"  # it stays in the lobby
        invite_guest()
        page.page.evaluate(go_to_room)
        page.wait_for_room("secret")
        assert page.page.is_hidden("#notice")
        _no_script_errors(page)

    await in_browser(scenario)


async def test_the_banner_clears_when_the_connection_is_back(config: Config) -> None:
    async with trio.open_nursery() as nursery:
        restartable = StoppableServer(nursery, config)
        server = await restartable.start()
        await account(server, "reader")
        token = trio.lowlevel.current_trio_token()

        def scenario(browser):
            reader = open_client(browser, server.http)
            reader.log_in("reader", PASSWORD)
            trio.from_thread.run(restartable.stop, trio_token=token)
            reader.wait_for_text("#offline", "reconnecting")
            assert reader.page.text_content("#connection") == "reconnecting..."
            # Asking for a room while away (it used to leave a "Not connected" error up).
            reader.page.locator("#rooms button", has_text="lobby").click()
            assert reader.page.is_visible("#offline")
            trio.from_thread.run(restartable.start, trio_token=token)
            reader.wait_online()
            reader.page.wait_for_selector("#offline", state="hidden", timeout=WAIT_MS)
            assert reader.page.is_hidden("#error")
            # And it works: a message goes through.
            reader.say("back again")
            reader.wait_for_message("back again")
            _no_script_errors(reader)

        await in_browser(scenario)
        nursery.cancel_scope.cancel()


async def test_the_page_fits_a_390_pixel_phone_without_sideways_scrolling(
    server: Server,
) -> None:
    def scenario(browser):
        phone = open_client(browser, server.http, screen=PHONE)
        assert phone.page.evaluate("innerWidth") == 390
        assert phone.fits_sideways()  # the login form
        phone.register("a-person-with-a-rather-long-name-indeed")
        assert phone.fits_sideways()
        # The conversation has the screen; its input is on it and wide enough to type in.
        box = phone.page.locator("#send-form textarea").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["width"] > 200
        assert box["y"] + box["height"] <= 844
        phone.say("x" * 300)  # one long word
        phone.wait_for_message("x" * 300)
        assert phone.fits_sideways()
        # The rooms fold away under a button, open above the conversation, and a room
        # chosen there folds them again.
        assert phone.page.is_hidden("#rooms")
        phone.page.click("#menu")
        phone.page.wait_for_selector("#rooms", state="visible", timeout=WAIT_MS)
        assert phone.fits_sideways()
        assert phone.page.locator("#send-form textarea").is_visible()
        phone.page.fill("#create-room-form input[name=name]", "plans")
        phone.page.click("#create-room-form button")
        phone.wait_for_room("plans")
        phone.page.wait_for_selector("#rooms", state="hidden", timeout=WAIT_MS)
        assert phone.fits_sideways()
        _no_script_errors(phone)

    await in_browser(scenario)


async def test_the_header_shows_a_short_name_whole_beside_the_search_box(server: Server) -> None:
    def scenario(browser):
        for width in (960, 850, 720):  # three layouts of the header: see style.css
            screen = {"viewport": {"width": width, "height": 600}}
            client = open_client(browser, server.http, screen=screen)
            client.register(f"bob{width}")
            whoami = client.page.locator("#whoami")
            assert whoami.text_content() == f"bob{width}"
            assert client.page.locator("header h1").bounding_box()["height"] < 40  # one line
            # Not cut short: the search box gives way first.
            assert whoami.evaluate("(e) => e.scrollWidth <= e.clientWidth"), width
            assert client.page.locator("#search-q").bounding_box()["width"] > 100, width
            assert client.fits_sideways(), width
            client.screenshot(f"header-{width}")
            client.page.context.close()

    await in_browser(scenario)


async def test_a_long_name_in_the_header_ends_in_an_ellipsis_and_pushes_nothing_off(
    server: Server,
) -> None:
    def scenario(browser):
        client = open_client(
            browser, server.http, screen={"viewport": {"width": 720, "height": 600}}
        )
        client.register("a-person-with-a-rather-long-name-indeed")
        whoami = client.page.locator("#whoami")
        assert whoami.evaluate("(e) => getComputedStyle(e).textOverflow") == "ellipsis"
        assert client.page.locator("#logout").is_visible()
        assert client.page.locator("#search-q").bounding_box()["width"] > 100
        assert client.fits_sideways()
        client.screenshot("header-long-name")

    await in_browser(scenario)


async def test_on_a_phone_the_rooms_button_shows_a_direct_message_arrived(
    server: Server,
) -> None:
    writer = await account(server, "writer")
    token = trio.lowlevel.current_trio_token()

    async def write(to: int) -> None:
        async with open_clients(server) as clients:
            sender = await clients.json("/", token=writer.token)
            await sender.send({"from": writer.uid, "to": to, "content": "psst"})
            await sender.receive()  # the sender's copy: stored

    def scenario(browser):
        phone = open_client(browser, server.http, screen=PHONE)
        phone.register("reader")
        assert phone.page.get_attribute("#menu", "data-news") is None
        trio.from_thread.run(write, phone.uid(), trio_token=token)
        phone.page.wait_for_selector("#menu[data-news=true]", timeout=WAIT_MS)
        phone.page.click("#menu")
        phone.wait_for_text("#rooms li:has(.badge:text-is('1'))", "with writer")
        assert phone.page.get_attribute("#menu", "data-news") is None
        _no_script_errors(phone)

    await in_browser(scenario)


def _phone_with_the_panel_open(browser, url: str, name: str) -> Client:
    """`name`, registered on a phone, with the folded panel (rooms, public rooms, direct
    messages) opened by its button."""
    phone = open_client(browser, url, screen=PHONE)
    phone.register(name)
    phone.tap_on_screen("#menu")
    return phone


def _alice_and_bob_on_a_phone(browser, url: str) -> tuple[Client, Client]:
    """Alice's page on a desktop and Bob's on a phone, both registered, in the lobby
    (shown: until the server has answered a page's first `enter`, sending sends nothing)."""
    (alice,) = registered(browser, url, "alice")
    phone = open_client(browser, url, screen=PHONE)
    phone.register("bob")
    alice.wait_room_shown()
    phone.wait_room_shown()
    return alice, phone


async def test_on_a_phone_a_message_is_sent_and_reaches_the_others(server: Server) -> None:
    def scenario(browser):
        alice, phone = _alice_and_bob_on_a_phone(browser, server.http)
        phone.submit_on_screen("#send-form", "text", "sent from my phone")
        alice.wait_for_message("sent from my phone")
        phone.wait_for_message("sent from my phone")
        assert phone.fits_sideways()
        _no_script_errors(alice, phone)

    await in_browser(scenario)


async def test_on_a_phone_the_people_here_are_listed_and_a_tap_writes_to_one(
    server: Server,
) -> None:
    def scenario(browser):
        alice, phone = _alice_and_bob_on_a_phone(browser, server.http)
        phone.wait_for_text("#here li", "alice")
        phone.assert_on_screen("#here li:has-text('bob (you)')")
        phone.tap_on_screen("#here li:has-text('alice')")
        phone.wait_for_room("with alice")  # their conversation, its composer ready
        assert phone.page.evaluate("document.activeElement.id") == "composer"
        phone.submit_on_screen("#send-form", "text", "hi from the phone")
        alice.wait_for_text("#rooms button", "with bob")
        alice.page.locator("#rooms button", has_text="with bob").click()
        alice.wait_for_message("hi from the phone")
        _no_script_errors(alice, phone)

    await in_browser(scenario)


async def test_on_a_phone_a_direct_message_goes_to_a_person_found_by_name(
    server: Server,
) -> None:
    await account(server, "zelda")  # never seen on the phone's page

    def scenario(browser):
        phone = _phone_with_the_panel_open(browser, server.http, "alice")
        phone.assert_on_screen("#dm-form input[name=to]")
        phone.page.type("#dm-form input[name=to]", "ze")
        phone.page.wait_for_selector(
            "#people option[value='zelda']", state="attached", timeout=WAIT_MS
        )
        phone.submit_on_screen("#dm-form", "to", "zelda")
        phone.wait_for_room("with zelda")  # the folded panel folded again
        phone.submit_on_screen("#send-form", "text", "found you")
        phone.wait_for_message("found you")
        phone.assert_on_screen("#messages li:has-text('found you')")
        _no_script_errors(phone)

    await in_browser(scenario)


async def test_on_a_phone_someone_is_invited_by_name_to_a_room_one_created(
    server: Server,
) -> None:
    await account(server, "bob")

    def scenario(browser):
        phone = _phone_with_the_panel_open(browser, server.http, "alice")
        phone.create_room("plans")  # the panel folds: the room has the screen
        phone.tap_on_screen("#room-more")  # the room's tools, Invite among them
        phone.tap_on_screen("#invite-open")
        phone.submit_on_screen("#invite-form", "name", "bob")
        phone.wait_for_text("#notice", "bob is invited.")
        phone.assert_on_screen("#send-form [name=text]")
        _no_script_errors(phone)

    await in_browser(scenario)


async def test_on_a_phone_a_public_room_is_joined_from_the_directory(server: Server) -> None:
    await room_of_someone_else(server, "books", private=False)

    def scenario(browser):
        phone = _phone_with_the_panel_open(browser, server.http, "reader")
        phone.assert_on_screen("#directory-heading")
        phone.tap_on_screen("#directory button:has-text('books')")
        phone.wait_for_room("books")
        phone.page.wait_for_selector("#directory", state="hidden", timeout=WAIT_MS)
        phone.assert_on_screen("#send-form [name=text]")
        _no_script_errors(phone)

    await in_browser(scenario)


async def test_the_desktop_layout_shows_the_rooms_beside_the_conversation(
    server: Server,
) -> None:
    def scenario(browser):
        desk = open_client(browser, server.http)
        desk.register("desk")
        assert desk.page.is_hidden("#menu")
        rooms = desk.page.locator("#sidebar").bounding_box()
        room = desk.page.locator("#room").bounding_box()
        assert rooms["x"] + rooms["width"] <= room["x"]  # side by side
        assert desk.fits_sideways()

    await in_browser(scenario)


async def test_on_a_wide_window_the_people_here_are_a_column_right_of_the_messages(
    server: Server,
) -> None:
    def scenario(browser):
        alice = open_client(browser, server.http, screen=WIDE)
        alice.register("alice")
        (bob,) = registered(browser, server.http, "bob")
        bob.say("hello")
        alice.wait_for_message("hello")
        alice.wait_for_text("#here li", "bob")
        messages = alice.page.locator("#messages").bounding_box()
        people = alice.page.locator("#here").bounding_box()
        assert people["x"] >= messages["x"] + messages["width"]  # to the right
        assert people["y"] < messages["y"] + messages["height"]  # beside, not below
        assert messages["width"] > 600  # the conversation keeps most of the window
        for name in ("alice (you)", "bob"):  # one under the other
            assert alice.page.locator("#here li", has_text=name).bounding_box()["x"] == people["x"]
        assert alice.fits_sideways()
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_a_direct_message_goes_to_a_person_chosen_by_name(server: Server) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        bob.say("anyone around?")
        alice.wait_for_message("anyone around?")
        alice.page.locator("#messages .name", has_text="bob").click()
        alice.wait_for_room("with bob")
        alice.say("I am")
        bob.wait_for_text("#rooms button", "with alice")
        assert bob.page.get_attribute("#menu", "data-news") is None  # wide: nothing to flag
        # A name seen on the page is offered, typed in any case.
        assert "bob" in alice.page.eval_on_selector_all(
            "#people option", "options => options.map(o => o.value)"
        )
        alice.page.locator("#rooms button", has_text="lobby").click()
        alice.wait_for_room("lobby")
        alice.open_direct("BOB")  # the same conversation
        alice.say("again")
        bob.page.locator("#rooms button", has_text="with alice").click()
        bob.wait_for_message("again")
        assert bob.message_texts() == ["I am", "again"]
        # No number on the page: rooms and people go by name.
        assert "#" not in "".join(alice.page.locator("#rooms button").all_text_contents())
        assert alice.page.text_content("#whoami") == "alice"
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_a_direct_message_to_a_name_never_seen_says_how_to_reach_them(
    server: Server,
) -> None:
    def scenario(browser):
        alice = open_client(browser, server.http)
        alice.register("alice")
        alice.page.fill("#dm-form input[name=to]", "nobody")
        alice.page.click("#dm-form button")
        alice.wait_for_text("#error", 'No one called "nobody"')
        alice.wait_for_room("lobby")  # still there
        assert alice.page.locator("#rooms button[data-kind=direct]").count() == 0

    await in_browser(scenario)


async def test_a_room_can_be_joined_with_a_link_to_it(server: Server) -> None:
    _, room_id = await room_of_someone_else(server, "open-plan", private=False)

    def scenario(browser):
        guest = open_client(browser, server.http)
        guest.register("guest")
        guest.page.fill("#join-room-form input[name=room]", f"{server.http}/#/room/{room_id}")
        guest.page.click("#join-room-form button")
        guest.wait_for_room("open-plan")
        assert guest.room_in_address() == f"#/room/{room_id}"
        _no_script_errors(guest)

    await in_browser(scenario)


async def test_joining_a_private_room_one_was_invited_to_enters_it(server: Server) -> None:
    room_id, invite_guest = await a_room_to_be_invited_to(server)

    def scenario(browser):
        page = open_client(browser, server.http)
        page.log_in("guest", PASSWORD)
        invite_guest()
        # Invited after the page listed the rooms: the page does not know yet.
        page.page.fill("#join-room-form input[name=room]", str(room_id))
        page.page.click("#join-room-form button")
        page.wait_for_room("secret")
        assert page.page.is_hidden("#error")
        _no_script_errors(page)

    await in_browser(scenario)


async def test_screenshots_of_the_page_in_use_on_a_desktop_and_a_phone(
    server: Server, tmp_path: Path
) -> None:
    """The pictures in the README. Set CHAT_SCREENSHOT=docs/screenshot.png to refresh them
    (the dark theme's and the phone's go beside it, as docs/screenshot-dark.png and
    docs/screenshot-phone.png).

    Alice's lobby, on a wide window, in use: three people here, one of them typing, a
    chart shared, an unread message in another room and in a direct conversation, and
    public rooms she could join; then the same lobby on her phone."""
    desktop, phone = tmp_path / "screenshot.png", tmp_path / "screenshot-phone.png"
    dark = tmp_path / "screenshot-dark.png"
    owner, _ = await room_of_someone_else(server, "design", private=False)
    async with http_client(server) as client:
        created = await client.post(
            "/create-room", json={"Name": "random", "IsPrivate": False}, headers=owner.auth
        )
    assert created.status_code == 201, created.text

    def scenario(browser):
        alice = open_client(browser, server.http, screen=WIDE)
        alice.register("alice")
        bob, carol = registered(browser, server.http, "bob", "carol")
        latency = {"name": "p99 by build.png", "mimeType": "image/png", "buffer": chart(1200, 560)}
        for who, text in [
            (alice, "Morning! Is the release still on for today?"),
            (bob, "Yes, once the benchmarks are in."),
            (carol, "They look good so far: p99 is down to 38 ms."),
            (alice, "Great, I'll write the notes. <b>Tags</b> show as text, by the way."),
        ]:
            if who is carol:
                carol.attach(latency)
            who.say(text)
            alice.wait_for_message(text)
        release = alice.create_room("release")
        alice.page.locator("#rooms button", has_text="lobby").click()
        alice.wait_for_room("lobby")
        # Bob joins the new room by its link, says something there and comes back.
        bob.page.fill("#join-room-form input[name=room]", f"{server.http}/#/room/{release}")
        bob.page.click("#join-room-form button")
        bob.wait_for_room("release")
        bob.say("Benchmarks are in: 12% faster across the board.")
        bob.wait_for_message("Benchmarks are in")
        bob.page.locator("#rooms button", has_text="lobby").click()
        bob.wait_for_room("lobby")
        bob.page.locator("#messages .name", has_text="alice").first.click()
        bob.wait_for_room("with alice")
        bob.say("coffee later?")
        bob.wait_for_message("coffee later?")
        bob.page.locator("#rooms button", has_text="lobby").click()  # back among everyone
        bob.wait_for_room("lobby")
        alice.page.wait_for_selector("#rooms li:has-text('release') .badge:text-is('1')")
        alice.page.wait_for_selector("#rooms li:has-text('with bob') .badge:text-is('1')")
        alice.wait_for_text("#here li", "bob")
        alice.wait_for_text("#directory li", "random")
        carol.page.type("#send-form [name=text]", "Ship it")
        alice.wait_for_text("#typing", "carol is typing...")
        alice.page.screenshot(path=str(desktop))
        alice.page.emulate_media(color_scheme="dark")  # the same, in the dark theme
        alice.page.screenshot(path=str(dark))
        # Alice again, on her phone.
        pocket = open_client(browser, server.http, screen=PHONE)
        pocket.log_in("alice")
        pocket.wait_for_message("Tags")
        pocket.wait_for_text("#here li", "carol")
        # Bob's three messages just now each said he was typing, and the server passes
        # at most 3 typing notices per 2 s per user (the rest are dropped, by the
        # protocol): on a fast machine a fourth this soon would be.
        bob.page.wait_for_timeout(2100)
        bob.page.type("#send-form [name=text]", "On my way")
        pocket.wait_for_text("#typing", "bob is typing...")
        pocket.page.screenshot(path=str(phone))
        _no_script_errors(alice, bob, carol, pocket)

    await in_browser(scenario)
    for target in (desktop, dark, phone):
        png = target.read_bytes()
        assert png.startswith(b"\x89PNG") and 10_000 < len(png) < 300_000
    refresh = os.environ.get("CHAT_SCREENSHOT")
    if refresh:
        (ROOT / refresh).write_bytes(desktop.read_bytes())
        for shot, suffix in ((dark, "dark"), (phone, "phone")):
            (ROOT / refresh).with_name(f"{Path(refresh).stem}-{suffix}.png").write_bytes(
                shot.read_bytes()
            )


def _people_here(client: Client) -> list[str]:
    return client.page.locator("#here li").all_text_contents()


async def test_two_people_in_a_room_see_each_other_here_and_who_is_typing(
    server: Server,
) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.wait_for_text("#here li", "bob")
        bob.wait_for_text("#here li", "alice")
        assert _people_here(alice) == ["alice (you)", "bob"]
        assert _people_here(bob) == ["alice", "bob (you)"]
        alice.page.type("#send-form [name=text]", "hel")
        bob.wait_for_text("#typing", "alice is typing...")
        assert alice.page.text_content("#typing") == ""  # not to herself
        typing = [f for f in alice.frames_sent if isinstance(f, dict) and f.get("Type") == "typing"]
        assert len(typing) == 1  # three keys in a moment: said once
        alice.page.press("#send-form [name=text]", "Enter")
        bob.wait_for_message("hel")
        assert bob.page.text_content("#typing") == ""  # the message arrived: done typing
        # Bob goes to another room: alice's list loses him.
        bob.create_room("elsewhere")
        alice.page.wait_for_selector(
            "#here .person:text-is('bob')", state="detached", timeout=WAIT_MS
        )
        assert _people_here(alice) == ["alice (you)"]
        entering = [
            f for f in alice.frames_sent if isinstance(f, dict) and f.get("Type") == "enter"
        ]
        assert entering and all(f["Presence"] == "list" for f in entering)
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_typing_again_right_after_sending_is_shown_at_once(server: Server) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.say("first")
        bob.wait_for_message("first")
        alice.page.type("#send-form [name=text]", "sec")
        bob.wait_for_text("#typing", "alice is typing...")
        alice.page.press("#send-form [name=text]", "Enter")
        bob.wait_for_message("sec")  # the indicator goes with the message
        alice.page.type("#send-form [name=text]", "th")  # well within 2 seconds
        bob.wait_for_text("#typing", "alice is typing...")
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_a_room_one_is_invited_to_by_name_appears_at_once(server: Server) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.page.evaluate("window.notReloaded = true")
        bob.create_room("plans", private=True)
        bob.page.type("#invite-form input[name=name]", "ALI")  # suggestions, in any case
        bob.page.wait_for_selector(
            "#invitees option[value='alice']", state="attached", timeout=WAIT_MS
        )
        bob.invite("alice")
        bob.wait_for_text("#notice", "alice is invited.")
        alice.wait_for_text("#rooms button", "plans")
        alice.wait_for_text("#notice", "bob invited you to plans.")
        assert alice.page.evaluate("window.notReloaded")  # live, not after a reload
        alice.page.locator("#rooms button", has_text="plans").click()
        alice.wait_for_room("plans")
        assert alice.page.is_hidden("#invite-form")  # only the room's creator invites
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_inviting_a_name_nobody_has_says_so(server: Server) -> None:
    def scenario(browser):
        bob = open_client(browser, server.http)
        bob.register("bob")
        assert bob.page.is_hidden("#invite-form")  # not in the lobby
        bob.create_room("plans")
        bob.invite("nobody")
        bob.wait_for_text("#error", 'No one is called "nobody".')
        _no_script_errors(bob)

    await in_browser(scenario)


async def test_clicking_a_person_here_opens_a_direct_message_to_them(server: Server) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.page.locator("#here li", has_text="bob").click()
        alice.wait_for_room("with bob")
        assert alice.page.evaluate("document.activeElement.id") == "composer"
        alice.page.keyboard.type("hello there")
        alice.page.keyboard.press("Enter")
        alice.wait_for_message("hello there")
        bob.wait_for_text("#rooms button", "with alice")
        # Back in the lobby, the click goes to the same conversation (no second one).
        alice.page.locator("#rooms button", has_text="lobby").click()
        alice.wait_for_room("lobby")
        alice.page.locator("#here li", has_text="bob").click()
        alice.wait_for_room("with bob")
        alice.wait_for_message("hello there")
        assert alice.page.locator("#rooms button", has_text="with bob").count() == 1
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_the_direct_message_form_finds_anyone_by_name(server: Server) -> None:
    await account(server, "zelda")  # never seen on alice's page

    def scenario(browser):
        alice = open_client(browser, server.http)
        alice.register("alice")
        alice.page.type("#dm-form input[name=to]", "ze")
        alice.page.wait_for_selector(
            "#people option[value='zelda']", state="attached", timeout=WAIT_MS
        )
        alice.page.fill("#dm-form input[name=to]", "Zelda")
        alice.page.click("#dm-form button")
        alice.wait_for_room("with zelda")
        alice.say("found you")
        alice.wait_for_message("found you")
        alice.wait_for_text("#rooms button", "with zelda")
        assert "#" not in alice.page.text_content("#chat-view")  # no numbers on the page
        _no_script_errors(alice)

    await in_browser(scenario)


async def test_unread_badges_count_on_arrival_and_clear_when_the_room_is_read(
    server: Server,
) -> None:
    writer = await account(server, "writer")
    async with open_clients(server) as clients:
        talker = await clients.talker(token=writer.token)
        for i in range(3):
            await talker.say(f"unread {i}")
        await talker.stored()

    def scenario(browser):
        reader = open_client(browser, server.http)
        reader.register("reader")
        reader.wait_for_message("unread 2")  # the lobby is shown, so read: no badge
        reader.create_room("quiet")
        lobby_badge = reader.page.locator("#rooms li", has_text="lobby").locator(".badge")
        assert lobby_badge.is_hidden()
        reader.page.reload()  # in "quiet" now: the lobby's count is asked for again
        reader.wait_for_room("quiet")
        assert lobby_badge.is_hidden()  # everything there was read
        trio.from_thread.run(say_in_lobby, "while away", trio_token=token)
        reader.page.reload()
        reader.wait_for_room("quiet")
        reader.page.wait_for_selector("#rooms li:has-text('lobby') .badge:text-is('1')")
        reader.page.locator("#rooms button", has_text="lobby").click()
        reader.wait_for_message("while away")
        assert lobby_badge.is_hidden()
        newest = int(reader.page.get_attribute("#messages li:last-child", "data-id") or "")
        deadline = time.monotonic() + WAIT_MS / 1000
        while {"Type": "read", "RoomID": 1, "MessageID": newest} not in reader.frames_sent:
            assert time.monotonic() < deadline, "no read frame for the newest message"
            reader.page.wait_for_timeout(100)
        _no_script_errors(reader)

    token = trio.lowlevel.current_trio_token()

    async def say_in_lobby(text: str) -> None:
        async with open_clients(server) as clients:
            talker = await clients.talker(token=writer.token)
            await talker.say(text)
            await talker.stored()

    await in_browser(scenario)


async def test_a_direct_message_to_a_room_not_shown_adds_to_its_badge(server: Server) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.page.locator("#here li", has_text="bob").click()
        alice.wait_for_room("with bob")
        alice.page.keyboard.type("first")
        alice.page.keyboard.press("Enter")
        bob.wait_for_text("#rooms button", "with alice")
        badge = "#rooms li:has-text('with alice') .badge"
        bob.page.wait_for_selector(f"{badge}:text-is('1')", timeout=WAIT_MS)
        alice.page.keyboard.type("second")
        alice.page.keyboard.press("Enter")
        bob.page.wait_for_selector(f"{badge}:text-is('2')", timeout=WAIT_MS)
        bob.page.locator("#rooms button", has_text="with alice").click()
        bob.wait_for_message("second")
        bob.page.wait_for_selector(badge, state="hidden", timeout=WAIT_MS)
        bob.page.reload()  # the marker was stored: still nothing unread
        bob.wait_for_room("with alice")
        bob.page.locator("#rooms button", has_text="lobby").click()
        bob.wait_for_room("lobby")
        bob.page.wait_for_timeout(300)  # the counts asked for on arrival
        assert bob.page.is_hidden(badge)
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_a_public_room_is_joined_from_the_directory(server: Server) -> None:
    owner, _ = await room_of_someone_else(server, "books", private=False)
    async with http_client(server) as client:
        created = await client.post(
            "/create-room", json={"Name": "hidden", "IsPrivate": True}, headers=owner.auth
        )
    assert created.status_code == 201, created.text  # private: not in the directory

    def scenario(browser):
        reader = open_client(browser, server.http)
        reader.register("reader")
        reader.wait_for_text("#directory li", "books")
        assert reader.page.locator("#directory li").all_text_contents() == ["books1 member"]
        reader.page.locator("#directory button", has_text="books").click()
        reader.wait_for_room("books")
        reader.wait_for_text("#rooms button", "books")
        reader.page.wait_for_selector("#directory li", state="detached", timeout=WAIT_MS)
        _no_script_errors(reader)

    await in_browser(scenario)


async def test_a_person_in_many_rooms_gets_them_all_in_one_request(server: Server) -> None:
    """The room list is one GET /rooms/details, not a request per room (GET /room/{id}) or
    per person in a direct conversation (GET /profile/{UID})."""
    alice = await account(server, "alice", "password")
    friends = [await account(server, f"friend{i}") for i in range(10)]
    groups = [f"room {i:02d}" for i in range(20)]
    for name in groups:
        await create_room(server, friends[0], name, alice)
    async with http_client(server) as client:
        for friend in friends:
            opened = await client.get(f"/dm/{friend.uid}", headers=alice.auth)
            assert opened.status_code == 200, opened.text

    def scenario(browser):
        from playwright.sync_api import expect

        page = open_client(browser, server.http)
        page.log_in("alice")
        listed = page.page.locator("#rooms button")
        expect(listed).to_have_count(1 + len(groups) + len(friends), timeout=WAIT_MS)
        conversations = [f"with {friend.name}" for friend in friends]
        assert listed.all_text_contents() == ["lobby", *groups, *conversations]
        # What the room shown asks about itself (the lobby's pinned messages) is one
        # request, not one per room listed.
        shown = "GET room/1/"
        for_rooms = [
            r
            for r in page.requests
            if r.startswith(("GET room", "GET profile/")) and not r.startswith(shown)
        ]
        assert sorted(for_rooms) == ["GET rooms/details", "GET rooms/public", "GET rooms/unread"]
        _no_script_errors(page)

    await in_browser(scenario)
