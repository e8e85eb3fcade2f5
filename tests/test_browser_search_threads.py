"""A search result that is a thread reply, in the browser (chat/static/search.js): it
opens its room and the thread panel, which shows the reply; the room's timeline, which
leaves a thread-only reply out, is shown around the thread's root, and one also sent to
the room around the reply itself."""

from __future__ import annotations

from typing import Any

from browser import WAIT_MS, in_browser
from support import Server, account, create_room
from test_browser import _no_script_errors
from test_browser_search import _signed_in, search
from test_threads import _post

ROOT = "deploy at five?"


async def _a_thread_in_ops(server: Server, **reply_fields: Any) -> None:
    """alice and bob in "ops", where alice asked ROOT and bob answered in its thread
    ("the rollback plan is ready"), before more room messages."""
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "ops", bob)
    root = await _post(server, alice, room_id, ROOT)
    await _post(server, bob, room_id, "the rollback plan is ready", ThreadID=root, **reply_fields)
    for n in range(3):
        await _post(server, alice, room_id, f"ops {n}")


def _choose_the_result(browser: Any, server: Server, words: str) -> Any:
    """bob, signed in (in the lobby), has searched for `words` and chosen the one result."""
    from playwright.sync_api import expect

    bob = _signed_in(browser, server, "bob")
    search(bob, words)
    results = bob.page.locator("#results .result")
    expect(results).to_have_count(1, timeout=WAIT_MS)
    results.first.click()
    bob.wait_for_room("ops")
    return bob


async def test_a_thread_reply_found_opens_its_room_and_the_thread_panel_showing_it(
    server: Server,
) -> None:
    from playwright.sync_api import expect

    await _a_thread_in_ops(server)

    def scenario(browser):
        bob = _choose_the_result(browser, server, "rollback")
        panel = bob.page.locator("#thread-panel")
        expect(panel).to_be_visible(timeout=WAIT_MS)
        expect(panel.locator("#thread-root .text")).to_have_text(ROOT, timeout=WAIT_MS)
        expect(panel.locator("#thread-replies .text")).to_have_text(
            ["the rollback plan is ready"], timeout=WAIT_MS
        )
        # The room around the thread's root (the reply is in the thread only).
        expect(bob.page.locator("#messages li.found .text")).to_have_text(ROOT)
        assert "the rollback plan is ready" not in bob.message_texts()
        bob.screenshot("search-opened-a-thread")
        _no_script_errors(bob)

    await in_browser(scenario)


async def test_a_reply_also_sent_to_the_room_found_opens_at_itself_with_its_thread(
    server: Server,
) -> None:
    from playwright.sync_api import expect

    await _a_thread_in_ops(server, AlsoToRoom=True)

    def scenario(browser):
        bob = _choose_the_result(browser, server, "rollback")
        expect(bob.page.locator("#messages li.found .text")).to_have_text(
            "the rollback plan is ready", timeout=WAIT_MS
        )
        expect(bob.page.locator("#thread-replies .text")).to_have_text(
            ["the rollback plan is ready"], timeout=WAIT_MS
        )
        _no_script_errors(bob)

    await in_browser(scenario)
