"""Rate limits, through a real server on both backends: logins and token routes per
address and per account, registrations per address, chat messages per user in every
dialect, WebSocket connections per address, the bcrypt queue, and the switch that turns
them all off. (Across instances: test_cluster_rate_limits.py.)"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio
from support import (
    STEP,
    Account,
    Clients,
    JsonClient,
    Server,
    account,
    http_client,
    open_clients,
    raw_upgrade,
    register,
    start_server,
    status_of,
)
from trio_websocket import ConnectionClosed

from chat.core.config import SETTINGS, Config, default, load
from chat.ws.session.client_session import MAX_REFUSALS

LOGIN_ROUTES = [
    ("POST", "/auth", {"name": "alice", "password": "wrong-password"}),
    ("POST", "/api/login", {"username": "alice", "password": "wrong-password"}),
    ("POST", "/login", {"email": "alice@example.com", "password": "wrong-password"}),
    ("PUT", "/login", {"Email": "alice@example.com", "Password": "wrong-password"}),
    ("POST", "/session", {"Username": "alice", "Password": "wrong-password"}),
    ("POST", "/v1/auth/", {"user_name": "alice", "password": "wrong-password"}),
]

#: A generous limit for what a test does not exercise.
PLENTY = "1000/minute"


def limited(config: Config, **limits: Any) -> Config:
    """`config` with rate limits on, every one generous except those given."""
    generous = {
        "rate_limits": True,
        "rate_login": PLENTY,
        "rate_login_failures": PLENTY,
        "rate_account_failures": PLENTY,
        "rate_register": PLENTY,
        "rate_messages": PLENTY,
        "rate_connections": PLENTY,
    }
    return config.replace(**{**generous, **limits})


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["error"].startswith("too many")


async def login(
    client: httpx.AsyncClient, name: str, password: str, forwarded_for: str | None = None
) -> httpx.Response:
    headers = {} if forwarded_for is None else {"X-Forwarded-For": forwarded_for}
    return await client.post("/auth", json={"name": name, "password": password}, headers=headers)


def test_rate_limits_are_on_by_default_and_every_default_parses() -> None:
    config = load(environ={})
    assert config.rate_limits is True
    for setting in SETTINGS:
        if setting.env.startswith("CHAT_RATE_") and setting.env != "CHAT_RATE_LIMITS":
            assert setting.parse(str(default(setting))) == default(setting)


def test_an_invalid_limit_names_its_setting() -> None:
    with pytest.raises(ValueError, match="CHAT_RATE_MESSAGES"):
        load(environ={"CHAT_RATE_MESSAGES": "lots"})


@pytest.mark.parametrize("method,path,body", LOGIN_ROUTES, ids=[r[1] for r in LOGIN_ROUTES])
async def test_every_login_route_counts_against_one_limit_per_address(
    nursery: trio.Nursery, config: Config, method: str, path: str, body: dict[str, str]
) -> None:
    server = await start_server(nursery, limited(config, rate_login="3/minute"))
    await account(server, "alice", "alice-password")  # one login of the three
    async with http_client(server) as client:
        for _ in range(2):
            response = await client.request(method, path, json=body)
            assert response.status_code in (401, 403), response.text
        assert_refused(await client.request(method, path, json=body))
        # The other routes share the address's count.
        assert_refused(await login(client, "alice", "alice-password"))


async def test_wrong_old_passwords_count_as_failed_logins(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, limited(config, rate_login_failures="2/minute"))
    alice = await account(server, "alice", "alice-password")
    body = {"OldPassword": "guess-guess", "NewPassword": "new-password"}
    async with http_client(server) as client:
        for _ in range(2):
            response = await client.put("/password", headers=alice.auth, json=body)
            assert response.status_code == 401, response.text
        assert_refused(await client.put("/password", headers=alice.auth, json=body))
        assert_refused(await login(client, "alice", "alice-password"))


async def test_failed_logins_stop_that_address_for_that_account_only(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, limited(config, rate_login_failures="3/minute"))
    await account(server, "alice", "alice-password")
    await account(server, "bob", "bob-password")
    async with http_client(server) as client:
        for _ in range(3):
            assert (await login(client, "alice", "guess-guess")).status_code == 401
        # Even the right password: the address has used up its guesses at this account.
        assert_refused(await login(client, "alice", "alice-password"))
        assert (await login(client, "bob", "bob-password")).status_code == 200


async def test_the_owner_at_another_address_still_logs_in_while_an_attacker_is_stopped(
    nursery: trio.Nursery, config: Config
) -> None:
    config = limited(config, rate_login_failures="3/minute", trusted_proxies=("127.0.0.1",))
    server = await start_server(nursery, config)
    await account(server, "alice", "alice-password")
    async with http_client(server) as client:
        for _ in range(3):
            response = await login(client, "alice", "guess-guess", "203.0.113.9")
            assert response.status_code == 401
        assert_refused(await login(client, "alice", "guess-guess", "203.0.113.9"))
        response = await login(client, "alice", "alice-password", "198.51.100.7")
        assert response.status_code == 200, response.text


async def test_an_account_guessed_at_from_many_addresses_slows_down_for_new_addresses_only(
    nursery: trio.Nursery, config: Config
) -> None:
    config = limited(config, rate_account_failures="5/hour", trusted_proxies=("127.0.0.1",))
    server = await start_server(nursery, config)
    await account(server, "alice", "alice-password")
    async with http_client(server) as client:
        owner = "198.51.100.7"
        assert (await login(client, "alice", "alice-password", owner)).status_code == 200
        for bot in range(5):
            response = await login(client, "alice", "guess-guess", f"203.0.113.{bot}")
            assert response.status_code == 401
        # Slow mode: one attempt every few seconds from addresses never seen to log in.
        assert (await login(client, "alice", "guess-guess", "203.0.113.50")).status_code == 401
        assert_refused(await login(client, "alice", "guess-guess", "203.0.113.51"))
        # The owner's address is not slowed.
        for _ in range(3):
            response = await login(client, "alice", "alice-password", owner)
            assert response.status_code == 200, response.text


async def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, limited(config, rate_login="3/minute"))
    async with http_client(server) as client:
        for n in range(3):
            response = await login(client, "nobody", "guess-guess", f"203.0.113.{n}")
            assert response.status_code == 401
        assert_refused(await login(client, "nobody", "guess-guess", "203.0.113.99"))


async def test_registrations_past_the_limit_get_429(nursery: trio.Nursery, config: Config) -> None:
    server = await start_server(nursery, limited(config, rate_register="2/minute"))
    await register(server, "first", "first-password")
    await register(server, "second", "second-password")
    async with http_client(server) as client:
        response = await client.post(
            "/api/reg", json={"username": "third", "password": "third-password"}
        )
    assert_refused(response)


async def test_websocket_connections_past_the_limit_get_429_before_the_upgrade(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, limited(config, rate_connections="2/minute"))
    for _ in range(2):
        assert status_of(await raw_upgrade(server, "/")) == b"101"
    refused = await raw_upgrade(server, "/")
    assert status_of(refused) == b"429", refused
    assert b"retry-after: " in refused.lower()


# --- chat messages, per user, in every dialect ---


async def tokentalker_send(client: JsonClient, user: Account, to: Account, text: str) -> None:
    await client.send({"name": user.name, "message": text})


async def room_send(client: JsonClient, user: Account, to: Account, text: str) -> None:
    await client.send({"Type": "message", "Text": text})


async def direct_send(client: JsonClient, user: Account, to: Account, text: str) -> None:
    await client.send({"from": user.uid, "to": to.uid, "content": text})


async def support_send(client: JsonClient, user: Account, to: Account, text: str) -> None:
    await client.send({"method": "message.send", "params": [text], "id": 1})


DIALECTS = {
    "TokenTalker": ("/", tokentalker_send),
    "room protocol": ("/ws", room_send),
    "direct messages": ("/ws", direct_send),
    "support": ("/v1/ws", support_send),
}


def is_refusal(frame: Any) -> bool:
    """A rate-limit error frame, in any dialect's shape."""
    if not isinstance(frame, dict):
        return False
    error = frame.get("error") or frame.get("Error")
    if isinstance(error, dict):  # the support protocol's {"code", "message"}
        return error.get("code") == 5
    return isinstance(error, str) and error.startswith("too many messages")


async def open_dialect(clients: Clients, user: Account, dialect: str) -> JsonClient:
    path, _send = DIALECTS[dialect]
    client = await clients.json(path, token=user.token)
    if dialect == "room protocol":
        assert (await client.request({"Type": "enter", "RoomID": 1, "Presence": False}))[
            "Type"
        ] == "entered"
    if dialect == "support":
        await client.receive()  # the greeting: the user's (empty) thread
    return client


async def until_refused(client: JsonClient) -> list[Any]:
    """Frames received up to and including the first rate-limit refusal."""
    frames = []
    with trio.fail_after(STEP):
        while not frames or not is_refusal(frames[-1]):
            frames.append(await client.receive())
    return frames


async def stored_texts(server: Server, user: Account, other: Account) -> list[str]:
    """Every text `user` has stored in the lobby and in its direct room with `other`."""
    texts = []
    async with http_client(server) as client:
        rooms = [1]
        direct = await client.get(f"/dm/{other.uid}", headers=user.auth)
        rooms.append(direct.json()["RoomID"])
        for room_id in rooms:
            response = await client.get(f"/messages/{room_id}", headers=user.auth)
            texts += [m["Text"] for m in response.json() if m["UID"] == user.uid]
    return texts


@pytest.mark.parametrize("dialect", list(DIALECTS))
async def test_a_message_past_the_limit_gets_an_error_frame_and_is_not_stored(
    nursery: trio.Nursery, config: Config, dialect: str
) -> None:
    server = await start_server(nursery, limited(config, rate_messages="3/minute"))
    user, other = await account(server, "chatty"), await account(server, "other")
    async with open_clients(server) as clients:
        client = await open_dialect(clients, user, dialect)
        _path, send = DIALECTS[dialect]
        for n in range(4):
            await send(client, user, other, f"message {n}")
        await until_refused(client)
        await client.send("ping")  # still connected
        with trio.fail_after(STEP):
            while await client.ws.get_message() != "pong":
                pass
        if dialect != "support":  # support threads are read over the support protocol
            # The accepted ones may still be committing (chat messages are pipelined).
            expected = [f"message {n}" for n in range(3)]
            with trio.fail_after(STEP):
                while sorted(texts := await stored_texts(server, user, other)) != expected:
                    assert len(texts) < 3, texts
                    await trio.sleep(0.05)


async def test_the_message_limit_counts_every_connection_of_the_user(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, limited(config, rate_messages="3/minute"))
    user = await account(server, "chatty")
    async with open_clients(server) as clients:
        first = await open_dialect(clients, user, "room protocol")
        second = await open_dialect(clients, user, "room protocol")
        for n in range(2):
            await room_send(first, user, user, f"first {n}")
            assert (await first.receive())["Text"] == f"first {n}"  # its own copy
        await room_send(second, user, user, "second 0")
        await room_send(second, user, user, "second 1")
        frames = await until_refused(second)
        assert [f.get("Text") for f in frames if f.get("Type") == "message"].count("second 1") == 0


async def test_a_client_that_keeps_going_past_the_limit_is_closed_with_1008(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, limited(config, rate_messages="1/minute"))
    user = await account(server, "flooder")
    async with open_clients(server) as clients:
        client = await open_dialect(clients, user, "room protocol")
        with pytest.raises(ConnectionClosed) as closed:
            with trio.fail_after(STEP):
                for n in range(MAX_REFUSALS + 5):
                    await room_send(client, user, user, f"flood {n}")
                while True:
                    await client.receive()
        assert closed.value.reason.code == 1008
        assert "rate limit" in (closed.value.reason.reason or "")


async def test_rate_limits_off_turns_every_limit_off(nursery: trio.Nursery, config: Config) -> None:
    tiny = "1/minute"
    config = limited(config).replace(
        rate_limits=False,
        rate_login=tiny,
        rate_login_failures=tiny,
        rate_account_failures=tiny,
        rate_register=tiny,
        rate_messages=tiny,
        rate_connections=tiny,
        max_connections_per_address=1,
    )
    server = await start_server(nursery, config)
    users = [await account(server, f"user{n}") for n in range(3)]
    async with http_client(server) as client:
        for _ in range(3):
            assert (await login(client, "user0", "wrong-password")).status_code == 401
    async with open_clients(server) as clients:
        talkers = [await open_dialect(clients, user, "room protocol") for user in users]
        for n in range(5):
            await room_send(talkers[0], users[0], users[0], f"burst {n}")
        for n in range(5):
            assert (await talkers[0].receive())["Text"] == f"burst {n}"


async def test_the_defaults_let_a_normal_session_through(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(rate_limits=True))
    users = [await account(server, name) for name in ("ann", "bob", "cat")]
    async with open_clients(server) as clients:
        talkers = [await open_dialect(clients, user, "room protocol") for user in users]
        for n in range(5):
            for talker, user in zip(talkers, users, strict=True):
                await room_send(talker, user, user, f"{user.name} {n}")
        for talker in talkers:
            texts = [(await talker.receive())["Text"] for _ in range(15)]
            assert sorted(texts) == sorted(f"{u.name} {n}" for u in users for n in range(5))


async def test_a_full_bcrypt_queue_answers_503_with_retry_after(
    nursery: trio.Nursery, config: Config
) -> None:
    # Cost 12 keeps the two bcrypt threads busy long enough for the queue to fill.
    server = await start_server(
        nursery, limited(config, bcrypt_cost=12, bcrypt_queue=1, rate_login=PLENTY)
    )
    statuses: list[int] = []
    retry_after: list[str] = []

    async def attempt(client: httpx.AsyncClient) -> None:
        response = await login(client, "nobody", "wrong-password")
        statuses.append(response.status_code)
        if response.status_code == 503:
            retry_after.append(response.headers["Retry-After"])
            assert "busy" in response.json()["error"]

    async with http_client(server) as client, trio.open_nursery() as attempts:
        for _ in range(12):
            attempts.start_soon(attempt, client)
    assert 503 in statuses, statuses
    assert set(statuses) <= {401, 503}, statuses
    assert retry_after and all(int(value) >= 1 for value in retry_after)
