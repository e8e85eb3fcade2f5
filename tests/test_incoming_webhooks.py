"""Incoming webhooks (``/room/{roomID}/webhooks``, ``POST /hooks/{id}/{secret}``): made,
listed, rotated and deleted by a room's moderators, posting Slack's bodies as Markdown
under the webhook's bot, refused alike for a wrong secret and an unknown webhook, rate
limited, bounded, audited, and never logging their secret."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import trio
from support import Account, Server, http_client, room_history, select_rows, start_server
from test_room_moderation import call, ok, team
from test_support import operator

from chat.core import incoming_webhooks
from chat.core.config import Config
from chat.core.logs import ACCESS_HTTP


async def _webhook(server: Server, who: Account, room_id: int, name: str = "CI builds") -> Any:
    made = await call(server, who, "POST", f"/room/{room_id}/webhooks", {"Name": name})
    assert made.status_code == 201, made.text
    return made.json()


async def _post(server: Server, url: str, **kwargs: Any) -> httpx.Response:
    """A POST to a webhook's URL, as a CI system sends it (no credentials but the URL)."""
    async with http_client(server) as client:
        return await client.post(urlsplit(url).path, **kwargs)


async def _newest(server: Server, who: Account, room_id: int) -> dict[str, Any]:
    return (await room_history(server, who, room_id))[0]


async def test_a_moderator_makes_a_webhook_whose_url_posts_as_its_bot(server: Server) -> None:
    owner, mod, _member, room_id = await team(server)
    made = await _webhook(server, mod, room_id)
    assert made["URL"].startswith(f"{server.http}/hooks/{made['WebhookID']}/")
    secret = made["URL"].rsplit("/", 1)[1]
    assert len(secret) >= 43  # 32 random bytes, base64url
    body = {"text": "build *1432* passed", "username": "Jenkins", "icon_url": "https://x.example"}
    posted = await _post(server, made["URL"], json=body)
    assert (posted.status_code, posted.text) == (200, "ok")
    message = await _newest(server, owner, room_id)
    assert (message["Text"], message["Username"], message.get("Bot")) == (
        "build **1432** passed",
        "ci-builds-hook",
        True,
    )
    assert message["DisplayName"] == "CI builds"


async def test_the_database_keeps_only_the_secrets_hash(server: Server) -> None:
    _owner, mod, _member, room_id = await team(server)
    made = await _webhook(server, mod, room_id)
    rows = await select_rows(server.config, "SELECT * FROM incoming_webhooks")
    secret = made["URL"].rsplit("/", 1)[1]
    assert hashlib.sha256(secret.encode()).hexdigest() in rows[0]
    assert secret not in repr(rows)


async def test_the_list_names_each_webhook_and_its_bot_without_a_secret(server: Server) -> None:
    _owner, mod, _member, room_id = await team(server)
    made = await _webhook(server, mod, room_id)
    await _webhook(server, mod, room_id, "CI builds")  # the same name: another bot name
    listed = await ok(server, mod, "GET", f"/room/{room_id}/webhooks")
    first = listed[0]
    assert (first["WebhookID"], first["Name"], first["CreatedBy"]["Username"]) == (
        made["WebhookID"],
        "CI builds",
        "mo",
    )
    assert listed[0]["BotName"] == "ci-builds-hook"
    assert listed[1]["BotName"].startswith("ci-builds-hook-")
    assert made["URL"].rsplit("/", 1)[1] not in json.dumps(listed)


async def test_a_plain_member_may_not_make_list_rotate_or_delete_webhooks(server: Server) -> None:
    _owner, mod, member, room_id = await team(server)
    made = await _webhook(server, mod, room_id)
    base = f"/room/{room_id}/webhooks"
    one = f"{base}/{made['WebhookID']}"
    for method, path, body in (
        ("POST", base, {"Name": "mine"}),
        ("GET", base, None),
        ("POST", f"{one}/rotate", None),
        ("DELETE", one, None),
    ):
        refused = await call(server, member, method, path, body)
        assert refused.status_code == 403, (method, path, refused.text)
        assert "moderator or owner" in refused.json()["error"]


async def test_a_read_only_token_of_a_moderator_cannot_make_a_webhook(server: Server) -> None:
    _owner, mod, _member, room_id = await team(server)
    token = await ok(server, mod, "POST", "/tokens", {"Name": "ro", "Scopes": ["read"]})
    reader = Account(mod.uid, mod.name, "", "", token["Token"])
    refused = await call(server, reader, "POST", f"/room/{room_id}/webhooks", {"Name": "x"})
    assert refused.status_code == 403, refused.text
    assert (await call(server, reader, "GET", f"/room/{room_id}/webhooks")).status_code == 200


async def test_an_operator_manages_a_rooms_webhooks_without_being_a_member(
    server: Server,
) -> None:
    _owner, _mod, _member, room_id = await team(server)
    op = await operator(server)
    made = await _webhook(server, op, room_id)
    assert (await _post(server, made["URL"], json={"text": "hi"})).status_code == 200
    listed = await ok(server, op, "GET", f"/room/{room_id}/webhooks")
    assert [w["WebhookID"] for w in listed] == [made["WebhookID"]]


async def test_the_lobby_takes_no_webhooks(server: Server) -> None:
    op = await operator(server)
    refused = await call(server, op, "POST", "/room/1/webhooks", {"Name": "x"})
    assert refused.status_code == 409, refused.text


async def test_a_wrong_secret_and_an_unknown_webhook_get_the_same_404(server: Server) -> None:
    _owner, mod, _member, room_id = await team(server)
    made = await _webhook(server, mod, room_id)
    wrong = made["URL"][:-4] + "AAAA"
    unknown = f"/hooks/{'0' * 16}/{made['URL'].rsplit('/', 1)[1]}"
    malformed = "/hooks/x/y"
    answers = [await _post(server, url, json={"text": "x"}) for url in (wrong, unknown, malformed)]
    assert {(a.status_code, a.text) for a in answers} == {(answers[0].status_code, answers[0].text)}
    assert (answers[0].status_code, answers[0].json()) == (404, {"error": "no such webhook"})


async def test_rotating_gives_a_new_url_and_the_old_one_stops_at_once(server: Server) -> None:
    _owner, mod, _member, room_id = await team(server)
    made = await _webhook(server, mod, room_id)
    rotated = await ok(server, mod, "POST", f"/room/{room_id}/webhooks/{made['WebhookID']}/rotate")
    assert rotated["WebhookID"] == made["WebhookID"] and rotated["URL"] != made["URL"]
    assert (await _post(server, made["URL"], json={"text": "old"})).status_code == 404
    assert (await _post(server, rotated["URL"], json={"text": "new"})).status_code == 200


async def test_deleting_a_webhook_deletes_its_bot_and_keeps_its_messages(server: Server) -> None:
    owner, mod, _member, room_id = await team(server)
    made = await _webhook(server, mod, room_id)
    await _post(server, made["URL"], json={"text": "kept"})
    deleted = await call(server, mod, "DELETE", f"/room/{room_id}/webhooks/{made['WebhookID']}")
    assert deleted.status_code == 204, deleted.text
    assert (await _post(server, made["URL"], json={"text": "gone"})).status_code == 404
    assert await ok(server, mod, "GET", f"/room/{room_id}/webhooks") == []
    assert await ok(server, mod, "GET", "/bots") == []
    message = await _newest(server, owner, room_id)
    assert (message["Text"], message["Username"]) == ("kept", "ci-builds-hook")


async def test_a_webhook_whose_bot_was_removed_from_the_room_is_refused(server: Server) -> None:
    owner, mod, _member, room_id = await team(server)
    made = await _webhook(server, mod, room_id)
    (bot,) = await ok(server, mod, "GET", "/bots")
    removed = await call(server, owner, "DELETE", f"/room/{room_id}/members/{bot['UID']}")
    assert removed.status_code == 200, removed.text
    refused = await _post(server, made["URL"], json={"text": "x"})
    assert refused.status_code == 403, refused.text


async def test_deleting_the_bot_deletes_its_webhook(server: Server) -> None:
    _owner, mod, _member, room_id = await team(server)
    made = await _webhook(server, mod, room_id)
    (bot,) = await ok(server, mod, "GET", "/bots")
    assert (await call(server, mod, "DELETE", f"/bots/{bot['UID']}")).status_code == 204
    assert await ok(server, mod, "GET", f"/room/{room_id}/webhooks") == []
    assert (await _post(server, made["URL"], json={"text": "x"})).status_code == 404


SLACK_BODIES = {
    "text": (
        {"text": "*Deploy* of <https://ci.example/7|build 7> &amp; <https://x.example> ~old~"},
        "**Deploy** of [build 7](https://ci.example/7) & <https://x.example> ~~old~~",
    ),
    "attachments": (
        {
            "text": "Alert",
            "attachments": [
                {
                    "fallback": "CPU high",
                    "color": "danger",
                    "title": "CPU",
                    "title_link": "https://grafana.example/d/1",
                    "text": "_95%_ on web-1",
                    "fields": [{"title": "Host", "value": "web-1", "short": True}],
                },
                {"fallback": "only the fallback"},
            ],
        },
        "Alert\n**[CPU](https://grafana.example/d/1)**\n_95%_ on web-1\n**Host**: web-1\n"
        "only the fallback",
    ),
    "blocks": (
        {
            "text": "not shown: the blocks' fallback",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "Release"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "*v2* is out <!here>"}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": "by <@U42|ann>"}]},
            ],
        },
        "**Release**\n**v2** is out `@here`\nby `@ann`",
    ),
    "plain": ({"Text": "**as is** <b>"}, "**as is** <b>"),
}


@pytest.mark.parametrize("variant", list(SLACK_BODIES))
async def test_a_slack_body_becomes_one_message_in_markdown(server: Server, variant: str) -> None:
    owner, mod, _member, room_id = await team(server)
    made = await _webhook(server, mod, room_id)
    body, markdown = SLACK_BODIES[variant]
    posted = await _post(server, made["URL"], json=body)
    assert posted.status_code == 200, posted.text
    message = await _newest(server, owner, room_id)
    assert (message["Text"], message["Mentions"], message.get("MentionsRoom")) == (
        markdown,
        [],
        None,
    )


async def test_a_form_with_a_payload_field_posts_as_its_json_would(server: Server) -> None:
    owner, mod, _member, room_id = await team(server)
    made = await _webhook(server, mod, room_id)
    payload = json.dumps({"text": "from a *form*"})
    posted = await _post(server, made["URL"], data={"payload": payload})
    assert posted.status_code == 200, posted.text
    assert (await _newest(server, owner, room_id))["Text"] == "from a **form**"


async def test_a_body_with_nothing_to_post_is_refused(server: Server) -> None:
    _owner, mod, _member, room_id = await team(server)
    made = await _webhook(server, mod, room_id)
    refused = await _post(server, made["URL"], json={"username": "ci", "attachments": []})
    assert refused.status_code == 400
    assert refused.json()["error"].startswith("nothing to post")


async def test_a_text_longer_than_a_message_may_be_is_refused_not_cut(server: Server) -> None:
    _owner, mod, _member, room_id = await team(server)
    made = await _webhook(server, mod, room_id)
    refused = await _post(server, made["URL"], json={"text": "x" * 20_000})
    assert refused.status_code == 400, refused.text
    assert "too long" in refused.json()["error"]


async def test_a_body_over_64_kib_is_refused_with_413(
    nursery: trio.Nursery, config: Config
) -> None:
    # A server that takes larger bodies elsewhere still holds webhooks to theirs.
    server = await start_server(nursery, config.replace(max_body_bytes=1024 * 1024))
    _owner, mod, _member, room_id = await team(server)
    made = await _webhook(server, mod, room_id)
    too_large = json.dumps({"text": "x" * incoming_webhooks.MAX_BODY_BYTES})
    refused = await _post(server, made["URL"], content=too_large)
    assert refused.status_code == 413


async def test_posts_past_the_webhooks_rate_get_429_with_retry_after(
    nursery: trio.Nursery, config: Config
) -> None:
    limited = config.replace(rate_limits=True, rate_incoming_webhooks="2/minute")
    server = await start_server(nursery, limited)
    _owner, mod, _member, room_id = await team(server)
    made = await _webhook(server, mod, room_id)
    answers = [await _post(server, made["URL"], json={"text": f"{n}"}) for n in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert int(answers[2].headers["Retry-After"]) > 0
    other = await _webhook(server, mod, room_id, "other")
    assert (await _post(server, other["URL"], json={"text": "x"})).status_code == 200


async def test_the_audit_log_records_each_change_without_the_secret(server: Server) -> None:
    owner, mod, _member, room_id = await team(server)
    made = await _webhook(server, mod, room_id)
    hook = made["WebhookID"]
    rotated = await ok(server, mod, "POST", f"/room/{room_id}/webhooks/{hook}/rotate")
    await call(server, mod, "DELETE", f"/room/{room_id}/webhooks/{hook}")
    entries = await ok(server, owner, "GET", f"/room/{room_id}/audit")
    assert [(e["Action"], e["By"]["Username"], e["Target"]["Username"]) for e in entries[:3]] == [
        ("webhook-delete", "mo", "ci-builds-hook"),
        ("webhook-rotate", "mo", "ci-builds-hook"),
        ("webhook-create", "mo", "ci-builds-hook"),
    ]
    assert entries[0]["Details"] == {"WebhookID": hook, "Name": "CI builds"}
    for url in (made["URL"], rotated["URL"]):
        assert url.rsplit("/", 1)[1] not in json.dumps(entries)


async def test_a_room_holds_at_most_its_number_of_webhooks(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(max_bots_per_user=100))
    _owner, mod, _member, room_id = await team(server)
    for n in range(incoming_webhooks.MAX_PER_ROOM):
        await _webhook(server, mod, room_id, f"hook {n}")
    refused = await call(server, mod, "POST", f"/room/{room_id}/webhooks", {"Name": "one more"})
    assert refused.status_code == 409
    assert "delete one first" in refused.json()["error"]
    assert len(await ok(server, mod, "GET", "/bots")) == incoming_webhooks.MAX_PER_ROOM


async def test_the_secret_reaches_no_log_line(
    nursery: trio.Nursery, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = await start_server(nursery, config)
    _owner, mod, _member, room_id = await team(server)
    made = await _webhook(server, mod, room_id)
    hook, secret = made["WebhookID"], made["URL"].rsplit("/", 1)[1]
    await _post(server, made["URL"], json={"text": "ok"})
    await _post(server, made["URL"], json={"text": 5})  # 400
    await _post(server, made["URL"], content=b"{" * 70_000)  # 413
    await _post(server, made["URL"][:-2] + "xx", json={"text": "wrong"})  # 404
    async with http_client(server) as client:
        # The same path, spelled otherwise: percent-encoded, with doubled slashes.
        await client.post(f"/hooks/{hook}/%{ord(secret[0]):02X}{secret[1:]}", json={"text": "x"})
        await client.post(f"{server.http}//hooks//{hook}/{secret}", json={"text": "x"})
    rotated = await ok(server, mod, "POST", f"/room/{room_id}/webhooks/{hook}/rotate")
    await call(server, mod, "DELETE", f"/room/{room_id}/webhooks/{hook}")
    secrets = (secret, rotated["URL"].rsplit("/", 1)[1])

    def access_paths() -> list[str]:
        return [r.__dict__["path"] for r in caplog.records if r.name == ACCESS_HTTP]

    # A line is written once its answer is sent: the client may read the answer first.
    with trio.fail_after(5):
        while sum("/hooks/" in p for p in access_paths()) < 6:  # noqa: ASYNC110
            await trio.sleep(0.01)
    hook_paths = {p for p in access_paths() if "webhooks" not in p and hook in p}
    assert hook_paths == {f"/hooks/{hook}/[redacted]"}, hook_paths
    # The server's own lines: the test's client (httpx) logs the URLs it was given.
    for record in (r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))):
        line = f"{record.getMessage()} {record.__dict__!r}"
        for one in secrets:
            assert one not in line, record


@pytest.mark.unit
@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("/hooks/0123456789abcdef/s3cret", "/hooks/0123456789abcdef/[redacted]"),
        ("//HOOKS/abc/s3cret/more", "/hooks/abc/[redacted]"),
        ("/hooks/", "/hooks//[redacted]"),
        ("/hooksx/a/b", None),
        ("/room/1/webhooks", None),
    ],
)
def test_a_webhook_path_is_redacted_however_it_is_spelled(path: str, shown: str | None) -> None:
    assert incoming_webhooks.redacted_path(path) == shown


@pytest.mark.unit
@pytest.mark.parametrize(
    ("name", "bot"),
    [
        ("CI builds", "ci-builds-hook"),
        ("Déploiement: prod!", "deploiement-prod-hook"),
        ("日本", "webhook-hook"),
        ("a" * 80, "a" * 24 + "-hook"),
    ],
)
def test_a_webhooks_bot_is_named_after_it_in_plain_letters(name: str, bot: str) -> None:
    assert incoming_webhooks.bot_name(name, 0) == bot
    assert incoming_webhooks.bot_name(name, 1).startswith(f"{bot}-")
