"""Revoking tokens: ``PUT /password`` and ``POST /logout-everywhere``.

Both raise the account's token version: every token issued before is refused from then on
(HTTP 401, a 401 at the WebSocket handshake), and the WebSocket sessions those tokens
opened are closed with 1008 within seconds, on every instance of a cluster, even when the
bus loses the news (the periodic sweep reads the users table).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import trio
from cluster import open_cluster, running_redis
from support import (
    STEP,
    TEST_SECRET,
    Account,
    Clients,
    Server,
    account,
    execute_sql,
    http_client,
    open_clients,
    pg_session,
    raw_upgrade,
    start_server,
    status_of,
    throwaway_postgres_schema,
)
from test_support import support_client
from trio_websocket import ConnectionClosed, WebSocketConnection

from chat.core.config import Config

PASSWORD = "correct horse"
NEW_PASSWORD = "battery staple"
#: How soon a revoked session must be closed once the server knows ("within seconds").
CLOSED_WITHIN = 5.0
REVOKED = {"error": "token has been revoked"}


async def change_password(
    server: Server, token: str, old: str = PASSWORD, new: str = NEW_PASSWORD
) -> httpx.Response:
    async with http_client(server) as client:
        return await client.put(
            "/password",
            headers={"Authorization": f"Bearer {token}"},
            json={"OldPassword": old, "NewPassword": new},
        )


async def logout_everywhere(server: Server, token: str) -> httpx.Response:
    async with http_client(server) as client:
        return await client.post("/logout-everywhere", headers={"Authorization": token})


async def profile(server: Server, token: str) -> httpx.Response:
    async with http_client(server) as client:
        return await client.get("/profile", headers={"Authorization": f"Bearer {token}"})


async def log_in(server: Server, user: Account, password: str) -> httpx.Response:
    async with http_client(server) as client:
        return await client.post("/auth", json={"name": user.name, "password": password})


async def closed(
    ws: WebSocketConnection, within: float = CLOSED_WITHIN
) -> tuple[list[Any], int, str]:
    """What `ws` receives until the server closes it (within `within` seconds): the
    frames, then the close code and reason."""
    frames: list[Any] = []
    with trio.fail_after(within):
        while True:
            try:
                frames.append(await ws.get_message())
            except ConnectionClosed as closing:
                return frames, closing.reason.code, closing.reason.reason or ""


async def still_open(ws: WebSocketConnection) -> None:
    await ws.send_message("ping")
    with trio.fail_after(STEP):
        assert await ws.get_message() == "pong"


# --- which tokens work ---


async def test_a_password_change_answers_a_new_token_that_works(server: Server) -> None:
    alice = await account(server, "alice", PASSWORD)
    response = await change_password(server, alice.token)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"token"}
    assert (await profile(server, response.json()["token"])).status_code == 200


async def test_after_a_password_change_the_old_token_is_refused_over_http(server: Server) -> None:
    alice = await account(server, "alice", PASSWORD)
    await change_password(server, alice.token)
    response = await profile(server, alice.token)
    assert response.status_code == 401
    assert response.json() == REVOKED


async def test_after_a_password_change_the_old_token_is_refused_at_the_handshake(
    server: Server,
) -> None:
    alice = await account(server, "alice", PASSWORD)
    new_token = (await change_password(server, alice.token)).json()["token"]
    refused = await raw_upgrade(server, f"/ws?token={alice.token}")
    assert status_of(refused) == b"401"
    assert b"token has been revoked" in refused
    assert status_of(await raw_upgrade(server, f"/ws?token={new_token}")) == b"101"


async def test_after_a_password_change_only_the_new_password_logs_in(server: Server) -> None:
    alice = await account(server, "alice", PASSWORD)
    await change_password(server, alice.token)
    assert (await log_in(server, alice, NEW_PASSWORD)).status_code == 200
    refused = await log_in(server, alice, PASSWORD)
    assert (refused.status_code, refused.json()) == (401, {"error": "invalid credentials"})


async def test_a_wrong_old_password_is_401_and_changes_nothing(server: Server) -> None:
    alice = await account(server, "alice", PASSWORD)
    response = await change_password(server, alice.token, old="not my password")
    assert (response.status_code, response.json()) == (401, {"error": "invalid credentials"})
    assert (await profile(server, alice.token)).status_code == 200
    assert (await log_in(server, alice, PASSWORD)).status_code == 200
    assert (await log_in(server, alice, NEW_PASSWORD)).status_code == 401


@pytest.mark.parametrize("new", ["", "p" * 73], ids=["too-short", "too-long"])
async def test_a_new_password_that_validation_refuses_is_400_and_changes_nothing(
    server: Server, new: str
) -> None:
    alice = await account(server, "alice", PASSWORD)
    response = await change_password(server, alice.token, new=new)
    assert response.status_code == 400
    assert "password" in response.json()["error"]
    assert (await profile(server, alice.token)).status_code == 200
    assert (await log_in(server, alice, PASSWORD)).status_code == 200


async def test_changing_the_password_needs_a_valid_token(server: Server) -> None:
    async with http_client(server) as client:
        anonymous = await client.put(
            "/password", json={"OldPassword": PASSWORD, "NewPassword": NEW_PASSWORD}
        )
    assert anonymous.status_code == 401
    assert (await change_password(server, "not-a-token")).status_code == 401


async def test_changing_the_password_needs_both_fields(server: Server) -> None:
    alice = await account(server, "alice", PASSWORD)
    async with http_client(server) as client:
        response = await client.put("/password", headers=alice.auth, json={"NewPassword": "x"})
    assert (response.status_code, response.json()) == (
        400,
        {"error": 'field "OldPassword" is required'},
    )


async def test_logout_everywhere_revokes_the_token_used_and_every_other(server: Server) -> None:
    alice = await account(server, "alice", PASSWORD)
    other = (await log_in(server, alice, PASSWORD)).json()["token"]
    response = await logout_everywhere(server, alice.token)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    for token in (alice.token, other):
        refused = await profile(server, token)
        assert (refused.status_code, refused.json()) == (401, REVOKED)
    fresh = (await log_in(server, alice, PASSWORD)).json()["token"]
    assert (await profile(server, fresh)).status_code == 200


async def test_logout_everywhere_leaves_other_users_tokens_alone(server: Server) -> None:
    alice, bob = await account(server, "alice", PASSWORD), await account(server, "bob", PASSWORD)
    await logout_everywhere(server, alice.token)
    assert (await profile(server, bob.token)).status_code == 200


async def test_tokentalker_auth_with_a_revoked_token_is_refused_saying_so(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice", PASSWORD)
    await logout_everywhere(server, alice.token)
    talker = await clients.talker()
    await talker.say(f"auth {alice.token}")
    assert (await talker.receive())["error"] == "token has been revoked"


async def test_support_auth_with_a_revoked_token_closes_with_1008_saying_so(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice", PASSWORD)
    await logout_everywhere(server, alice.token)
    ws = await clients.json("/v1/ws")
    await ws.send({"method": "message.auth", "params": [alice.token], "id": 1})
    assert await closed(ws.ws) == ([], 1008, "token has been revoked")


async def test_a_token_without_ver_counts_as_version_0(server: Server) -> None:
    """Tokens issued before versions existed keep working until the first revocation."""
    alice = await account(server, "alice", PASSWORD)
    now = int(time.time())
    claims = {"sub": str(alice.uid), "name": alice.name, "iat": now, "exp": now + 60}
    unversioned = jwt.encode(claims, TEST_SECRET, algorithm="HS256")
    assert (await profile(server, unversioned)).status_code == 200
    await logout_everywhere(server, alice.token)
    assert (await profile(server, unversioned)).status_code == 401


# --- open sessions are closed ---


async def test_a_password_change_closes_an_idle_room_session_with_1008(
    server: Server, clients: Clients
) -> None:
    """The session never sent a frame, so it has no handler or writer task yet."""
    alice = await account(server, "alice", PASSWORD)
    ws = await clients.json("/ws", token=alice.token)
    await change_password(server, alice.token)
    frames, code, reason = await closed(ws.ws)
    assert (code, reason) == (1008, "token has been revoked")
    assert frames == ['{"Type":"error","Error":"token has been revoked"}']


async def test_a_password_change_closes_a_tokentalker_session_with_1008(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice", PASSWORD)
    talker = await clients.talker(token=alice.token, name="alice")
    await change_password(server, alice.token)
    frames, code, reason = await closed(talker.ws)
    assert (code, reason) == (1008, "token has been revoked")
    assert len(frames) == 1
    assert '"error":"token has been revoked"' in frames[0]
    assert '"system":true' in frames[0]


async def test_a_password_change_closes_a_support_session_with_1008(
    server: Server, clients: Clients
) -> None:
    """Like a bad token in message.auth (spec 001, 1.1.1): the close frame says why."""
    alice = await account(server, "alice", PASSWORD)
    ws, _ = await support_client(clients, alice)
    await change_password(server, alice.token)
    frames, code, reason = await closed(ws.ws)
    assert (frames, code, reason) == ([], 1008, "token has been revoked")


async def test_logout_everywhere_closes_every_session_of_the_user(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice", PASSWORD)
    sessions = [(await clients.json("/ws", token=alice.token)).ws for _ in range(3)]
    sessions.append((await clients.talker(token=alice.token)).ws)
    await logout_everywhere(server, alice.token)
    for ws in sessions:
        _, code, _ = await closed(ws)
        assert code == 1008


async def test_another_users_sessions_stay_open(server: Server, clients: Clients) -> None:
    alice, bob = await account(server, "alice", PASSWORD), await account(server, "bob", PASSWORD)
    alice_ws = await clients.json("/ws", token=alice.token)
    bob_ws = await clients.json("/ws", token=bob.token)
    bob_talker = await clients.talker(token=bob.token)
    await change_password(server, alice.token)
    await closed(alice_ws.ws)
    await still_open(bob_ws.ws)
    await still_open(bob_talker.ws)


async def test_a_session_opened_with_the_new_token_stays_open(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(revocation_sweep=0.2))
    alice = await account(server, "alice", PASSWORD)
    new_token = (await change_password(server, alice.token)).json()["token"]
    async with open_clients(server) as clients:
        ws = await clients.json("/ws", token=new_token)
        await trio.sleep(1.0)  # several sweeps
        await still_open(ws.ws)


async def test_a_version_raised_behind_the_servers_back_closes_sessions_at_the_next_sweep(
    nursery: trio.Nursery, config: Config
) -> None:
    """No request and no bus event: the periodic sweep alone finds it in the table."""
    server = await start_server(nursery, config.replace(revocation_sweep=0.5))
    alice = await account(server, "alice", PASSWORD)
    async with open_clients(server) as clients:
        ws = await clients.json("/ws", token=alice.token)
        await execute_sql(
            config, f"UPDATE users SET token_version = token_version + 1 WHERE id = {alice.uid}"
        )
        _, code, reason = await closed(ws.ws, within=0.5 + 2.0)
    assert (code, reason) == (1008, "token has been revoked")


async def test_a_deleted_account_has_its_sessions_closed_at_the_next_sweep(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(revocation_sweep=0.5))
    alice = await account(server, "alice", PASSWORD)
    async with open_clients(server) as clients:
        ws = await clients.json("/ws", token=alice.token)
        await execute_sql(config, f"DELETE FROM users WHERE id = {alice.uid}")
        _, code, reason = await closed(ws.ws, within=0.5 + 2.0)
    assert (code, reason) == (1008, "account deleted")


# --- across instances ---


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A throwaway PostgreSQL schema a cluster shares."""
    async with throwaway_postgres_schema() as url:
        yield url


@pytest.fixture(params=["postgres-bus", "redis-bus"])
async def bus_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str | None]:
    """None for PostgreSQL's own bus, else the URL of a Redis of this test's own."""
    if request.param == "postgres-bus":
        yield None
    else:
        async with running_redis(tmp_path) as redis:
            yield redis.url


async def test_a_password_change_on_one_instance_closes_sessions_on_another(
    tmp_path: Path, postgres_url: str, bus_url: str | None
) -> None:
    """The sweep's period is far longer than the wait: only the bus event can do it."""
    async with open_cluster(
        tmp_path, postgres_url, 2, bus_url=bus_url, revocation_sweep=600.0
    ) as pair:
        a, b = pair
        alice = await account(a.server, "alice", PASSWORD)
        bob = await account(a.server, "bob", PASSWORD)
        async with open_clients(b.server) as on_b:
            alice_on_b = await on_b.json("/ws", token=alice.token)
            bob_on_b = await on_b.json("/ws", token=bob.token)
            assert (await change_password(a.server, alice.token)).status_code == 200
            _, code, reason = await closed(alice_on_b.ws)
            assert (code, reason) == (1008, "token has been revoked")
            await still_open(bob_on_b.ws)


async def test_without_a_bus_event_the_sweep_closes_sessions_on_every_instance(
    tmp_path: Path, postgres_url: str
) -> None:
    """The version is raised in the table directly, as if the event had been lost."""
    async with open_cluster(tmp_path, postgres_url, 2, revocation_sweep=1.0) as pair:
        alice = await account(pair[0].server, "alice", PASSWORD)
        async with open_clients(pair[0].server) as on_a, open_clients(pair[1].server) as on_b:
            sessions = [await on_a.json("/ws", token=alice.token)]
            sessions.append(await on_b.json("/ws", token=alice.token))
            async with pg_session(postgres_url) as execute:
                await execute(
                    f"UPDATE users SET token_version = token_version + 1 WHERE id = {alice.uid}"
                )
            for ws in sessions:
                _, code, reason = await closed(ws.ws, within=1.0 + 3.0)
                assert (code, reason) == (1008, "token has been revoked")
