"""Web Push (RFC 8030, 8291, 8292): ``GET /push/key``, ``POST`` and ``DELETE
/push/subscriptions``, and the pushes themselves, sent to a real push service of the
test's own on loopback (tests/push_service.py), which checks each push's VAPID signature
and decrypts it with the browser's keys. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trio
from files_support import upload
from push_service import Browser, PushService, b64url, b64url_decode, open_push_service
from support import (
    Account,
    Clients,
    Server,
    StoppableServer,
    account,
    create_room,
    http_client,
    select_rows,
    start_server,
)

from chat.app.people.notification_levels import wants_push
from chat.core.config import Config, ConfigError, load
from chat.core.errors import InvalidInput
from chat.core.push_hosts import PushHosts, UnusableEndpoint
from chat.core.records import Message
from chat.core.vapid_key import load_private_key
from chat.push.vapid import generate_private_key
from chat.store import open_store

#: What the server waits between attempts at a push answered 429 or 5xx (chat/app/people/pusher.py).
RETRIES_S = 1.0 + 2.0 + 4.0


@pytest.fixture
async def push() -> AsyncIterator[PushService]:
    async with open_push_service() as service:
        yield service


@pytest.fixture
def push_config(config: Config, push: PushService) -> Config:
    """The test's configuration, pushing to the test's push service only."""
    return config.replace(push_hosts=(push.host_entry,))


@pytest.fixture
async def server(nursery: trio.Nursery, push_config: Config, push: PushService) -> Server:
    server = await start_server(nursery, push_config)
    push.expect_key = await _key(server)
    return server


async def _key(server: Server) -> str:
    async with http_client(server) as client:
        response = await client.get("/push/key")
    assert response.status_code == 200, response.text
    return str(response.json()["publicKey"])


async def _subscribe(server: Server, user: Account, body: dict[str, Any]) -> Any:
    async with http_client(server) as client:
        return await client.post("/push/subscriptions", headers=user.auth, json=body)


async def _subscribed(server: Server, user: Account, browser: Browser) -> None:
    response = await _subscribe(server, user, browser.subscription)
    assert response.status_code == 201, response.text
    assert response.json() == {"endpoint": browser.endpoint}


async def _alice_subscribed(server: Server, push: PushService) -> tuple[Account, Account, Browser]:
    """alice, with a browser subscribed, and bob, who writes to her."""
    alice, bob = await account(server, "alice"), await account(server, "bob")
    browser = push.browser()
    await _subscribed(server, alice, browser)
    return alice, bob, browser


@dataclass
class Witness:
    """A user away with a browser subscribed, whom a message is sent to so that every
    message sent before has been considered: the pusher takes messages one at a time, in
    order, and decides who is pushed one before it looks at the next."""

    server: Server
    push: PushService
    sender: Account
    room_id: int
    browser: Browser

    async def flush(self) -> None:
        before = len(self.push.to(self.browser))
        await _post(self.server, self.sender, self.room_id, "flush")
        with trio.fail_after(10):
            while len(self.push.to(self.browser)) == before:  # noqa: ASYNC110
                await trio.sleep(0.02)


async def _witness(server: Server, push: PushService, sender: Account) -> Witness:
    witness = await account(server, "witness")
    browser = push.browser()
    await _subscribed(server, witness, browser)
    room_id = await _direct_room(server, sender, witness)
    return Witness(server, push, sender, room_id, browser)


async def _direct_room(server: Server, user: Account, other: Account) -> int:
    async with http_client(server) as client:
        response = await client.get(f"/dm/{other.uid}", headers=user.auth)
    assert response.status_code == 200, response.text
    return int(response.json()["RoomID"])


async def _post(server: Server, user: Account, room_id: int, text: str) -> int:
    async with http_client(server) as client:
        response = await client.post(f"/messages/{room_id}", headers=user.auth, json={"Text": text})
    assert response.status_code == 201, response.text
    return int(response.json()["MessageID"])


async def _metric(server: Server, name: str) -> float:
    async with http_client(server) as client:
        text = (await client.get("/metrics")).text
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match is not None, f"{name} is not in /metrics"
    return float(match.group(1))


async def _settled(push: PushService, *, pushes: int) -> None:
    """Wait for `pushes` pushes, then a moment more: any push that should not have been
    sent (an earlier message's, taken before) would have arrived by then."""
    await push.wait_for(pushes)
    await trio.sleep(0.5)
    assert push.problems == []


async def _subscriptions(config: Config) -> list[tuple[Any, ...]]:
    return await select_rows(config, "SELECT user_id, endpoint FROM push_subscriptions ORDER BY id")


# --- the key ---


async def test_the_key_is_a_p256_public_key_kept_in_the_database_across_restarts(
    nursery: trio.Nursery, push_config: Config
) -> None:
    stoppable = StoppableServer(nursery, push_config)
    first = await _key(await stoppable.start())
    point = b64url_decode(first)
    assert len(point) == 65 and point[0] == 4
    await stoppable.stop()
    assert await _key(await stoppable.start()) == first


async def test_a_configured_private_key_is_the_one_served_and_signed_with(
    nursery: trio.Nursery, push_config: Config, push: PushService
) -> None:
    private = generate_private_key()
    server = await start_server(nursery, push_config.replace(vapid_private_key=private))
    key = await _key(server)
    vapid = load_private_key(private)
    from cryptography.hazmat.primitives import serialization

    expected = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert key == b64url(expected)
    push.expect_key = key
    alice, bob = await account(server, "alice"), await account(server, "bob")
    await _subscribed(server, alice, push.browser())
    await _post(server, bob, await _direct_room(server, bob, alice), "signed")
    (pushed,) = await push.wait_for(1)
    assert push.problems == []
    assert pushed.payload["Text"] == "signed"


# --- what is pushed, and to whom ---


async def test_a_user_away_is_pushed_a_direct_message_encrypted_and_signed(
    server: Server, push: PushService
) -> None:
    alice, bob, browser = await _alice_subscribed(server, push)
    room_id = await _direct_room(server, bob, alice)
    text = "x" * 95 + "ünïcödé and more"
    message_id = await _post(server, bob, room_id, text)
    (pushed,) = await push.wait_for(1)
    assert push.problems == []
    assert pushed.token == browser.token
    assert {k: v for k, v in pushed.payload.items() if k != "ts"} == {
        "MessageID": message_id,
        "RoomID": room_id,
        "RoomName": None,
        "RoomKind": "direct",
        "Sender": "bob",
        "SenderID": bob.uid,
        "Text": text[:100],
        "Mention": False,
    }
    assert pushed.headers["urgency"] == "high"
    assert int(pushed.headers["ttl"]) > 0
    assert pushed.claims["aud"] == push.origin
    assert str(pushed.claims["sub"]).startswith(("mailto:", "https://"))
    assert await _metric(server, "chat_pushes_sent_total") == 1


async def test_a_message_of_files_alone_is_pushed_with_their_names(
    server: Server, push: PushService
) -> None:
    alice, bob, _ = await _alice_subscribed(server, push)
    room_id = await _direct_room(server, bob, alice)
    files = [await upload(server, bob, b"x", f"report {n}.pdf") for n in range(4)]
    async with http_client(server) as client:
        response = await client.post(
            f"/messages/{room_id}",
            headers=bob.auth,
            json={"Text": "", "Files": [file["FileID"] for file in files]},
        )
    assert response.status_code == 201, response.text
    (pushed,) = await push.wait_for(1)
    assert pushed.payload["Text"] == ""
    assert pushed.payload["Files"] == ["report 0.pdf", "report 1.pdf", "report 2.pdf"]


async def test_a_user_online_is_not_pushed_and_is_again_once_gone(
    server: Server, push: PushService, clients: Clients
) -> None:
    alice, bob, browser = await _alice_subscribed(server, push)
    room_id = await _direct_room(server, bob, alice)
    witness = await _witness(server, push, bob)
    online = await clients.json("/ws", token=alice.token)
    await online.request({"Type": "enter", "RoomID": room_id, "Presence": False})
    await _post(server, bob, room_id, "while you are here")
    await witness.flush()
    await clients.aclose()
    with trio.fail_after(5):
        while True:  # the server sees the connection go
            async with http_client(server) as client:
                found = (await client.get("/users?prefix=alice", headers=bob.auth)).json()
            if not found[0]["Online"]:
                break
            await trio.sleep(0.05)
    await _post(server, bob, room_id, "while you are away")
    await _settled(push, pushes=2)
    assert [p["Text"] for p in push.to(browser)] == ["while you are away"]


async def test_group_rooms_push_by_level_all_and_none_and_by_default_only_mentions(
    server: Server, push: PushService
) -> None:
    alice, bob, browser = await _alice_subscribed(server, push)
    witness = await _witness(server, push, bob)
    room_id = await create_room(server, bob, "team", alice)
    await _post(server, bob, room_id, "default level: mentions, and this mentions nobody")
    async with http_client(server) as client:
        for level in ("all", "none"):
            # Each message is considered before the level changes again.
            await witness.flush()
            answer = await client.put(
                f"/room/{room_id}/notifications", headers=alice.auth, json={"Level": level}
            )
            assert answer.status_code == 200, answer.text
            await _post(server, bob, room_id, f"at level {level}")
    await witness.flush()
    await _settled(push, pushes=4)
    (pushed,) = [p for p in push.pushes if p.token == browser.token]
    assert pushed.payload["Text"] == "at level all"
    assert pushed.payload["RoomName"] == "team"
    assert pushed.headers["urgency"] == "normal"


async def test_a_thread_reply_is_pushed_at_level_all_to_its_threads_followers_only(
    server: Server, push: PushService
) -> None:
    alice, bob, alices = await _alice_subscribed(server, push)
    carol, carols = await account(server, "carol"), push.browser()
    await _subscribed(server, carol, carols)
    room_id = await create_room(server, bob, "team", alice, carol)
    async with http_client(server) as client:
        for who in (alice, carol):
            answer = await client.put(
                f"/room/{room_id}/notifications", headers=who.auth, json={"Level": "all"}
            )
            assert answer.status_code == 200, answer.text

        async def post(who: Account, text: str, **fields: Any) -> int:
            answer = await client.post(
                f"/messages/{room_id}", headers=who.auth, json={"Text": text, **fields}
            )
            assert answer.status_code == 201, answer.text
            return int(answer.json()["MessageID"])

        root = await post(alice, "root")  # Carol's, at "all"
        await post(bob, "first reply", ThreadID=root)  # Alice's: she started the thread
        await _settled(push, pushes=2)
        followed = await client.put(f"/threads/{root}/follow", headers=carol.auth)
        assert followed.status_code == 200, followed.text
        await post(bob, "second reply", ThreadID=root)  # both follow it now
    await _settled(push, pushes=4)
    assert [p["Text"] for p in push.to(alices)] == ["first reply", "second reply"]
    assert [p["Text"] for p in push.to(carols)] == ["root", "second reply"]


async def test_nobody_is_pushed_their_own_message(server: Server, push: PushService) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    alices, bobs = push.browser(), push.browser()
    await _subscribed(server, alice, alices)
    await _subscribed(server, bob, bobs)
    room_id = await _direct_room(server, bob, alice)
    await _post(server, bob, room_id, "from bob")
    await _post(server, alice, room_id, "from alice")
    await _settled(push, pushes=2)
    assert [p["Text"] for p in push.to(alices)] == ["from bob"]
    assert [p["Text"] for p in push.to(bobs)] == ["from alice"]


async def test_the_lobby_pushes_everyone_whose_level_is_all(
    server: Server, push: PushService
) -> None:
    alice, bob, browser = await _alice_subscribed(server, push)
    async with http_client(server) as client:
        lobby = min(
            room["RoomID"]
            for room in (await client.get("/rooms/details", headers=alice.auth)).json()
        )
        answer = await client.put(
            f"/room/{lobby}/notifications", headers=alice.auth, json={"Level": "all"}
        )
        assert answer.status_code == 200, answer.text
    await _post(server, bob, lobby, "hello, lobby")
    await _settled(push, pushes=1)
    assert push.to(browser)[0]["RoomKind"] == "lobby"


def _message(
    *, mentions: tuple[int, ...] = (), mentions_room: bool = False, **changes: Any
) -> Message:
    fields: dict[str, Any] = {
        "id": 7,
        "room_id": 3,
        "sender_id": 1,
        "sender_name": "bob",
        "body": "hi",
        "created_at": datetime.now(UTC),
        "mentions": mentions,
        "mentions_room": mentions_room,
    }
    return Message(**{**fields, **changes})


def test_the_mentions_level_pushes_only_messages_that_mention_the_user() -> None:
    assert wants_push("mentions", _message(mentions=(2,)), 2)
    assert not wants_push("mentions", _message(mentions=(3,)), 2)
    assert not wants_push("mentions", _message(), 2)
    assert wants_push("mentions", _message(mentions_room=True), 2)


def test_all_pushes_every_message_none_nothing_and_never_the_senders_or_a_deleted_one() -> None:
    assert wants_push("all", _message(), 2)
    assert not wants_push("none", _message(mentions=(2,)), 2)
    assert not wants_push("all", _message(), 1)
    assert not wants_push("mentions", _message(mentions=(1,), mentions_room=True), 1)
    assert not wants_push("all", _message(deleted=True, body=""), 2)


def test_a_thread_reply_not_sent_to_the_room_is_pushed_only_to_those_it_mentions() -> None:
    reply = {"thread_id": 5}
    assert not wants_push("all", _message(**reply), 2)
    assert wants_push("all", _message(mentions=(2,), **reply), 2)
    assert wants_push("mentions", _message(mentions_room=True, **reply), 2)
    assert wants_push("all", _message(also_to_room=True, **reply), 2)


# --- the store ---


async def test_a_message_is_claimed_once_until_its_claim_is_pruned(config: Config) -> None:
    async with open_store(config) as store:
        assert await store.claim_pushes([5, 6]) == {5, 6}
        assert await store.claim_pushes([4, 5, 6, 7]) == {4, 7}
        assert await store.claim_pushes([]) == set()
        await store.prune_push_claims(datetime.now(UTC) - timedelta(hours=1))
        assert await store.claim_pushes([5]) == set()  # younger than that: kept
        await store.prune_push_claims(datetime.now(UTC) + timedelta(seconds=1))
        assert await store.claim_pushes([5]) == {5}


async def test_the_first_vapid_key_stored_is_the_one_every_later_caller_gets(
    config: Config,
) -> None:
    first, second = generate_private_key(), generate_private_key()
    async with open_store(config) as store:
        assert await store.vapid_private_key(first) == first
        assert await store.vapid_private_key(second) == first


# --- subscriptions ---


async def test_a_subscription_answered_410_or_404_is_removed(
    server: Server, push: PushService
) -> None:
    alice, carol, bob = [await account(server, n) for n in ("alice", "carol", "bob")]
    gone, unknown = push.browser(), push.browser()
    push.answer(gone, 410)
    push.answer(unknown, 404)
    await _subscribed(server, alice, gone)
    await _subscribed(server, carol, unknown)
    await _post(server, bob, await _direct_room(server, bob, alice), "to alice")
    await _post(server, bob, await _direct_room(server, bob, carol), "to carol")
    await push.wait_for_answers(2)
    with trio.fail_after(5):
        while await _subscriptions(server.config):  # noqa: ASYNC110 (a table to poll)
            await trio.sleep(0.05)
    assert await _metric(server, "chat_push_subscriptions_removed_total") == 2
    assert push.problems == []


async def test_a_push_answered_429_or_5xx_is_retried(server: Server, push: PushService) -> None:
    alice, bob, browser = await _alice_subscribed(server, push)
    push.answer(browser, 503, 429, 201)
    await _post(server, bob, await _direct_room(server, bob, alice), "third time lucky")
    (pushed,) = await push.wait_for(1)
    assert [status for _, status in push.answered] == [503, 429, 201]
    assert pushed.payload["Text"] == "third time lucky"
    assert await _subscriptions(server.config) == [(alice.uid, browser.endpoint)]


async def test_a_push_still_refused_after_the_retries_is_dropped_and_counted(
    server: Server, push: PushService
) -> None:
    alice, bob, browser = await _alice_subscribed(server, push)
    push.answer(browser, 500)
    await _post(server, bob, await _direct_room(server, bob, alice), "nobody home")
    await push.wait_for_answers(4, within=RETRIES_S + 10)
    with trio.fail_after(5):
        while await _metric(server, "chat_pushes_dropped_total") != 1:  # noqa: ASYNC110
            await trio.sleep(0.05)
    await trio.sleep(1.5)
    assert len(push.answered) == 4  # one attempt and three retries, no more
    assert await _subscriptions(server.config) == [(alice.uid, browser.endpoint)]


async def test_unsubscribing_stops_the_pushes(server: Server, push: PushService) -> None:
    alice, bob, carol = [await account(server, n) for n in ("alice", "bob", "carol")]
    alices, carols = push.browser(), push.browser()
    await _subscribed(server, alice, alices)
    await _subscribed(server, carol, carols)
    async with http_client(server) as client:
        body = {"endpoint": alices.endpoint}
        removed = await client.request(
            "DELETE", "/push/subscriptions", headers=alice.auth, json=body
        )
        assert removed.status_code == 204, removed.text
        again = await client.request("DELETE", "/push/subscriptions", headers=alice.auth, json=body)
        assert again.status_code == 404, again.text
    await _post(server, bob, await _direct_room(server, bob, alice), "to alice")
    await _post(server, bob, await _direct_room(server, bob, carol), "to carol")
    await _settled(push, pushes=1)
    assert push.to(alices) == []


async def test_someone_elses_subscription_cannot_be_removed(
    server: Server, push: PushService
) -> None:
    alice, mallory = await account(server, "alice"), await account(server, "mallory")
    browser = push.browser()
    await _subscribed(server, alice, browser)
    async with http_client(server) as client:
        answer = await client.request(
            "DELETE",
            "/push/subscriptions",
            headers=mallory.auth,
            json={"endpoint": browser.endpoint},
        )
    assert answer.status_code == 404, answer.text
    assert await _subscriptions(server.config) == [(alice.uid, browser.endpoint)]


async def test_a_browser_registered_again_by_another_user_moves_to_them(
    server: Server, push: PushService
) -> None:
    _, bob, browser = await _alice_subscribed(server, push)
    await _subscribed(server, bob, browser)
    assert await _subscriptions(server.config) == [(bob.uid, browser.endpoint)]


async def test_past_ten_browsers_a_users_oldest_is_replaced(
    server: Server, push: PushService
) -> None:
    alice = await account(server, "alice")
    browsers = [push.browser() for _ in range(11)]
    for browser in browsers:
        await _subscribed(server, alice, browser)
    rows = await _subscriptions(server.config)
    assert sorted(endpoint for _, endpoint in rows) == sorted(b.endpoint for b in browsers[1:])


async def test_the_allow_list_refuses_other_hosts(server: Server, push: PushService) -> None:
    alice = await account(server, "alice")
    keys = push.browser().subscription["keys"]
    refused = [
        "https://push.example.com/send/1",
        f"http://127.0.0.1:{push.port + 1}/push/1",  # loopback, but not named
        "http://fcm.googleapis.com/fcm/send/1",  # http, not loopback
        f"http://user@127.0.0.1:{push.port}/push/1",
        "ftp://127.0.0.1/push/1",
        "not a url",
        "https://" + "a" * 3000 + ".example/",
    ]
    for endpoint in refused:
        answer = await _subscribe(server, alice, {"endpoint": endpoint, "keys": keys})
        assert answer.status_code == 400, (endpoint, answer.text)
        assert "endpoint" in answer.json()["error"], answer.text
    named = await _subscribe(
        server, alice, {"endpoint": "https://push.example.com/1", "keys": keys}
    )
    assert "CHAT_PUSH_HOSTS" in named.json()["error"]
    assert await _subscriptions(server.config) == []
    assert push.answered == []


#: A push service host that is no valid IDNA name, on a domain the allow-list names:
#: `urlsplit` takes it, httpx cannot send to it.
SNOWMAN_ENDPOINT = "https://\u2603.notify.windows.com/x"


@pytest.fixture
def windows_too(push_config: Config) -> Config:
    """The test's push service, and Windows' push service domain."""
    return push_config.replace(push_hosts=(*push_config.push_hosts, ".notify.windows.com"))


async def test_an_endpoint_the_client_cannot_send_to_is_refused_when_subscribing(
    nursery: trio.Nursery, windows_too: Config, push: PushService
) -> None:
    server = await start_server(nursery, windows_too)
    alice = await account(server, "alice")
    keys = push.browser().subscription["keys"]
    for endpoint in (SNOWMAN_ENDPOINT, "https://xn--n3h.notify.windows.com/x"):
        answer = await _subscribe(server, alice, {"endpoint": endpoint, "keys": keys})
        assert answer.status_code == 400, (endpoint, answer.text)
        error = answer.json()["error"]
        assert error.startswith('field "endpoint" is not a URL this server can send to: ')
    assert await _subscriptions(server.config) == []


async def test_a_stored_endpoint_the_client_cannot_send_to_is_removed_at_its_first_push(
    nursery: trio.Nursery,
    windows_too: Config,
    push: PushService,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """As one registered before endpoints were read with httpx's parser: the push is
    refused without a request, the subscription removed, one log line without a
    traceback; other users' pushes go on."""
    server = await start_server(nursery, windows_too)
    push.expect_key = await _key(server)
    alice, bob = await account(server, "alice"), await account(server, "bob")
    keys = push.browser().subscription["keys"]
    async with open_store(server.config) as store:
        await store.add_push_subscription(
            alice.uid, SNOWMAN_ENDPOINT, keys["p256dh"], keys["auth"], limit=10
        )
    witness = await _witness(server, push, bob)
    caplog.set_level(logging.WARNING)
    await _post(server, bob, await _direct_room(server, bob, alice), "to alice")
    await witness.flush()
    with trio.fail_after(5):
        while len(await _subscriptions(server.config)) > 1:  # noqa: ASYNC110 (a table)
            await trio.sleep(0.05)
    assert await _metric(server, "chat_push_subscriptions_removed_total") == 1
    assert [
        r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR
    ] == []
    assert any("cannot be sent to" in r.getMessage() for r in caplog.records)
    assert push.problems == []


@pytest.mark.parametrize(
    ("keys", "error"),
    [
        ({"p256dh": b64url(b"\x04" + b"\x01" * 64), "auth": b64url(b"a" * 16)}, "P-256"),
        ({"p256dh": b64url(b"\x04" * 33), "auth": b64url(b"a" * 16)}, "65 bytes"),
        ({"auth": b64url(b"a" * 16)}, "keys.p256dh"),
        ({"p256dh": "not base64!", "auth": b64url(b"a" * 16)}, "base64url"),
        (None, '"keys"'),
        ("p256dh", '"keys"'),
    ],
)
async def test_a_subscriptions_keys_are_checked(
    server: Server, push: PushService, keys: Any, error: str
) -> None:
    alice = await account(server, "alice")
    endpoint = push.browser().endpoint
    answer = await _subscribe(server, alice, {"endpoint": endpoint, "keys": keys})
    assert answer.status_code == 400, answer.text
    assert error in answer.json()["error"]


async def test_the_auth_secret_must_be_16_bytes(server: Server, push: PushService) -> None:
    alice = await account(server, "alice")
    subscription = push.browser().subscription
    subscription["keys"]["auth"] = b64url(b"a" * 15)
    answer = await _subscribe(server, alice, subscription)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == 'field "keys.auth" must be 16 bytes (base64url)'


async def test_subscribing_needs_a_token(server: Server, push: PushService) -> None:
    async with http_client(server) as client:
        answer = await client.post("/push/subscriptions", json=push.browser().subscription)
    assert answer.status_code == 401, answer.text


# --- settings ---


def test_the_default_allow_list_takes_the_browsers_push_services_only() -> None:
    hosts = PushHosts(Config().push_hosts)
    for endpoint in (
        "https://fcm.googleapis.com/fcm/send/abc",
        "https://updates.push.services.mozilla.com/wpush/v2/abc",
        "https://web.push.apple.com/QGuQyavXutnMH",
        "https://wns2-par02p.notify.windows.com/w/?token=abc",
        "https://fcm.googleapis.com:443/fcm/send/abc",
    ):
        assert hosts.check(endpoint) == endpoint
    for endpoint in (
        "https://notify.windows.com/w/",  # the domain itself is not one of its subdomains
        "https://evilnotify.windows.com.example/w/",
        "https://fcm.googleapis.com:8443/fcm/send/abc",
        "http://fcm.googleapis.com/fcm/send/abc",
        "https://127.0.0.1/push",
        "https://169.254.169.254/latest/meta-data/",
    ):
        with pytest.raises(InvalidInput):
            hosts.check(endpoint)


def test_hosts_are_read_as_the_http_client_reads_them() -> None:
    """Its IDNA encoding is the host checked; no valid IDNA name is no URL at all."""
    hosts = PushHosts(Config().push_hosts)
    assert hosts.check("https://m\u00fcnchen.notify.windows.com/w/")
    for endpoint in (SNOWMAN_ENDPOINT, "https://xn--n3h.notify.windows.com/x"):
        with pytest.raises(UnusableEndpoint, match="not a URL this server can send to"):
            hosts.check(endpoint)
    with pytest.raises(InvalidInput):
        hosts.check("https://fcm.googleapis.com\\@evil.example/x")


def test_plain_http_only_to_a_loopback_host_and_port_named() -> None:
    hosts = PushHosts(("127.0.0.1:8080", "10.0.0.5:8080", "[::1]:8081"))
    assert hosts.check("http://127.0.0.1:8080/push/1")
    assert hosts.check("http://[::1]:8081/push/1")
    for endpoint in ("http://127.0.0.1:8081/push/1", "http://10.0.0.5:8080/push/1"):
        with pytest.raises(InvalidInput):
            hosts.check(endpoint)


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("CHAT_PUSH_HOSTS", "fcm.googleapis.com/fcm", "not a host or host:port"),
        ("CHAT_PUSH_HOSTS", "push.example.com:99999", "no valid port"),
        ("CHAT_PUSH_HOSTS", "::1:8080", "brackets"),
        ("CHAT_VAPID_PRIVATE_KEY", "bm90IGEga2V5", "P-256 private key"),
        ("CHAT_VAPID_SUBJECT", "admin@example.com", "mailto:"),
        ("CHAT_VAPID_SUBJECT", "http://chat.example.com", "https://"),
    ],
)
def test_push_settings_are_checked(name: str, value: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error) as refused:
        load(environ={name: value})
    if name == "CHAT_VAPID_PRIVATE_KEY":
        assert value not in str(refused.value)  # a key is never echoed


def test_the_subject_defaults_to_an_https_public_url() -> None:
    assert Config(public_url="https://chat.example.com").push_subject == "https://chat.example.com"
    assert Config().push_subject.startswith("mailto:")
    assert load(environ={"CHAT_VAPID_SUBJECT": "mailto:ops@example.com"}).push_subject == (
        "mailto:ops@example.com"
    )


# --- mentions (chat/app/messages/mentions.py fills them in) ---


async def test_at_the_mentions_level_only_messages_that_mention_the_user_are_pushed(
    server: Server, push: PushService
) -> None:
    alice, bob, browser = await _alice_subscribed(server, push)
    carol = await account(server, "carol")
    room_id = await create_room(server, bob, "team", alice, carol)  # default: mentions
    mentioned = await _post(server, bob, room_id, "@alice, the build is red")
    await _post(server, bob, room_id, "@carol, not you, alice")
    everyone = await _post(server, bob, room_id, "@room standup in five")
    await _settled(push, pushes=2)
    pushed = push.to(browser)
    assert [(p["MessageID"], p["Mention"]) for p in pushed] == [
        (mentioned, True),
        (everyone, True),
    ]
    assert all(p.headers["urgency"] == "high" for p in push.pushes)


async def _edit(server: Server, user: Account, room_id: int, message_id: int, text: str) -> None:
    async with http_client(server) as client:
        response = await client.patch(
            f"/messages/{room_id}/{message_id}", headers=user.auth, json={"Text": text}
        )
    assert response.status_code == 200, response.text


async def test_an_edit_that_adds_a_mention_pushes_the_newly_mentioned_only(
    server: Server, push: PushService
) -> None:
    alice, bob, alices_browser = await _alice_subscribed(server, push)
    carol = await account(server, "carol")
    carols_browser = push.browser()
    await _subscribed(server, carol, carols_browser)
    room_id = await create_room(server, bob, "team", alice, carol)  # default: mentions
    sent = await _post(server, bob, room_id, "@carol, ask someone")
    await _settled(push, pushes=1)  # carol, mentioned from the start
    await _edit(server, bob, room_id, sent, "@carol, ask @alice")
    await _settled(push, pushes=2)
    (pushed,) = push.to(alices_browser)
    assert (pushed["MessageID"], pushed["Text"], pushed["Mention"]) == (
        sent,
        "@carol, ask @alice",
        True,
    )
    assert len(push.to(carols_browser)) == 1  # mentioned before the edit: not again
