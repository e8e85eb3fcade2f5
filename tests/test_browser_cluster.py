"""The browser client with its people on different instances of one chat: two `chat serve`
processes on PostgreSQL (tests/cluster.py), each page opened on one of them, as a load
balancer would spread them. Presence, typing, invitations, direct messages, read
markers, changes to messages (edits, deletions, reactions) and files all cross between
the instances."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from browser import WAIT_MS, Client, in_browser, open_client
from cluster import Instance, open_cluster
from files_support import chart
from support import throwaway_postgres_schema
from test_browser import _no_script_errors, _people_here
from test_browser_files import paste_image
from test_browser_people import wait_listed


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[list[Instance]]:
    """Two instances of one chat on PostgreSQL (its LISTEN/NOTIFY bus), sharing one files
    directory (as they would a volume or a bucket)."""
    shared_files = str(tmp_path / "shared-files")
    async with (
        throwaway_postgres_schema() as url,
        open_cluster(tmp_path, url, 2, files_url=shared_files) as instances,
    ):
        yield instances


def _person_on(browser, instance: Instance, name: str) -> Client:
    """A page opened on `instance`, registered as `name` and online."""
    client = open_client(browser, instance.server.http)
    client.register(name)
    return client


async def test_two_people_on_two_instances_chat_and_see_each_other_here_typing(
    pair: list[Instance],
) -> None:
    a, b = pair

    def scenario(browser):
        alice, bob = _person_on(browser, a, "alice"), _person_on(browser, b, "bob")
        alice.wait_for_text("#here li", "bob")
        bob.wait_for_text("#here li", "alice")
        assert _people_here(alice) == ["alice (you)", "bob"]
        assert _people_here(bob) == ["alice", "bob (you)"]
        bob.page.type("#send-form [name=text]", "hi al")
        alice.wait_for_text("#typing", "bob is typing...")
        bob.page.press("#send-form [name=text]", "Enter")
        alice.wait_for_message("hi al")
        alice.say("hello from the other instance")
        bob.wait_for_message("hello from the other instance")
        # Alice's confirmation is a frame of its own: it may come after Bob's copy.
        alice.wait_for_message("hello from the other instance")
        assert alice.message_texts() == bob.message_texts()
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_a_room_invited_to_on_another_instance_appears_at_once(
    pair: list[Instance],
) -> None:
    a, b = pair

    def scenario(browser):
        alice, bob = _person_on(browser, a, "alice"), _person_on(browser, b, "bob")
        alice.page.evaluate("window.notReloaded = true")
        bob.create_room("plans", private=True)
        bob.invite("alice")
        bob.wait_for_text("#notice", "alice is invited.")
        alice.wait_for_text("#rooms button", "plans")
        assert alice.page.evaluate("window.notReloaded")  # live, not after a reload
        alice.page.locator("#rooms button", has_text="plans").click()
        alice.wait_for_room("plans")
        bob.wait_for_text("#here li", "alice")  # she arrived, on the other instance
        alice.say("thanks for the invitation")
        bob.wait_for_message("thanks for the invitation")
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_a_room_switched_to_shows_what_was_written_on_the_other_instance_once(
    pair: list[Instance],
) -> None:
    a, b = pair

    def scenario(browser):
        alice, bob = _person_on(browser, a, "alice"), _person_on(browser, b, "bob")
        bob.create_room("plans", private=True)
        bob.invite("alice")
        for n in range(3):
            bob.say(f"written on b {n}")
        bob.wait_for_message("written on b 2")
        alice.wait_for_text("#rooms button", "plans")
        for _ in range(2):  # there, back to the lobby, and there again: the same page
            alice.page.locator("#rooms button", has_text="plans").click()
            alice.wait_for_room("plans")
            alice.wait_for_message("written on b 2")
            assert alice.message_texts() == [f"written on b {n}" for n in range(3)]
            alice.page.locator("#rooms button", has_text="lobby").click()
            alice.wait_for_room("lobby")
        alice.page.locator("#rooms button", has_text="plans").click()
        alice.wait_for_room("plans")
        bob.say("and one more, live")
        alice.wait_for_message("and one more, live")
        assert alice.message_texts() == [
            *(f"written on b {n}" for n in range(3)),
            "and one more, live",
        ]
        assert not [r for r in alice.requests if re.match(r"GET messages/\d+\?limit=", r)]
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_three_people_across_two_instances_see_arrivals_leavings_and_messages(
    pair: list[Instance],
) -> None:
    a, b = pair

    def scenario(browser):
        alice, bob = _person_on(browser, a, "alice"), _person_on(browser, b, "bob")
        carol = _person_on(browser, a, "carol")  # beside alice, not bob
        for client in (alice, bob, carol):
            for name in ("alice", "bob", "carol"):
                client.wait_for_text("#here li", name)
        assert _people_here(bob) == ["alice", "bob (you)", "carol"]
        carol.say("one for everyone")
        alice.wait_for_message("one for everyone")
        bob.wait_for_message("one for everyone")
        # Bob closes his page: both pages on the other instance see him go.
        bob.page.close()
        for client in (alice, carol):
            client.page.wait_for_selector(
                "#here .person:text-is('bob')", state="detached", timeout=WAIT_MS
            )
        assert _people_here(alice) == ["alice (you)", "carol"]
        _no_script_errors(alice, carol)

    await in_browser(scenario)


async def test_a_direct_message_by_clicking_a_person_on_another_instance(
    pair: list[Instance],
) -> None:
    a, b = pair

    def scenario(browser):
        alice, bob = _person_on(browser, a, "alice"), _person_on(browser, b, "bob")
        carol = _person_on(browser, b, "carol")
        alice.wait_for_text("#here li", "bob")
        alice.page.locator("#here li", has_text="bob").click()
        alice.wait_for_room("with bob")
        alice.page.keyboard.type("just between us")
        alice.page.keyboard.press("Enter")
        bob.page.wait_for_selector(
            "#rooms li:has-text('with alice') .badge:text-is('1')", timeout=WAIT_MS
        )
        bob.page.locator("#rooms button", has_text="with alice").click()
        bob.wait_for_message("just between us")
        assert bob.message_texts() == ["just between us"]  # once, in its conversation
        assert bob.page.locator("body").inner_text().count("just between us") == 1
        carol.say("carol saw nothing")  # a later message on carol's page ...
        bob.page.locator("#rooms button", has_text="lobby").click()
        bob.wait_for_message("carol saw nothing")
        assert "just between us" not in carol.page.text_content("body")  # ... not the DM
        _no_script_errors(alice, bob, carol)

    await in_browser(scenario)


async def test_reading_on_one_instance_clears_the_badge_on_the_other(
    pair: list[Instance],
) -> None:
    from playwright.sync_api import expect

    a, b = pair

    def scenario(browser):
        alice, bob = _person_on(browser, a, "alice"), _person_on(browser, b, "bob")
        bob.create_room("quiet")  # bob's page on b, away from the lobby
        bob_elsewhere = open_client(browser, a.server.http)  # and his second, on a
        bob_elsewhere.log_in("bob")
        bob_elsewhere.page.locator("#rooms button", has_text="quiet").click()
        bob_elsewhere.wait_for_room("quiet")
        alice.say("unread by bob")
        alice.wait_for_message("unread by bob")
        bob_elsewhere.page.reload()  # asks for the counts again: one unread in the lobby
        bob_elsewhere.wait_online()
        badge = bob_elsewhere.page.locator("#rooms li", has_text="lobby").locator(".badge")
        expect(badge).to_have_text("1", timeout=WAIT_MS)
        expect(badge).to_be_visible()
        # Bob reads the lobby on his page on b: the page on a hears of it and clears it.
        bob.page.locator("#rooms button", has_text="lobby").click()
        bob.wait_for_message("unread by bob")
        expect(badge).to_be_hidden(timeout=WAIT_MS)
        _no_script_errors(alice, bob, bob_elsewhere)

    await in_browser(scenario)


async def test_changes_on_two_instances_reach_a_page_that_was_away_when_it_resumes(
    pair: list[Instance],
) -> None:
    from playwright.sync_api import expect

    a, b = pair

    def act(client: Client, text: str, action: str) -> None:
        item = client.page.locator("#messages li[data-id]").filter(has_text=text).first
        item.hover()
        item.get_by_role("button", name=action).click()

    def scenario(browser):
        alice, bob = _person_on(browser, a, "alice"), _person_on(browser, b, "bob")
        carol = open_client(browser, b.server.http, cuttable=True)
        carol.register("carol")
        alice.say("plan A")
        bob.wait_for_message("plan A")
        act(bob, "plan A", "Reply to alice")
        bob.say("plan B?")
        alice.wait_for_message("plan B?")
        act(alice, "plan B?", "React to bob's message")
        alice.page.get_by_role("button", name="React with 👀").click()
        carol.wait_for_text("#messages .chip", "👀 1")
        seen = int(carol.page.locator("#messages li[data-id]").last.get_attribute("data-id"))
        # Carol's page loses its network; the others go on, on both instances.
        carol.cut_off()
        act(bob, "plan A", "React to alice's message")
        bob.page.get_by_role("button", name="React with 🎉").click()
        act(alice, "plan A", "Edit your message")
        alice.page.keyboard.press("End")
        alice.page.keyboard.type(", revised")
        alice.page.keyboard.press("Enter")
        act(bob, "plan B?", "Delete bob's message")
        bob.page.get_by_role("button", name="Yes, delete").click()
        alice.say("see you at noon")
        for client in (alice, bob):
            client.wait_for_message("see you at noon")
            client.wait_for_message("message deleted")
            client.wait_for_message("plan A, revised")
        requests_before = len(carol.requests)
        carol.reconnect()
        carol.wait_for_message("see you at noon")
        assert carol.message_texts() == alice.message_texts() == bob.message_texts()
        assert carol.message_texts() == ["plan A, revised", "message deleted", "see you at noon"]
        revised = carol.page.locator("#messages li[data-id]").first
        expect(revised.locator(".edited")).to_have_text("(edited)")
        expect(revised.locator(".chip")).to_have_text(["🎉 1"])
        expect(carol.page.locator("#messages li.deleted .chip")).to_have_count(0)
        # It resumed from the reaction it saw last (a change, numbered past the last
        # message it had seen), on the socket, without asking for the history again.
        enters = [f for f in carol.frames_sent if isinstance(f, dict) and f.get("Type") == "enter"]
        assert enters[-1]["SinceID"] > seen
        assert [r for r in carol.requests[requests_before:] if "/messages/" in r] == []
        _no_script_errors(alice, bob, carol)

    await in_browser(scenario)


async def test_the_people_panel_shows_a_member_online_on_another_instance(
    pair: list[Instance],
) -> None:
    a, b = pair

    def scenario(browser):
        alice, bob = _person_on(browser, a, "alice"), _person_on(browser, b, "bob")
        carol = _person_on(browser, b, "carol")
        alice.create_room("plans")
        alice.invite("bob")
        alice.wait_for_text("#notice", "bob is invited.")
        alice.invite("carol")
        alice.wait_for_text("#notice", "carol is invited.")
        carol.page.close()  # carol goes; bob stays, in the lobby on the other instance
        alice.page.reload()
        alice.wait_for_room("plans")
        wait_listed(alice, [("alice (you)", "true"), ("bob", "true"), ("carol", "false")])
        # Bob comes into the room on his instance, and goes: online all along.
        bob.page.locator("#rooms button", has_text="plans").click()
        bob.wait_for_room("plans")
        wait_listed(bob, [("alice", "true"), ("bob (you)", "true"), ("carol", "false")])
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_a_mention_on_one_instance_lights_the_badges_on_the_other(
    pair: list[Instance],
) -> None:
    a, b = pair

    def scenario(browser):
        alice, bob = _person_on(browser, a, "alice"), _person_on(browser, b, "bob")
        room_id = alice.create_room("side")
        alice.invite("bob")
        bob.page.wait_for_selector(f"#rooms button[data-room='{room_id}']", timeout=WAIT_MS)
        alice.say("@bob over here")
        row = bob.page.locator(f"#rooms li:has(button[data-room='{room_id}'])")
        bob.wait_for_text(f"#rooms li:has(button[data-room='{room_id}']) .badge", "1")
        bob.wait_for_text(f"#rooms li:has(button[data-room='{room_id}']) .mention-badge", "@1")
        assert row.locator(".mention-badge").is_visible()
        assert bob.page.title() == "(1) chat"
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_an_image_pasted_on_one_instance_shows_inline_for_a_reader_on_the_other(
    pair: list[Instance],
) -> None:
    from playwright.sync_api import expect

    a, b = pair

    def scenario(browser):
        alice, bob = _person_on(browser, a, "alice"), _person_on(browser, b, "bob")
        paste_image(alice, chart(1200, 800))
        expect(alice.page.locator("#attachments li.uploaded")).to_have_count(1, timeout=WAIT_MS)
        alice.say("the numbers, from instance a")
        bob.wait_for_message("the numbers, from instance a")
        image = bob.page.locator("#messages li[data-id]").last.locator(".files img")
        expect(image).to_have_attribute("alt", re.compile(r"^Pasted image .+\.png$"))
        assert (image.get_attribute("width"), image.get_attribute("height")) == ("360", "240")
        # Its thumbnail, made on a, served by b (400 x 267: at most 400 px a side).
        bob.page.wait_for_function(
            "(img) => img.complete && img.naturalWidth === 400", arg=image.element_handle()
        )
        bob.screenshot("files-cluster-inline")
        image.click()
        full = bob.page.locator("#viewer img")
        bob.page.wait_for_function(
            "(img) => img.complete && img.naturalWidth === 1200", arg=full.element_handle()
        )
        _no_script_errors(alice, bob)

    await in_browser(scenario)
