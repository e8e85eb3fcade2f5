"""Slash commands a room registers (``/room/{roomID}/commands``): a text starting with one
is not posted but sent, signed, to its receiver, whose answer is posted as the command's
bot or shown to the caller alone; failures are told to the caller; registration is for
the room's moderators, bounded and audited."""

from __future__ import annotations

import json
from typing import Any

from command_receiver import (  # noqa: F401 (the fixtures)
    answer,
    config_fixture,
    next_of,
    register,
    site_fixture,
    verified,
)
from support import Clients, Server, entered, http_client, room_history
from test_room_moderation import call, ok, team
from test_support import operator
from web_site import Reply, WebSite


async def test_a_command_is_sent_signed_and_its_answer_posted_as_its_bot(
    server: Server, clients: Clients, site: WebSite
) -> None:
    owner, mod, member, room_id = await team(server)
    url = site.page("/deploy", answer("deploying build 1432"))
    made = await register(server, mod, room_id, url)
    watching = await entered(clients, owner, room_id)
    sender = await entered(clients, member, room_id)
    await sender.send({"Type": "message", "Text": "/deploy now please", "ClientMsgID": "c1"})
    ack = await sender.receive()
    assert ack == {"Type": "command", "RoomID": room_id, "Command": "/deploy", "ClientMsgID": "c1"}
    (request,) = await site.wait_for("/deploy")
    payload = verified(request, made["Secret"])
    assert {k: payload[k] for k in ("Command", "Text", "RoomID", "UID", "Username")} == {
        "Command": "/deploy",
        "Text": "now please",
        "RoomID": room_id,
        "UID": member.uid,
        "Username": "mel",
    }
    assert payload["Timestamp"].endswith("Z") or "+" in payload["Timestamp"]
    posted = await next_of(watching, "message")
    assert (posted["Text"], posted["Username"], posted.get("Bot")) == (
        "deploying build 1432",
        "deploy-cmd",
        True,
    )
    texts = [m["Text"] for m in await room_history(server, owner, room_id)]
    assert "/deploy now please" not in texts


async def test_an_ephemeral_answer_reaches_the_caller_alone(
    server: Server, clients: Clients, site: WebSite
) -> None:
    owner, mod, member, room_id = await team(server)
    await register(server, mod, room_id, site.page("/deploy", answer("only you", ephemeral=True)))
    other = await entered(clients, owner, room_id)
    sender = await entered(clients, member, room_id)
    await sender.send({"Type": "message", "Text": "/deploy"})
    assert (await next_of(sender, "ephemeral")) == {
        "Type": "ephemeral",
        "RoomID": room_id,
        "Text": "only you",
    }
    # The other member's connection hears nothing of it: the next thing it gets is this.
    await sender.send({"Type": "message", "Text": "after"})
    assert (await other.receive())["Text"] == "after"


async def test_a_command_over_http_is_answered_202_and_not_posted(
    server: Server, clients: Clients, site: WebSite
) -> None:
    _owner, mod, member, room_id = await team(server)
    await register(server, mod, room_id, site.page("/deploy", answer("ok")))
    async with http_client(server) as client:
        taken = await client.post(
            f"/messages/{room_id}",
            json={"Text": "/DEPLOY staging", "ClientMsgID": "h1"},
            headers=member.auth,
        )
    assert (taken.status_code, taken.json()) == (
        202,
        {"RoomID": room_id, "Command": "/deploy", "ClientMsgID": "h1"},
    )
    (request,) = await site.wait_for("/deploy")
    assert json.loads(request.body)["Text"] == "staging"


async def _failure_told(clients: Clients, member: Any, room_id: int) -> str:
    sender = await entered(clients, member, room_id)
    await sender.send({"Type": "message", "Text": "/deploy x"})
    assert (await sender.receive())["Type"] == "command"
    told = await next_of(sender, "ephemeral")
    text: str = told["Text"]
    return text


async def test_a_receiver_failing_with_500_is_tried_three_times_then_the_caller_told(
    server: Server, clients: Clients, site: WebSite
) -> None:
    owner, mod, member, room_id = await team(server)
    made = await register(server, mod, room_id, site.page("/deploy", Reply(500, b"boom")))
    told = await _failure_told(clients, member, room_id)
    assert told == "/deploy failed: it answered HTTP 500 (3 attempts)"
    assert len(site.to("/deploy")) == 3
    assert made["Secret"] not in told
    assert all(m["Text"] != "/deploy x" for m in await room_history(server, owner, room_id))


async def test_a_receiver_answering_too_slowly_is_told_to_the_caller(
    server: Server, clients: Clients, site: WebSite
) -> None:
    _owner, mod, member, room_id = await team(server)
    await register(server, mod, room_id, site.page("/deploy", Reply(200, b"{}", delay=3)))
    told = await _failure_told(clients, member, room_id)
    assert told == "/deploy failed: no answer within 1 s"
    assert len(site.to("/deploy")) == 1  # a timeout is not tried again


async def test_an_unlisted_loopback_address_is_refused_and_never_reached(
    server: Server, clients: Clients, site: WebSite
) -> None:
    _owner, mod, member, room_id = await team(server)
    # The same site by another name of loopback: not on the allow-list.
    url = f"http://localhost:{site.port}/deploy"
    site.page("/deploy", answer("never"))
    await register(server, mod, room_id, url)
    told = await _failure_told(clients, member, room_id)
    assert told.startswith("/deploy failed: localhost is not an address this server fetches")
    assert site.to("/deploy") == []


async def test_an_answer_that_is_not_json_is_told_to_the_caller(
    server: Server, clients: Clients, site: WebSite
) -> None:
    _owner, mod, member, room_id = await team(server)
    await register(server, mod, room_id, site.page("/deploy", Reply(200, b"<html>")))
    assert await _failure_told(clients, member, room_id) == "/deploy failed: the answer is not JSON"


async def test_a_plain_member_may_not_register_list_or_delete_commands(server: Server) -> None:
    _owner, mod, member, room_id = await team(server)
    made = await register(server, mod, room_id, "https://example.com/x")
    base = f"/room/{room_id}/commands"
    refused = await call(server, member, "POST", base, {"Command": "/x", "URL": "https://a.b/"})
    assert refused.status_code == 403, refused.text
    assert "moderator or owner" in refused.json()["error"]
    deleted = await call(server, member, "DELETE", f"{base}/{made['CommandID']}")
    assert deleted.status_code == 403
    # Members see the names and descriptions the composer offers, nothing more.
    listed = await ok(server, member, "GET", base)
    assert listed == [
        {"CommandID": made["CommandID"], "Command": "/deploy", "Description": "ship a build"}
    ]


async def test_moderators_list_commands_without_secrets_and_delete_them(server: Server) -> None:
    _owner, mod, _member, room_id = await team(server)
    made = await register(server, mod, room_id, "https://example.com/x")
    listed = await ok(server, mod, "GET", f"/room/{room_id}/commands")
    assert (listed[0]["URL"], listed[0]["BotName"], listed[0]["CreatedBy"]["Username"]) == (
        "https://example.com/x",
        "deploy-cmd",
        "mo",
    )
    assert made["Secret"] not in json.dumps(listed)
    gone = await call(server, mod, "DELETE", f"/room/{room_id}/commands/{made['CommandID']}")
    assert gone.status_code == 204
    assert await ok(server, mod, "GET", f"/room/{room_id}/commands") == []
    again = await call(server, mod, "DELETE", f"/room/{room_id}/commands/{made['CommandID']}")
    assert again.status_code == 404


async def test_the_audit_log_records_a_registration_and_a_deletion(server: Server) -> None:
    _owner, mod, _member, room_id = await team(server)
    made = await register(server, mod, room_id, "https://example.com/x")
    await call(server, mod, "DELETE", f"/room/{room_id}/commands/{made['CommandID']}")
    entries = await ok(server, mod, "GET", f"/room/{room_id}/audit")
    actions = [entry["Action"] for entry in entries]
    assert actions[:2] == ["command-delete", "command-create"]
    assert made["Secret"] not in json.dumps(entries)


async def test_names_words_and_urls_are_checked(server: Server) -> None:
    _owner, mod, _member, room_id = await team(server)
    base = f"/room/{room_id}/commands"
    for body in (
        {"Command": "deploy", "URL": "https://a.b/"},
        {"Command": "/Deploy", "URL": "https://a.b/"},
        {"Command": "/" + "x" * 33, "URL": "https://a.b/"},
        {"Command": "/help", "URL": "https://a.b/"},
        {"Command": "/x", "URL": "ftp://a.b/"},
        {"Command": "/x", "URL": "https://user:pw@a.b/"},
        {"Command": "/x", "URL": "https://a.b/" + "x" * 2000},
        {"Command": "/x", "URL": "https://a.b/", "Description": "x" * 201},
    ):
        refused = await call(server, mod, "POST", base, body)
        assert refused.status_code == 400, (body, refused.text)


async def test_a_command_name_is_unique_in_a_room(server: Server) -> None:
    _owner, mod, _member, room_id = await team(server)
    await register(server, mod, room_id, "https://a.b/")
    taken = await call(
        server,
        mod,
        "POST",
        f"/room/{room_id}/commands",
        {"Command": "/deploy", "URL": "https://a.b/"},
    )
    assert taken.status_code == 409
    assert "has a command /deploy" in taken.json()["error"]


async def test_the_lobby_takes_no_commands(server: Server) -> None:
    op = await operator(server)
    refused = await call(
        server, op, "POST", "/room/1/commands", {"Command": "/x", "URL": "https://a.b/"}
    )
    assert refused.status_code == 409, refused.text


async def test_a_resend_of_a_commands_client_msg_id_does_not_run_it_again(
    server: Server, clients: Clients, site: WebSite
) -> None:
    _owner, mod, member, room_id = await team(server)
    await register(server, mod, room_id, site.page("/deploy", answer("")))
    sender = await entered(clients, member, room_id)
    for text, client_msg_id in (("a", "once"), ("a", "once"), ("b", "next")):
        await sender.send(
            {"Type": "message", "Text": f"/deploy {text}", "ClientMsgID": client_msg_id}
        )
        assert (await sender.receive())["ClientMsgID"] == client_msg_id
    # The resend was acknowledged before the next command was sent: had it run, its
    # request would be among the first two.
    arrived = await site.wait_for("/deploy", 2)
    assert sorted(json.loads(r.body)["Text"] for r in arrived) == ["a", "b"]


async def test_deleting_a_commands_bot_deletes_the_command(server: Server) -> None:
    _owner, mod, _member, room_id = await team(server)
    await register(server, mod, room_id, "https://example.com/x")
    (listed,) = await ok(server, mod, "GET", f"/room/{room_id}/commands")
    deleted = await call(server, mod, "DELETE", f"/bots/{listed['BotUID']}")
    assert deleted.status_code == 204, deleted.text
    assert await ok(server, mod, "GET", f"/room/{room_id}/commands") == []


async def test_a_muted_member_sends_no_command_and_may_send_it_again_once_unmuted(
    server: Server, clients: Clients, site: WebSite
) -> None:
    _owner, mod, member, room_id = await team(server)
    await register(server, mod, room_id, site.page("/deploy", answer("")))
    await ok(server, mod, "PUT", f"/room/{room_id}/mutes/{member.uid}", {"Seconds": 600})
    sender = await entered(clients, member, room_id)
    frame = {"Type": "message", "Text": "/deploy", "ClientMsgID": "m1"}
    await sender.send(frame)
    refused = await next_of(sender, "error")
    assert (refused["ClientMsgID"], refused["Error"].startswith("you are muted")) == ("m1", True)
    await ok(server, mod, "DELETE", f"/room/{room_id}/mutes/{member.uid}")
    await sender.send(frame)
    assert (await next_of(sender, "command"))["ClientMsgID"] == "m1"
    await site.wait_for("/deploy")
