"""The TokenTalker WebSocket protocol on path "/" (specs 000 and 002)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import jwt
import pytest
import trio
from support import (
    PASSWORD,
    STEP,
    TEST_SECRET,
    Clients,
    Server,
    account,
    evict_a_slow_consumer,
    http_client,
    open_clients,
    raw_upgrade,
    register,
    start_server,
    status_of,
)
from trio_websocket import ConnectionClosed, open_websocket_url

from chat.core.config import Config
from chat.core.records import Message
from chat.ws import tokentalker
from chat.ws.tokentalker import _chat_frame as chat_frame

# --- auth ---


async def test_auth_with_a_valid_token_is_acknowledged_by_a_system_frame(
    clients: Clients, server: Server
) -> None:
    token = await register(server, "alice")
    client = await clients.talker(name="alice")
    await client.say(f"auth {token}")
    assert await client.receive() == {
        "name": "server",
        "message": "authorized as alice",
        "system": True,
    }


def _forge(claims: dict, secret: str = TEST_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def _claims(**overrides: object) -> dict:
    now = int(time.time())
    claims = {"sub": "1", "name": "alice", "iat": now, "exp": now + 60}
    claims.update(overrides)
    return claims


def _alg_none_token() -> str:
    def b64(data: dict) -> str:
        import base64

        raw = json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(_claims())}."


BAD_TOKENS = [
    pytest.param(lambda: "garbage", "invalid token", id="garbage"),
    pytest.param(
        lambda: _forge(_claims(), secret="another-secret-" + "y" * 40),
        "invalid token",
        id="wrong-secret",
    ),
    pytest.param(_alg_none_token, "invalid token", id="alg-none"),
    pytest.param(
        lambda: _forge(_claims(exp=int(time.time()) - 10)), "token has expired", id="expired"
    ),
    pytest.param(lambda: _forge({"sub": "1", "name": "alice"}), "invalid token", id="no-exp"),
    pytest.param(lambda: _forge(_claims(sub="999")), "unknown user", id="unknown-user"),
    pytest.param(lambda: _forge(_claims(sub="x")), "invalid token", id="non-numeric-sub"),
]


@pytest.mark.parametrize("make_token,problem", BAD_TOKENS)
async def test_auth_with_a_bad_token_is_refused(
    clients: Clients, server: Server, make_token, problem: str
) -> None:
    await register(server, "alice")  # user 1 exists, so only the token itself is wrong
    client = await clients.talker(name="alice")
    await client.say(f"auth {make_token()}")
    reply = await client.receive()
    assert reply["name"] == "server"
    assert problem in reply["error"]
    assert reply["message"] == f"error: {reply['error']}"
    # Still unauthorized: sending is refused.
    await client.say("hello")
    assert "not authorized" in (await client.receive())["error"]


async def test_auth_without_a_token_is_refused(clients: Clients, server: Server) -> None:
    client = await clients.talker()
    await client.say("auth")
    assert "auth needs a token" in (await client.receive())["error"]


# --- broadcast ---


async def test_a_message_reaches_every_other_client_but_not_the_sender(
    clients: Clients, server: Server
) -> None:
    alice = await clients.talker(token=await register(server, "alice"), name="alice")
    bob = await clients.talker(token=await register(server, "bob"), name="bob")
    carol = await clients.talker()  # not authorized: still hears the lobby

    await alice.say("hello everyone")
    for receiver in (bob, carol):
        frame = await receiver.receive()
        assert (frame["name"], frame["message"]) == ("alice", "hello everyone")
        assert isinstance(frame["id"], int) and isinstance(frame["ts"], int)

    # The next frame alice gets is bob's reply, not her own message.
    await bob.say("hi alice")
    frame = await alice.receive()
    assert (frame["name"], frame["message"]) == ("bob", "hi alice")


async def test_the_sender_name_comes_from_the_token_not_the_frame(
    clients: Clients, server: Server
) -> None:
    mallory = await clients.talker(token=await register(server, "mallory"), name="alice")
    listener = await clients.talker()
    await mallory.say("I am alice")  # the frame claims "alice"
    frame = await listener.receive()
    assert frame["name"] == "mallory"


async def test_an_unauthorized_message_is_refused_and_neither_delivered_nor_stored(
    clients: Clients, server: Server
) -> None:
    stranger = await clients.talker()
    alice = await clients.talker(token=await register(server, "alice"), name="alice")
    await stranger.say("let me in")
    reply = await stranger.receive()
    assert reply["name"] == "server" and "not authorized" in reply["error"]

    await alice.say("history 10")
    await alice.say("after")  # ordering marker: alice's next frames are what history sent
    stranger_frame = await stranger.receive()
    assert stranger_frame["message"] == "after"  # "let me in" never reached anyone
    await alice.sync()


async def test_the_username_variant_gets_frames_back_with_username(
    clients: Clients, server: Server
) -> None:
    token = await register(server, "hello")
    sender = await clients.talker(token=token, name="hello", key="username")
    receiver = await clients.talker(name="x", key="username")
    await receiver.say("history 1")  # any frame: tells the server which key it uses
    assert "username" in await receiver.receive()
    await sender.say("world")
    frame = await receiver.receive()
    assert frame["username"] == "hello" and frame["message"] == "world"
    assert "name" not in frame


async def test_auth_and_history_frames_are_never_forwarded_or_stored(
    clients: Clients, server: Server
) -> None:
    token = await register(server, "alice")
    alice = await clients.talker(token=token, name="alice")
    listener = await clients.talker()
    commands = (
        f"auth {token}",
        f"auth\t{token}",
        f"  Auth\n{token}",
        "history 5",
        "AUTH broken",
        "history",
        "history nope",
        "HISTORY\t3",
    )
    for command in commands:
        await alice.say(command)
    await alice.say("the only chat message")
    frame = await listener.receive()
    assert frame["message"] == "the only chat message"

    await alice.sync()
    await alice.say("history 100")
    history = [await alice.receive()]
    assert [f["message"] for f in history] == ["the only chat message"]


async def test_messages_from_one_client_arrive_in_order_at_every_receiver(
    clients: Clients, server: Server
) -> None:
    sender = await clients.talker(token=await register(server, "alice"), name="alice")
    receivers = [await clients.talker() for _ in range(3)]
    texts = [f"message {i}" for i in range(50)]
    for text in texts:
        await sender.say(text)
    for receiver in receivers:
        assert [(await receiver.receive())["message"] for _ in texts] == texts


async def test_a_broadcast_reaches_many_clients(clients: Clients, server: Server) -> None:
    sender = await clients.talker(token=await register(server, "alice"), name="alice")
    receivers = [await clients.talker() for _ in range(60)]
    await sender.say("to all")
    for receiver in receivers:
        assert (await receiver.receive())["message"] == "to all"


async def test_a_message_sent_just_before_closing_is_still_stored_and_delivered(
    clients: Clients, server: Server
) -> None:
    token = await register(server, "alice")
    listener = await clients.talker()
    async with open_websocket_url(server.ws("/")) as ws:
        await ws.send_message(json.dumps({"name": "alice", "message": f"auth {token}"}))
        await ws.send_message(json.dumps({"name": "alice", "message": "goodbye"}))
        # Close without waiting for any answer.
    assert (await listener.receive())["message"] == "goodbye"


# --- history ---


async def test_history_returns_the_latest_n_oldest_first(clients: Clients, server: Server) -> None:
    alice = await clients.talker(token=await register(server, "alice"), name="alice")
    bob = await clients.talker(token=await register(server, "bob"), name="bob")
    for i in range(12):
        speaker = alice if i % 2 == 0 else bob
        await speaker.say(f"m{i}")
        await speaker.stored()  # stored before the next one is sent: a known global order

    reader = await clients.talker(token=await register(server, "carol"), name="carol")
    await reader.say("history 10")
    frames = [await reader.receive() for _ in range(10)]
    assert [f["message"] for f in frames] == [f"m{i}" for i in range(2, 12)]
    assert [f["name"] for f in frames] == ["alice", "bob"] * 5
    ids = [f["id"] for f in frames]
    assert ids == sorted(ids)


async def test_history_shows_a_message_as_edited_since_it_was_last_sent(
    clients: Clients, server: Server
) -> None:
    # The frame a message was sent as is not sent again once the message has changed.
    alice = await account(server, "alice")
    talker = await clients.talker(token=alice.token, name="alice")
    editor = await clients.json("/ws", token=alice.token)
    async with http_client(server) as client:
        lobby = (await client.get("/rooms", headers=alice.auth)).json()[0]
    await editor.request({"Type": "enter", "RoomID": lobby, "Presence": False})
    await talker.say("draft")
    sent = await editor.receive()
    await talker.say("history 1")
    assert (await talker.receive())["message"] == "draft"
    await editor.request({"Type": "edit", "MessageID": sent["MessageID"], "Text": "final"})
    await talker.say("history 1")
    assert (await talker.receive())["message"] == "final"


def test_the_frames_kept_for_reuse_are_bounded() -> None:
    at = datetime(2026, 11, 26, tzinfo=UTC)
    for n in range(tokentalker.MAX_FRAMES + 50):
        chat_frame("name", Message(n + 1, 1, 7, "alice", f"m{n}", at))
    assert len(tokentalker._frames) == tokentalker.MAX_FRAMES


async def test_history_asking_for_more_than_exists_sends_what_there_is(
    clients: Clients, server: Server
) -> None:
    alice = await clients.talker(token=await register(server, "alice"), name="alice")
    await alice.say("only one")
    await alice.say("history 100")
    assert (await alice.receive())["message"] == "only one"
    await alice.ws.send_message("sync")
    assert "not valid JSON" in (await alice.receive())["error"]  # nothing else came first


async def test_history_of_an_empty_lobby_sends_nothing(clients: Clients, server: Server) -> None:
    alice = await clients.talker(token=await register(server, "alice"), name="alice")
    await alice.say("history 10")
    await alice.ws.send_message("sync")
    assert "not valid JSON" in (await alice.receive())["error"]


async def test_history_requires_auth(clients: Clients, server: Server) -> None:
    client = await clients.talker()
    await client.say("history 10")
    assert "not authorized" in (await client.receive())["error"]


@pytest.mark.parametrize("argument", ["0", "101", "-1", "abc", "1.5", "", "10 20", "\u0663"])
async def test_history_refuses_counts_outside_1_to_100(
    clients: Clients, server: Server, argument: str
) -> None:
    client = await clients.talker(token=await register(server, "alice"))
    await client.say(f"history {argument}")
    assert "history needs a number from 1 to 100" in (await client.receive())["error"]


# --- bad input ---

BAD_FRAMES = [
    pytest.param("not json", "not valid JSON", id="not-json"),
    pytest.param("[1, 2]", "must be a JSON object", id="array"),
    pytest.param("null", "must be a JSON object", id="null"),
    pytest.param('{"name": "a"}', 'field "message" is required', id="no-message"),
    pytest.param(
        '{"name": "a", "message": 5}', 'field "message" must be a string', id="int-message"
    ),
    pytest.param('{"message": "hi"}', 'field "name" is required', id="no-name"),
    pytest.param('{"name": 1, "message": "hi"}', 'field "name" must be a string', id="int-name"),
    pytest.param('{"name": "a", "message": "   "}', "must not be empty", id="blank-message"),
    pytest.param(
        '{"name": "a", "message": "\\ud800"}', "lone UTF-16 surrogate", id="lone-surrogate"
    ),
    pytest.param(b'{"name": "a", "message": "hi"}', "binary frames are not supported", id="binary"),
]


@pytest.mark.parametrize("frame,problem", BAD_FRAMES)
async def test_bad_frames_get_an_error_frame_and_the_connection_stays_usable(
    clients: Clients, server: Server, frame: str | bytes, problem: str
) -> None:
    client = await clients.talker(token=await register(server, "alice"), name="alice")
    listener = await clients.talker()
    await client.ws.send_message(frame)
    reply = await client.receive()
    assert reply["name"] == "server" and problem in reply["error"]
    await client.say("still here")
    assert (await listener.receive())["message"] == "still here"


async def test_text_over_the_limit_is_refused(clients: Clients, server: Server) -> None:
    client = await clients.talker(token=await register(server, "alice"))
    limit = server.config.max_text_chars
    await client.say("x" * (limit + 1))
    assert f"the limit is {limit}" in (await client.receive())["error"]
    await client.say("x" * limit)  # exactly the limit is fine
    await client.say("history 1")
    assert len((await client.receive())["message"]) == limit


async def test_a_frame_over_the_frame_limit_closes_with_1009_and_others_carry_on(
    clients: Clients, server: Server
) -> None:
    big = await clients.talker()
    other = await clients.talker(token=await register(server, "alice"))
    await big.ws.send_message("x" * (server.config.max_frame_bytes + 1))
    with pytest.raises(ConnectionClosed) as closed, trio.fail_after(STEP):
        await big.ws.get_message()
    assert closed.value.reason.code == 1009
    await other.say("history 1")
    await other.ws.send_message("sync")
    assert "not valid JSON" in (await other.receive())["error"]


async def test_an_unknown_websocket_path_is_rejected_with_404(server: Server) -> None:
    # A raw upgrade request: trio-websocket's client leaks its socket on a rejection.
    assert status_of(await raw_upgrade(server, "/nowhere")) == b"404"


# --- persistence and slow consumers ---


async def test_history_survives_a_server_restart(config: Config) -> None:
    async with trio.open_nursery() as first_run:
        server = await start_server(first_run, config)
        async with open_clients(server) as clients:
            alice = await clients.talker(token=await register(server, "alice"))
            await alice.say("remember me")
            await alice.sync()
        first_run.cancel_scope.cancel()

    async with trio.open_nursery() as second_run:
        server = await start_server(second_run, config)
        async with http_client(server) as client:
            response = await client.post("/auth", json={"name": "alice", "password": PASSWORD})
        async with open_clients(server) as clients:
            alice = await clients.talker(token=response.json()["token"])
            await alice.say("history 1")
            assert (await alice.receive())["message"] == "remember me"
        second_run.cancel_scope.cancel()


async def test_a_slow_consumer_is_evicted_with_1008_and_the_others_keep_receiving(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(client_queue=8, write_timeout=30.0))
    async with open_clients(server) as clients:
        closed = await evict_a_slow_consumer(clients)
        assert closed.reason.code == 1008
        assert "slow consumer" in closed.reason.reason
