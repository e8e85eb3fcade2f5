"""Outgoing webhooks (``/room/{roomID}/outgoing-webhooks``): a posted message holding one
of a hook's trigger words (a whole word, any case) is posted as usual and also sent,
signed, to the hook's receiver, whose answer is posted as the hook's bot."""

from __future__ import annotations

import json
from typing import Any

from command_receiver import (  # noqa: F401 (the fixtures)
    answer,
    config_fixture,
    next_of,
    site_fixture,
    verified,
)
from support import Account, Clients, Server, entered
from test_room_moderation import call, ok, team
from web_site import WebSite

from chat.core.room_commands import MAX_TRIGGER_HOOKS_PER_ROOM


async def _hook(server: Server, who: Account, room_id: int, url: str, *words: str) -> Any:
    body = {"TriggerWords": list(words or ("deploy",)), "URL": url}
    made = await call(server, who, "POST", f"/room/{room_id}/outgoing-webhooks", body)
    assert made.status_code == 201, made.text
    return made.json()


async def test_a_trigger_word_sends_the_message_signed_and_posts_the_answer(
    server: Server, clients: Clients, site: WebSite
) -> None:
    owner, mod, member, room_id = await team(server)
    made = await _hook(server, mod, room_id, site.page("/hook", answer("on it")))
    watching = await entered(clients, owner, room_id)
    sender = await entered(clients, member, room_id)
    await sender.send({"Type": "message", "Text": "please Deploy the fix"})
    posted = await next_of(sender, "message")
    assert posted["Text"] == "please Deploy the fix"
    (request,) = await site.wait_for("/hook")
    payload = verified(request, made["Secret"])
    assert {k: payload[k] for k in ("TriggerWord", "MessageID", "Text", "RoomID", "UID")} == {
        "TriggerWord": "deploy",
        "MessageID": posted["MessageID"],
        "Text": "please Deploy the fix",
        "RoomID": room_id,
        "UID": member.uid,
    }
    assert (await next_of(watching, "message"))["Text"] == "please Deploy the fix"
    answered = await next_of(watching, "message")
    assert (answered["Text"], answered["Username"], answered.get("Bot")) == (
        "on it",
        "deploy-trigger",
        True,
    )


async def test_only_a_whole_word_triggers(server: Server, clients: Clients, site: WebSite) -> None:
    _owner, mod, member, room_id = await team(server)
    await _hook(server, mod, room_id, site.page("/hook", answer("")))
    sender = await entered(clients, member, room_id)
    for text in ("redeployed", "deployment", "deploy-ish", "DEPLOY!"):
        await sender.send({"Type": "message", "Text": text})
        await next_of(sender, "message")
    (request,) = await site.wait_for("/hook")
    assert json.loads(request.body)["Text"] == "DEPLOY!"


async def test_a_bots_answer_holding_the_word_triggers_nothing(
    server: Server, clients: Clients, site: WebSite
) -> None:
    owner, mod, member, room_id = await team(server)
    await _hook(server, mod, room_id, site.page("/hook", answer("deploy done")))
    watching = await entered(clients, owner, room_id)
    sender = await entered(clients, member, room_id)
    await sender.send({"Type": "message", "Text": "deploy"})
    await next_of(watching, "message")
    assert (await next_of(watching, "message"))["Text"] == "deploy done"
    await sender.send({"Type": "message", "Text": "deploy again"})
    # Had the bot's message been sent, it would have been sent before this one.
    arrived = await site.wait_for("/hook", 2)
    assert [json.loads(r.body)["Text"] for r in arrived] == ["deploy", "deploy again"]


async def test_a_plain_member_may_not_register_or_list_outgoing_webhooks(server: Server) -> None:
    _owner, _mod, member, room_id = await team(server)
    base = f"/room/{room_id}/outgoing-webhooks"
    made = await call(server, member, "POST", base, {"TriggerWords": ["x"], "URL": "https://a.b/"})
    assert made.status_code == 403, made.text
    assert (await call(server, member, "GET", base)).status_code == 403


async def test_a_moderator_lists_and_deletes_outgoing_webhooks(server: Server) -> None:
    _owner, mod, _member, room_id = await team(server)
    made = await _hook(server, mod, room_id, "https://example.com/h", "deploy", "Rollback")
    base = f"/room/{room_id}/outgoing-webhooks"
    listed = await ok(server, mod, "GET", base)
    assert (listed[0]["WebhookID"], listed[0]["TriggerWords"]) == (
        made["WebhookID"],
        ["deploy", "rollback"],
    )
    assert made["Secret"] not in json.dumps(listed)
    assert (await call(server, mod, "DELETE", f"{base}/{made['WebhookID']}")).status_code == 204
    assert await ok(server, mod, "GET", base) == []
    entries = await ok(server, mod, "GET", f"/room/{room_id}/audit")
    actions = [entry["Action"] for entry in entries]
    assert actions[:2] == ["outgoing-webhook-delete", "outgoing-webhook-create"]


async def test_trigger_words_are_checked(server: Server) -> None:
    _owner, mod, _member, room_id = await team(server)
    base = f"/room/{room_id}/outgoing-webhooks"
    for words in ([], ["two words"], ["x" * 33], [""], ["w"] * 11, "deploy", [3]):
        refused = await call(
            server, mod, "POST", base, {"TriggerWords": words, "URL": "https://a.b/"}
        )
        assert refused.status_code == 400, (words, refused.text)


async def test_a_room_has_a_bounded_number_of_outgoing_webhooks(server: Server) -> None:
    _owner, mod, _member, room_id = await team(server)
    for number in range(MAX_TRIGGER_HOOKS_PER_ROOM):
        await _hook(server, mod, room_id, "https://example.com/h", f"w{number}")
    base = f"/room/{room_id}/outgoing-webhooks"
    refused = await call(server, mod, "POST", base, {"TriggerWords": ["x"], "URL": "https://a.b/"})
    assert refused.status_code == 409
    assert f"has {MAX_TRIGGER_HOOKS_PER_ROOM} outgoing webhooks" in refused.json()["error"]
