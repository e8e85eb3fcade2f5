"""Incoming webhooks in a room's settings (chat/static/webhooks.js): a moderator makes
one in the page, its URL shown once; a Slack body posted to that URL reaches another
person's page as the webhook's bot (BOT badge) in Markdown (bold, struck, a link); a new
URL and deleting one are asked first."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from axe import axe_source, violations_in_both_themes
from browser import WAIT_MS, Client, in_browser, open_client
from support import PASSWORD, Server
from test_browser import _no_script_errors
from test_room_moderation import team


def _post(url: str, body: dict[str, Any]) -> tuple[int, str]:
    """A CI system's POST to a webhook's URL (no credentials but the URL)."""
    request = urllib.request.Request(
        url,
        method="POST",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return int(answer.status), answer.read().decode()


def _in_room(browser: Any, server: Server, name: str, room_id: int) -> Client:
    client = open_client(browser, f"{server.http}/#/room/{room_id}")
    client.log_in(name, PASSWORD)
    client.wait_for_room("ops")
    return client


def _settings(client: Client) -> Any:
    client.page.click("#room-settings")
    client.page.wait_for_selector("#settings-dialog[open]", timeout=WAIT_MS)
    return client.page.locator("#webhooks-section")


async def test_a_webhook_made_in_the_settings_posts_as_a_bot_to_another_persons_page(
    server: Server,
) -> None:
    _owner, _mod, _member, room_id = await team(server)
    source = await axe_source()

    def scenario(browser: Any) -> None:
        from playwright.sync_api import expect

        mo = _in_room(browser, server, "mo", room_id)
        mel = _in_room(browser, server, "mel", room_id)
        section = _settings(mo)
        expect(section).to_be_visible(timeout=WAIT_MS)
        section.get_by_label("New webhook").fill("CI builds")
        section.get_by_role("button", name="Make webhook").click()
        url = mo.page.locator("#webhook-url")
        expect(url).to_contain_text(f"{server.http}/hooks/", timeout=WAIT_MS)
        expect(section.locator("#webhooks li")).to_contain_text("posts as ci-builds-hook")
        section.locator("#webhooks").scroll_into_view_if_needed()
        mo.screenshot("room-settings-webhooks")
        assert violations_in_both_themes(mo, source) == {"light": [], "dark": []}
        section.get_by_role("button", name="Copy").click()
        expect(section.locator("#webhook-copy")).to_have_text("Copied", timeout=WAIT_MS)
        body = {
            "text": "Build *1432* passed (~flaky~ fixed): <https://ci.example.com/1432|details>"
        }
        assert _post(url.text_content() or "", body) == (200, "ok")
        item = mel.page.locator("#messages li[data-id]").filter(has_text="passed").first
        expect(item.locator(".bot-badge")).to_have_text("BOT", timeout=WAIT_MS)
        expect(item.locator("strong")).to_have_text("1432")
        expect(item.locator("s")).to_have_text("flaky")
        expect(item.locator("a[href='https://ci.example.com/1432']")).to_have_text("details")
        expect(item).to_contain_text("CI builds")
        mel.screenshot("webhook-message")
        _no_script_errors(mo, mel)

    await in_browser(scenario)


async def test_a_new_url_and_deleting_a_webhook_are_asked_first(server: Server) -> None:
    _owner, _mod, _member, room_id = await team(server)

    def scenario(browser: Any) -> None:
        from playwright.sync_api import expect

        mo = _in_room(browser, server, "mo", room_id)
        section = _settings(mo)
        section.get_by_label("New webhook").fill("alerts")
        section.get_by_role("button", name="Make webhook").click()
        url = mo.page.locator("#webhook-url")
        expect(url).to_contain_text("/hooks/", timeout=WAIT_MS)
        first = url.text_content()
        hooks = section.locator("#webhooks li")
        expect(hooks).to_have_count(1, timeout=WAIT_MS)
        section.get_by_role("button", name="Give the webhook alerts a new URL").click()
        mo.page.locator("#confirm-no").click()
        expect(url).to_have_text(first or "")
        section.get_by_role("button", name="Give the webhook alerts a new URL").click()
        mo.page.locator("#confirm-yes").click()
        expect(url).not_to_have_text(first or "", timeout=WAIT_MS)
        expect(mo.page.locator("#webhook-status")).to_contain_text("new URL")
        section.get_by_role("button", name="Delete the webhook alerts").click()
        mo.page.locator("#confirm-no").click()
        expect(hooks).to_have_count(1)
        section.get_by_role("button", name="Delete the webhook alerts").click()
        mo.page.locator("#confirm-yes").click()
        expect(hooks).to_have_count(0, timeout=WAIT_MS)
        expect(mo.page.locator("#webhook-status")).to_contain_text("deleted")
        expect(mo.page.locator("#settings-dialog")).to_have_attribute("open", "")
        _no_script_errors(mo)

    await in_browser(scenario)
