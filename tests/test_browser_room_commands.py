"""Slash commands and outgoing webhooks in the browser (chat/static/room-commands.js,
commands.js): a moderator registers a command in the room's settings, its secret shown
once; typing `/` offers it with its description; `/deploy now` shows the bot's answer on
everyone's page, an ephemeral answer on the caller's alone; `/me` is an action;
deleting a registration is asked first."""

from __future__ import annotations

import json
from typing import Any

from axe import axe_source, violations_in_both_themes
from browser import WAIT_MS, in_browser
from command_receiver import answer, config_fixture, site_fixture, verified  # noqa: F401
from support import Server
from test_browser import _no_script_errors
from test_browser_webhooks import _in_room
from test_room_moderation import team
from web_site import Reply, Request, WebSite


def _deploy(request: Request) -> Reply:
    """The receiver: a public answer to `/deploy now`, an ephemeral one otherwise."""
    text = json.loads(request.body)["Text"]
    if text == "now":
        return answer("deploying build 1432")
    return answer(f"only you: {text}", ephemeral=True)


async def test_a_command_registered_in_the_settings_answers_in_the_room(
    server: Server, site: WebSite
) -> None:
    _owner, _mod, _member, room_id = await team(server)
    url = site.handle("/deploy", _deploy)
    source = await axe_source()

    def scenario(browser: Any) -> Any:
        from playwright.sync_api import expect

        mo = _in_room(browser, server, "mo", room_id)
        mel = _in_room(browser, server, "mel", room_id)
        mo.page.click("#room-settings")
        mo.page.wait_for_selector("#settings-dialog[open]", timeout=WAIT_MS)
        section = mo.page.locator("#commands-section")
        expect(section).to_be_visible(timeout=WAIT_MS)
        section.get_by_role("textbox", name="Command").fill("/deploy")
        section.get_by_label("URL").fill(url)
        section.get_by_label("What it does").fill("ship a build")
        section.get_by_role("button", name="Register command").click()
        secret = mo.page.locator("#command-secret")
        expect(secret).not_to_be_empty(timeout=WAIT_MS)
        expect(section.locator("#commands li")).to_contain_text("answers as deploy-cmd")
        expect(mo.page.locator("#hooks-section")).to_be_visible()
        section.scroll_into_view_if_needed()
        mo.screenshot("room-settings-commands")
        assert violations_in_both_themes(mo, source) == {"light": [], "dark": []}
        shown_secret = secret.text_content() or ""
        mo.page.keyboard.press("Escape")

        composer = mel.page.locator("#send-form textarea")
        composer.click()
        composer.type("/dep")
        options = mel.page.locator("#command-suggestions").get_by_role("option")
        expect(options.first).to_contain_text("/deploy ship a build", timeout=WAIT_MS)
        mel.screenshot("command-completion")
        composer.press("Tab")  # takes the command; does not send
        expect(composer).to_have_value("/deploy ")
        composer.type("now")
        composer.press("Enter")
        for page in (mo, mel):
            posted = page.page.locator("#messages li[data-id]").filter(has_text="deploying")
            expect(posted.locator(".bot-badge")).to_have_text("BOT", timeout=WAIT_MS)
        # The command itself is not posted, nor left "not sent".
        expect(mel.page.locator("#messages li").filter(has_text="/deploy now")).to_have_count(0)

        composer.type("/deploy quietly")
        composer.press("Enter")
        ephemeral = mel.page.locator("#messages li.ephemeral")
        expect(ephemeral).to_contain_text("only you: quietly", timeout=WAIT_MS)
        expect(ephemeral).to_contain_text("Only you can see this")
        composer.type("/me waves")
        composer.press("Enter")
        action = mo.page.locator("#messages li.action")
        expect(action).to_contain_text("waves", timeout=WAIT_MS)
        expect(action.locator(".text")).to_have_text("waves")
        mel.screenshot("command-answers")
        # Only the caller sees an ephemeral answer.
        expect(mo.page.locator("#messages li.ephemeral")).to_have_count(0)
        _no_script_errors(mo, mel)
        return shown_secret

    shown_secret = await in_browser(scenario)
    first = site.to("/deploy")[0]
    assert verified(first, shown_secret)["Command"] == "/deploy"


async def test_deleting_an_outgoing_webhook_is_asked_first(server: Server) -> None:
    _owner, _mod, _member, room_id = await team(server)

    def scenario(browser: Any) -> None:
        from playwright.sync_api import expect

        mo = _in_room(browser, server, "mo", room_id)
        mo.page.click("#room-settings")
        section = mo.page.locator("#hooks-section")
        expect(section).to_be_visible(timeout=WAIT_MS)
        section.get_by_label("Trigger words").fill("deploy, rollback")
        section.get_by_label("URL").fill("https://ci.example.com/chat")
        section.get_by_role("button", name="Register webhook").click()
        hooks = section.locator("#hooks li")
        expect(hooks).to_have_count(1, timeout=WAIT_MS)
        expect(hooks).to_contain_text("deploy, rollback")
        expect(mo.page.locator("#hook-secret")).not_to_be_empty()
        delete = section.get_by_role("button", name="Delete the outgoing webhook deploy, rollback")
        delete.click()
        mo.page.locator("#confirm-no").click()
        expect(hooks).to_have_count(1)
        delete.click()
        mo.page.locator("#confirm-yes").click()
        expect(hooks).to_have_count(0, timeout=WAIT_MS)
        expect(mo.page.locator("#hook-status")).to_contain_text("deleted")
        _no_script_errors(mo)

    await in_browser(scenario)
