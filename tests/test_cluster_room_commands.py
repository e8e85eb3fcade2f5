"""Slash commands and outgoing webhooks on a cluster: the table is the truth, so a command
registered on one instance is taken on another, its bot's answer reaches the room's
connections on both, an ephemeral answer reaches the caller on the other instance, and a
trigger word is sent once, by the instance that stored the message."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cluster import Instance, open_cluster
from command_receiver import answer, next_of, site_fixture, verified  # noqa: F401
from support import entered, open_clients, throwaway_postgres_schema
from test_room_moderation import ok, team
from web_site import WebSite


@pytest.fixture
async def pair(tmp_path: Path, site: WebSite) -> AsyncIterator[list[Instance]]:
    """Two instances on one PostgreSQL schema (its own bus), allowed to reach the site."""
    async with (
        throwaway_postgres_schema() as url,
        open_cluster(tmp_path, url, 2, webhook_hosts=(site.host_entry,)) as instances,
    ):
        yield instances


async def test_a_command_registered_on_one_instance_is_used_on_another(
    pair: list[Instance], site: WebSite
) -> None:
    a, b = pair[0].server, pair[1].server
    owner, mod, member, room_id = await team(a)
    url = site.page("/deploy", answer("deployed"))
    made = await ok(a, mod, "POST", f"/room/{room_id}/commands", {"Command": "/deploy", "URL": url})
    async with open_clients(a) as on_a, open_clients(b) as on_b:
        watching_a = await entered(on_a, owner, room_id)
        sender_b = await entered(on_b, member, room_id)
        await sender_b.send({"Type": "message", "Text": "/deploy"})
        assert (await next_of(sender_b, "command"))["Command"] == "/deploy"
        (request,) = await site.wait_for("/deploy")
        assert verified(request, made["Secret"])["UID"] == member.uid
        for ws in (watching_a, sender_b):
            posted = await next_of(ws, "message")
            assert (posted["Text"], posted["Username"]) == ("deployed", "deploy-cmd")


async def test_an_ephemeral_answer_reaches_the_callers_connection_on_another_instance(
    pair: list[Instance], site: WebSite
) -> None:
    a, b = pair[0].server, pair[1].server
    _owner, mod, member, room_id = await team(a)
    url = site.page("/deploy", answer("just you", ephemeral=True))
    await ok(a, mod, "POST", f"/room/{room_id}/commands", {"Command": "/deploy", "URL": url})
    async with open_clients(a) as on_a, open_clients(b) as on_b:
        listening_a = await entered(on_a, member, room_id)
        sender_b = await entered(on_b, member, room_id)
        await sender_b.send({"Type": "message", "Text": "/deploy"})
        for ws in (listening_a, sender_b):
            assert (await next_of(ws, "ephemeral"))["Text"] == "just you"


async def test_a_trigger_word_is_sent_once_in_a_cluster(
    pair: list[Instance], site: WebSite
) -> None:
    a, b = pair[0].server, pair[1].server
    owner, mod, member, room_id = await team(a)
    body = {"TriggerWords": ["deploy"], "URL": site.page("/hook", answer("ack"))}
    await ok(a, mod, "POST", f"/room/{room_id}/outgoing-webhooks", body)
    async with open_clients(a) as on_a, open_clients(b) as on_b:
        watching_a = await entered(on_a, owner, room_id)
        sender_b = await entered(on_b, member, room_id)
        await sender_b.send({"Type": "message", "Text": "deploy one"})
        await sender_b.send({"Type": "message", "Text": "deploy two"})
        texts = [(await next_of(watching_a, "message"))["Text"] for _ in range(4)]
        assert sorted(texts) == ["ack", "ack", "deploy one", "deploy two"]
        # A message sent twice would have had its second answer by now, before this.
        await sender_b.send({"Type": "message", "Text": "the end"})
        assert (await next_of(watching_a, "message"))["Text"] == "the end"
    arrived = [json.loads(r.body)["Text"] for r in site.to("/hook")]
    assert sorted(arrived) == ["deploy one", "deploy two"]
