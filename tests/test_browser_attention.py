"""The browser client calling people back: badges that update live from
activity frames (no polling), mention badges apart from unread ones, the count in the
tab's title, desktop notifications following each room's level (a menu in the room's
header sets it) that open the room at their message, `@` completing names, mentions of
you highlighted, and `@room` asking first in a large room. Real headless Chromium pages
against a real server; the same across two instances is in test_browser_cluster.py."""

from __future__ import annotations

import json
import os
from typing import Any

from browser import SQLITE_ONLY, WAIT_MS, Client, in_browser, in_own_browser, registered
from support import Server
from test_browser import _no_script_errors

pytestmark = SQLITE_ONLY  # tests/browser.py says why

#: Put in a page before its own scripts: the tab can be "hidden" (`window.__hidden`), as
#: when the person looks at another tab, and the notifications it makes are kept in
#: `window.__notified` (the real Notification is made all the same).
_HIDEABLE = """
(() => {
  Object.defineProperty(document, "hidden", { get: () => window.__hidden === true });
  const Native = window.Notification;
  window.__notified = [];
  window.Notification = class extends Native {
    constructor(title, options) {
      super(title, options);
      window.__notified.push({ title, body: options?.body ?? "", shown: this });
    }
  };
})();
"""


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def _screenshot(client: Client, name: str) -> None:
    if os.environ.get("CHAT_SCREENSHOT_DIR"):
        client.page.screenshot(path=f"{os.environ['CHAT_SCREENSHOT_DIR']}/{name}.png")


def _within(client: Client, ms: int, predicate: Any) -> bool:
    """Whether `predicate()` holds within `ms` (the page's policy forbids
    wait_for_function's eval)."""
    for _ in range(ms // 50):
        if predicate():
            return True
        client.page.wait_for_timeout(50)
    return bool(predicate())


def _until(client: Client, predicate: Any) -> None:
    """Wait until `predicate()` holds."""
    if not _within(client, WAIT_MS, predicate):
        raise AssertionError("timed out")


def _room_with(alice: Client, bob: Client, name: str) -> int:
    """A room `alice` creates and invites `bob` into; bob's page lists it."""
    room_id = alice.create_room(name)
    alice.invite("bob")
    bob.page.wait_for_selector(f"#rooms button[data-room='{room_id}']", timeout=WAIT_MS)
    return room_id


def _badge(client: Client, room_id: int, kind: str = "badge") -> Any:
    return client.page.locator(f"#rooms li:has(button[data-room='{room_id}']) .{kind}")


async def test_badges_and_the_title_follow_other_rooms_live(server: Server) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        room_id = _room_with(alice, bob, "side")
        alice.say("one")
        # Within moments, not the 30 s a poll took: an activity frame asked for counts.
        expect(_badge(bob, room_id)).to_have_text("1", timeout=3000)
        expect(bob.page).to_have_title("(1) chat")
        alice.say("@bob two")
        expect(_badge(bob, room_id, "mention-badge")).to_have_text("@1", timeout=3000)
        expect(_badge(bob, room_id)).to_have_text("2")
        expect(bob.page).to_have_title("(2) chat")
        _screenshot(bob, "attention-badges")
        bob.page.click(f"#rooms button[data-room='{room_id}']")
        bob.wait_for_room("side")
        expect(_badge(bob, room_id)).to_be_hidden()
        expect(_badge(bob, room_id, "mention-badge")).to_be_hidden()
        expect(bob.page).to_have_title("chat")
        assert not any(r.startswith("GET rooms/unread") for r in bob.requests[:1])
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_a_mention_of_you_is_highlighted(server: Server) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.say("@bob see this")
        alice.say("and nobody else")
        bob.wait_for_message("and nobody else")
        mentioned = bob.page.locator("#messages li.mentions-me")
        expect(mentioned).to_have_count(1)
        expect(mentioned).to_contain_text("@bob see this")
        # The sender's own message is not "a mention of you".
        expect(alice.page.locator("#messages li.mentions-me")).to_have_count(0)
        _screenshot(bob, "attention-mention")
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_at_completes_names_from_the_keyboard(server: Server) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        composer = bob.page.locator("#send-form textarea")
        composer.click()
        composer.type("thanks @al")
        options = bob.page.locator("#mention-suggestions").get_by_role("option")
        expect(options.first).to_have_text("@alice")
        expect(composer).to_have_attribute("aria-activedescendant", "mention-option-0")
        _screenshot(bob, "attention-completion")
        composer.press("Enter")  # takes the name; does not send
        expect(composer).to_have_value("thanks @alice ")
        expect(bob.page.locator("#mention-suggestions")).to_be_hidden()
        composer.type("!")
        composer.press("Enter")  # sends
        alice.wait_for_message("thanks @alice !")
        expect(alice.page.locator("#messages li.mentions-me")).to_have_count(1)
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_the_room_menu_sets_its_notification_level(server: Server) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        room_id = _room_with(alice, bob, "side")
        bob.page.click(f"#rooms button[data-room='{room_id}']")
        bob.wait_for_room("side")
        menu = bob.page.get_by_label("Notify me of")
        expect(menu).to_have_value("mentions")  # a group room's default
        menu.select_option("all")
        bob.wait_for_text("#notice", "every message")
        assert f"PUT room/{room_id}/notifications" in bob.requests
        bob.page.reload()
        bob.wait_online()
        bob.page.click(f"#rooms button[data-room='{room_id}']")
        bob.wait_for_room("side")
        expect(bob.page.get_by_label("Notify me of")).to_have_value("all")
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_a_hidden_tab_notifies_as_the_level_says_and_a_click_opens_the_message(
    server: Server,
) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        bob.page.context.grant_permissions(["notifications"])
        bob.page.add_init_script(_HIDEABLE)
        bob.page.reload()
        bob.wait_online()
        room_id = _room_with(alice, bob, "side")
        bob.page.evaluate("window.__hidden = true")
        alice.say("plain news")  # the room's level is "mentions": no notification
        expect(_badge(bob, room_id)).to_have_text("1", timeout=3000)
        assert bob.page.evaluate("window.__notified.length") == 0
        alice.say("@bob come and look")
        _until(bob, lambda: bob.page.evaluate("window.__notified.length") == 1)
        notified = bob.page.evaluate("window.__notified.map(({title, body}) => ({title, body}))")
        assert notified == [{"title": "side", "body": "You were mentioned in side."}]
        bob.page.evaluate("window.__notified[0].shown.dispatchEvent(new Event('click'))")
        bob.wait_for_room("side")
        expect(bob.page.locator("#messages li.found")).to_contain_text("@bob come and look")
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_at_room_in_a_large_room_asks_first(server: Server) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.say("@room lunch?")  # the lobby is everyone's: it asks (dismissed here)
        _until(alice, lambda: alice.dialogs)
        expect(alice.page.locator("#send-form textarea")).to_have_value("@room lunch?")
        assert alice.dialogs == ["@room notifies everyone in this room. Send it?"]
        assert not any(
            isinstance(f, dict) and f.get("Text") == "@room lunch?" for f in alice.frames_sent
        )
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_the_directory_lists_a_public_room_as_it_is_created(server: Server) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.create_room("books")
        bob.wait_for_text("#directory button", "books")  # no reload, no poll
        alice.create_room("secret", private=True)
        alice.create_room("films")
        bob.wait_for_text("#directory button", "films")
        assert "secret" not in bob.page.locator("#directory").inner_text()
        _no_script_errors(alice, bob)

    await in_browser(scenario)


_REGISTRATION = "navigator.serviceWorker.getRegistration('/')"


async def test_a_push_is_shown_by_the_service_worker_with_the_message_to_open(
    server: Server,
) -> None:
    """The service worker's side of Web Push: a push (delivered here through Chromium's
    DevTools, as a headless browser has no push service to subscribe with) becomes a
    notification naming the sender and the room, which knows the message to open."""

    def scenario(browser):
        (bob,) = registered(browser, server.http, "bob")
        bob.page.context.grant_permissions(["notifications"])
        bob.page.reload()  # signed in with notifications allowed: the worker registers
        bob.wait_online()
        activated = f"{_REGISTRATION}.then(r => r?.active?.state === 'activated')"
        _until(bob, lambda: bob.page.evaluate(activated))
        devtools = bob.page.context.new_cdp_session(bob.page)
        registrations: list[dict[str, Any]] = []
        devtools.on(
            "ServiceWorker.workerRegistrationUpdated",
            lambda event: registrations.extend(event["registrations"]),
        )
        devtools.send("ServiceWorker.enable")
        origin = f"{server.http}/"  # the worker's scope: the whole origin (offline.js)
        _until(bob, lambda: any(r["scopeURL"] == origin for r in registrations))
        (ours,) = [r for r in registrations if r["scopeURL"] == origin]
        pushed = {
            "MessageID": 7,
            "RoomID": 1,
            "RoomName": "lobby",
            "RoomKind": "lobby",
            "Sender": "alice",
            "SenderID": 1,
            "Text": "are you there?",
            "Mention": True,
            "ts": 0,
        }
        shown = f"{_REGISTRATION}.then(r => r.getNotifications())"
        # A push DevTools hands to a worker that is stopped or starting is now and then
        # lost on a loaded machine: up to three, a third of the wait apart. The tag is
        # the room's, so a second one replaces the first; a handler that shows nothing
        # shows nothing three times.
        for _ in range(3):
            devtools.send(
                "ServiceWorker.deliverPushMessage",
                {
                    "origin": server.http,
                    "registrationId": ours["registrationId"],
                    "data": json.dumps(pushed),
                },
            )
            if _within(
                bob, WAIT_MS // 3, lambda: bob.page.evaluate(f"{shown}.then(n => n.length)")
            ):
                break
        assert bob.page.evaluate(f"{shown}.then(n => n.length)") == 1
        notification = bob.page.evaluate(
            f"{shown}.then(([n]) => ({{title: n.title, body: n.body, data: n.data}}))"
        )
        assert notification == {
            "title": "alice mentioned you in lobby",
            "body": "are you there?",
            "data": {"room": 1, "message": 7},
        }
        _no_script_errors(bob)

    await in_own_browser(scenario)
