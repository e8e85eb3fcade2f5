"""Bot accounts (``POST/GET/DELETE /bots``): a user's bots, named by a person's rules,
let in by tokens only, shown as bots, limited per user, and deleted with their messages
kept under a name that stays taken."""

from __future__ import annotations

from typing import Any

import trio
from browser import in_browser, open_client
from support import (
    Account,
    Clients,
    Server,
    account,
    create_room,
    execute_sql,
    http_client,
    start_server,
)
from test_support import operator
from test_token_revocation import closed, still_open

from chat.app.accounts.auth import Passwords
from chat.core.config import Config


async def _bot(
    server: Server, owner: Account, name: str = "deploybot", **more: Any
) -> dict[str, Any]:
    async with http_client(server) as client:
        made = await client.post("/bots", json={"Name": name, **more}, headers=owner.auth)
    assert made.status_code == 201, made.text
    bot: dict[str, Any] = made.json()
    return bot


async def _as_bot(server: Server, owner: Account, bot: dict[str, Any], *scopes: str) -> Account:
    """The bot, acting through a token its owner made it."""
    async with http_client(server) as client:
        made = await client.post(
            "/tokens",
            json={"Name": "ci", "Scopes": list(scopes or ("read", "write")), "UID": bot["UID"]},
            headers=owner.auth,
        )
    assert made.status_code == 201, made.text
    return Account(bot["UID"], bot["Name"], "", "", made.json()["Token"])


async def _listed(server: Server, user: Account) -> list[str]:
    async with http_client(server) as client:
        return [bot["Name"] for bot in (await client.get("/bots", headers=user.auth)).json()]


async def test_a_user_makes_bots_and_lists_theirs_and_an_operator_lists_everyones(
    server: Server,
) -> None:
    alice, bob, op = (
        await account(server, "alice"),
        await account(server, "bob"),
        await operator(server),
    )
    made = await _bot(server, alice, DisplayName="Deploys")
    await _bot(server, bob, "bobsbot")
    assert (made["Name"], made["DisplayName"], made["OwnerUID"]) == (
        "deploybot",
        "Deploys",
        alice.uid,
    )
    assert await _listed(server, alice) == ["deploybot"]
    assert await _listed(server, bob) == ["bobsbot"]
    assert await _listed(server, op) == ["deploybot", "bobsbot"]
    async with http_client(server) as client:
        profile = (await client.get(f"/profile/{made['UID']}", headers=bob.auth)).json()
    assert profile["Kind"] == "bot"


async def test_a_bots_name_cannot_pass_for_a_persons(server: Server) -> None:
    alice = await account(server, "alice")
    async with http_client(server) as client:
        look_alike = await client.post("/bots", json={"Name": "\u0430lice"}, headers=alice.auth)
        reserved = await client.post("/bots", json={"Name": "admin"}, headers=alice.auth)
    assert look_alike.status_code == 409, look_alike.text
    assert reserved.status_code in (400, 409), reserved.text


async def test_a_bot_never_logs_in_with_a_password(server: Server) -> None:
    alice = await account(server, "alice")
    bot = await _bot(server, alice)
    known = await Passwords(4).hash("a password someone set")
    await execute_sql(
        server.config, f"UPDATE users SET password_hash = '{known}' WHERE id = {bot['UID']}"
    )
    async with http_client(server) as client:
        login = await client.post(
            "/api/login", json={"username": "deploybot", "password": "a password someone set"}
        )
    assert login.status_code == 401, login.text
    await execute_sql(server.config, f"UPDATE users SET kind = 'person' WHERE id = {bot['UID']}")
    async with http_client(server) as client:
        as_a_person = await client.post(
            "/api/login", json={"username": "deploybot", "password": "a password someone set"}
        )
    assert as_a_person.status_code == 200, as_a_person.text  # the password was right


async def test_a_bots_messages_carry_the_bot_flag(server: Server, clients: Clients) -> None:
    alice = await account(server, "alice")
    bot = await _as_bot(server, alice, await _bot(server, alice))
    room_id = await create_room(server, alice, "builds", bot)
    async with http_client(server) as client:
        sent = await client.post(
            f"/messages/{room_id}", json={"Text": "build 12 green"}, headers=bot.auth
        )
        assert sent.status_code == 201, sent.text
        history = (await client.get(f"/messages/{room_id}", headers=alice.auth)).json()
    (message,) = [m for m in history if m["Text"] == "build 12 green"]
    assert (message["UID"], message.get("Bot")) == (bot.uid, True)
    assert all("Bot" not in m for m in history if m["UID"] == alice.uid)


async def test_a_token_for_someone_elses_bot_is_refused(server: Server) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    bot = await _bot(server, alice)
    async with http_client(server) as client:
        made = await client.post(
            "/tokens", json={"Name": "x", "Scopes": ["read"], "UID": bot["UID"]}, headers=bob.auth
        )
        for_a_person = await client.post(
            "/tokens", json={"Name": "x", "Scopes": ["read"], "UID": alice.uid}, headers=bob.auth
        )
    assert (made.status_code, for_a_person.status_code) == (404, 404)


async def test_a_bot_makes_no_bots(server: Server) -> None:
    alice = await account(server, "alice")
    bot = await _as_bot(server, alice, await _bot(server, alice))
    async with http_client(server) as client:
        made = await client.post("/bots", json={"Name": "botbot"}, headers=bot.auth)
    assert made.status_code == 403, made.text


async def test_a_user_has_at_most_the_bots_the_setting_allows(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(max_bots_per_user=1))
    alice = await account(server, "alice")
    await _bot(server, alice, "first")
    async with http_client(server) as client:
        second = await client.post("/bots", json={"Name": "second"}, headers=alice.auth)
    assert second.status_code == 409, second.text


async def test_a_deleted_bot_keeps_its_messages_and_name_and_loses_its_way_in(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    made = await _bot(server, alice)
    bot = await _as_bot(server, alice, made)
    room_id = await create_room(server, alice, "builds", bot)
    async with http_client(server) as client:
        await client.post(f"/messages/{room_id}", json={"Text": "deployed"}, headers=bot.auth)
        ws = await clients.connect(f"/ws?token={bot.token}")
        await still_open(ws)
        refused = await client.delete(f"/bots/{made['UID']}", headers=bob.auth)
        deleted = await client.delete(f"/bots/{made['UID']}", headers=alice.auth)
        assert (refused.status_code, deleted.status_code) == (404, 204)
        _, code, _reason = await closed(ws)
        assert code == 1008
        assert (await client.get("/tokens", headers=bot.auth)).status_code == 401
        history = (await client.get(f"/messages/{room_id}", headers=alice.auth)).json()
        taken = await client.post("/bots", json={"Name": "deploybot"}, headers=bob.auth)
    assert [(m["Username"], m.get("Bot")) for m in history if m["Text"] == "deployed"] == [
        ("deploybot", True)
    ]
    assert taken.status_code == 409, taken.text
    assert await _listed(server, alice) == []


async def test_the_page_shows_a_bots_messages_with_a_bot_badge(server: Server) -> None:
    alice = await account(server, "alice")
    bot = await _as_bot(server, alice, await _bot(server, alice, DisplayName="Deploys"))
    async with http_client(server) as client:
        for text, who in (("deployed 1.4.2", bot), ("thanks", alice)):
            sent = await client.post("/messages/1", json={"Text": text}, headers=who.auth)
            assert sent.status_code == 201, sent.text

    def scenario(browser: Any) -> None:
        from playwright.sync_api import expect

        reader = open_client(browser, server.http)
        reader.register("reader")
        reader.wait_for_message("thanks")
        from_bot = reader.page.locator("#messages li", has_text="deployed 1.4.2")
        expect(from_bot.locator(".name .bot-badge")).to_have_text("BOT")
        expect(from_bot.locator(".name")).to_contain_text("Deploys")
        from_person = reader.page.locator("#messages li", has_text="thanks")
        expect(from_person.locator(".bot-badge")).to_have_count(0)
        reader.screenshot("bot-badge")

    await in_browser(scenario)
