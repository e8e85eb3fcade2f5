"""Two-factor authentication (``/me/2fa``): an enrolment is not in force until a first
code confirms it; then every password route of every dialect answers 401 with
``"NeedsCode": true`` and no token until a code comes; a TOTP code is accepted once, a
recovery code once; wrong codes are held to the failed-login limits; turning it off, a
password change and erasing the account ask for a code; ``CHAT_REQUIRE_2FA`` lets a
person without one do nothing but enrol; ``chat user 2fa-off`` helps one who lost it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
import trio
from support import (
    PASSWORD,
    Account,
    Server,
    account,
    http_client,
    open_clients,
    raw_upgrade,
    select_rows,
    server_config,
    start_server,
    status_of,
)
from test_cli import chat_user
from trio_websocket import ConnectionClosed

#: The steps a test may use after the confirming code's, within the server's drift
#: window (one step either side of now).
NEXT = 30


async def enrol(server: Server, user: Account) -> tuple[str, list[str]]:
    """Turn two-factor authentication on for `user`: its secret and recovery codes. The
    confirming code is the current step's, so a login's next code is `code(secret)`."""
    async with http_client(server) as client:
        started = await client.post("/me/2fa", headers=user.auth)
        assert started.status_code == 200, started.text
        secret = started.json()["Secret"]
        confirmed = await client.post(
            "/me/2fa/confirm", json={"Code": pyotp.TOTP(secret).now()}, headers=user.auth
        )
    assert confirmed.status_code == 200, confirmed.text
    return secret, confirmed.json()["RecoveryCodes"]


def code(secret: str) -> str:
    """A code the server has not accepted yet: the next step's."""
    return pyotp.TOTP(secret).at(time.time() + NEXT)


async def put_login(server: Server, user: Account, **more: Any) -> httpx.Response:
    async with http_client(server) as client:
        return await client.put(
            "/login", json={"Email": user.email, "Password": user.password, **more}
        )


async def test_an_enrolment_shows_a_secret_and_a_qr_code_and_is_not_in_force_yet(
    server: Server,
) -> None:
    alice = await account(server, "alice")
    async with http_client(server) as client:
        started = await client.post("/me/2fa", headers=alice.auth)
        state = (await client.get("/me/2fa", headers=alice.auth)).json()
    body = started.json()
    assert started.status_code == 200
    assert body["URI"].startswith("otpauth://totp/chat:alice?secret=" + body["Secret"])
    assert body["QR"].startswith("data:image/svg+xml")
    assert state == {"Enabled": False, "Pending": True, "RecoveryCodesLeft": 0, "Required": False}
    assert (await put_login(server, alice)).status_code == 200


async def test_confirming_with_a_wrong_code_leaves_it_off(server: Server) -> None:
    alice = await account(server, "alice")
    async with http_client(server) as client:
        await client.post("/me/2fa", headers=alice.auth)
        wrong = await client.post("/me/2fa/confirm", json={"Code": "000000"}, headers=alice.auth)
    # One chance in a million that 000000 is right: then the assertion names it.
    assert wrong.status_code == 401 and wrong.json()["NeedsCode"] is True, wrong.text
    assert (await put_login(server, alice)).status_code == 200


async def test_confirming_gives_ten_different_recovery_codes_stored_only_hashed(
    server: Server,
) -> None:
    alice = await account(server, "alice")
    _, codes = await enrol(server, alice)
    assert len(set(codes)) == 10
    rows = await select_rows(server.config, "SELECT code_hash FROM two_factor_recovery_codes")
    assert len(rows) == 10 and not any(c in repr(rows) for c in codes)


async def test_every_password_route_asks_for_the_code_and_gives_no_token(server: Server) -> None:
    alice = await account(server, "alice")
    await enrol(server, alice)
    bodies = [
        ("POST", "/auth", {"name": "alice", "password": PASSWORD}),
        ("POST", "/api/login", {"username": "alice", "password": PASSWORD}),
        ("POST", "/login", {"email": alice.email, "password": PASSWORD}),
        ("PUT", "/login", {"Email": alice.email, "Password": PASSWORD}),
        ("POST", "/session", {"Username": "alice", "Password": PASSWORD}),
        ("POST", "/v1/auth/", {"user_name": "alice", "password": PASSWORD}),
    ]
    async with http_client(server) as client:
        for method, path, body in bodies:
            response = await client.request(method, path, json=body)
            assert response.status_code == 401, (path, response.text)
            assert response.json()["NeedsCode"] is True, path
            assert "token" not in response.text and "set-cookie" not in response.headers


async def test_a_totp_code_logs_in_once_and_its_replay_is_refused(server: Server) -> None:
    alice = await account(server, "alice")
    secret, _ = await enrol(server, alice)
    now = code(secret)
    first = await put_login(server, alice, Code=now)
    assert first.status_code == 200 and first.json()["token"]
    again = await put_login(server, alice, Code=now)
    assert again.status_code == 401 and again.json()["NeedsCode"] is True
    assert "token" not in again.json()


async def test_the_confirming_code_cannot_log_in(server: Server) -> None:
    alice = await account(server, "alice")
    async with http_client(server) as client:
        secret = (await client.post("/me/2fa", headers=alice.auth)).json()["Secret"]
        confirming = pyotp.TOTP(secret).now()
        await client.post("/me/2fa/confirm", json={"Code": confirming}, headers=alice.auth)
    assert (await put_login(server, alice, Code=confirming)).status_code == 401


async def test_a_recovery_code_logs_in_once_on_the_lower_case_dialects(server: Server) -> None:
    alice = await account(server, "alice")
    _, codes = await enrol(server, alice)
    body = {"username": "alice", "password": PASSWORD, "code": codes[3].upper()}
    async with http_client(server) as client:
        first = await client.post("/api/login", json=body)
        again = await client.post("/api/login", json=body)
        state = (await client.get("/me/2fa", headers=alice.auth)).json()
    assert first.status_code == 200 and first.json()["token"]
    assert again.status_code == 401 and again.json()["NeedsCode"] is True
    assert state["RecoveryCodesLeft"] == 9


async def test_the_support_dialect_logs_in_with_a_code(server: Server) -> None:
    alice = await account(server, "alice")
    secret, _ = await enrol(server, alice)
    body = {"user_name": "alice", "password": PASSWORD, "code": code(secret)}
    async with http_client(server) as client:
        response = await client.post("/v1/auth/", json=body)
    assert response.status_code == 200 and response.json()["result"]["token"]


async def test_a_wrong_password_with_a_right_code_is_plain_invalid_credentials(
    server: Server,
) -> None:
    alice = await account(server, "alice")
    secret, _ = await enrol(server, alice)
    response = await put_login(server, alice, Password="wrong password", Code=code(secret))
    assert response.status_code == 401 and response.json() == {"error": "invalid credentials"}


async def test_wrong_codes_are_held_to_the_failed_login_limit(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    config = server_config(tmp_path, None, rate_limits=True, rate_login_failures="3 per hour")
    server = await start_server(nursery, config)
    alice = await account(server, "alice")
    await enrol(server, alice)
    statuses = [(await put_login(server, alice, Code="000000")).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]


async def test_a_password_alone_is_not_counted_as_a_failure(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    config = server_config(tmp_path, None, rate_limits=True, rate_login_failures="3 per hour")
    server = await start_server(nursery, config)
    alice = await account(server, "alice")
    secret, _ = await enrol(server, alice)
    for _ in range(4):
        assert (await put_login(server, alice)).status_code == 401
    assert (await put_login(server, alice, Code=code(secret))).status_code == 200


async def test_turning_it_off_needs_the_password_and_a_code_and_is_audited(
    server: Server,
) -> None:
    alice = await account(server, "alice")
    _, codes = await enrol(server, alice)
    async with http_client(server) as client:

        async def off(body: dict[str, str]) -> httpx.Response:
            return await client.request("DELETE", "/me/2fa", json=body, headers=alice.auth)

        no_code = await off({"Password": PASSWORD})
        wrong_password = await off({"Password": "wrong password", "Code": codes[0]})
        done = await off({"Password": PASSWORD, "Code": codes[1]})
    assert no_code.status_code == 401 and no_code.json()["NeedsCode"] is True
    assert wrong_password.status_code == 401
    assert done.status_code == 204
    assert (await put_login(server, alice)).status_code == 200
    rows = await select_rows(
        server.config, "SELECT action, actor_id, room_id FROM audit_log ORDER BY id"
    )
    assert rows == [("2fa-enable", alice.uid, None), ("2fa-disable", alice.uid, None)]


async def test_a_password_change_and_erasure_ask_for_the_code(server: Server) -> None:
    alice = await account(server, "alice")
    secret, _ = await enrol(server, alice)
    change = {"OldPassword": PASSWORD, "NewPassword": "a new password"}
    async with http_client(server) as client:
        asked = await client.put("/password", json=change, headers=alice.auth)
        erase = await client.request(
            "DELETE", "/me", json={"Password": PASSWORD}, headers=alice.auth
        )
        changed = await client.put(
            "/password", json={**change, "Code": code(secret)}, headers=alice.auth
        )
    assert asked.status_code == 401 and asked.json()["NeedsCode"] is True
    assert erase.status_code == 401 and erase.json()["NeedsCode"] is True
    assert changed.status_code == 200, changed.text


async def test_a_personal_access_token_cannot_turn_it_on(server: Server) -> None:
    alice = await account(server, "alice")
    async with http_client(server) as client:
        made = await client.post(
            "/tokens", json={"Name": "ci", "Scopes": ["read", "write"]}, headers=alice.auth
        )
        token = {"Authorization": f"Bearer {made.json()['Token']}"}
        response = await client.post("/me/2fa", headers=token)
    assert response.status_code == 403


async def test_enrolling_twice_is_a_conflict_and_a_code_too_long_is_invalid(
    server: Server,
) -> None:
    alice = await account(server, "alice")
    await enrol(server, alice)
    async with http_client(server) as client:
        again = await client.post("/me/2fa", headers=alice.auth)
    assert again.status_code == 409
    assert (await put_login(server, alice, Code="1" * 65)).status_code == 400


async def test_when_required_a_person_without_it_may_only_enrol(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    server = await start_server(nursery, server_config(tmp_path, None, require_2fa=True))
    alice = await account(server, "alice")  # logs in: the password is all they have
    async with http_client(server) as client:
        refused = await client.get("/rooms", headers=alice.auth)
        state = (await client.get("/me/2fa", headers=alice.auth)).json()
    assert refused.status_code == 403 and "two-factor" in refused.json()["error"]
    assert state["Required"] is True
    secret, _ = await enrol(server, alice)
    async with http_client(server) as client:
        allowed = await client.get("/rooms", headers=alice.auth)
    assert allowed.status_code == 200
    assert (await put_login(server, alice, Code=code(secret))).status_code == 200


async def test_when_required_a_session_cookie_without_it_is_refused(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    server = await start_server(nursery, server_config(tmp_path, None, require_2fa=True))
    await account(server, "alice")
    async with http_client(server) as client:
        signed_in = await client.post(
            "/session",
            headers={"Origin": server.http},
            json={"Username": "alice", "Password": PASSWORD},
        )
        assert signed_in.status_code == 200
        listed = await client.get("/sessions", headers={"Origin": server.http})
    assert listed.status_code == 403 and "two-factor" in listed.json()["error"]


async def test_an_operator_turns_off_a_lost_second_factor_with_the_command(
    server: Server,
) -> None:
    alice = await account(server, "alice")
    await enrol(server, alice)
    off = await chat_user(server.config, "2fa-off", "alice")
    assert (off.returncode, off.stdout) == (0, b"two-factor authentication of 'alice' is off\n")
    assert (await put_login(server, alice)).status_code == 200
    again = await chat_user(server.config, "2fa-off", "alice")
    assert again.stdout == b"'alice' has no two-factor authentication on\n"
    rows = await select_rows(server.config, "SELECT action, actor_id, target_id FROM audit_log")
    assert rows[-1] == ("2fa-disable", 0, alice.uid)


async def test_when_required_a_websocket_without_it_is_refused_on_every_path(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    server = await start_server(nursery, server_config(tmp_path, None, require_2fa=True))
    alice = await account(server, "alice")
    refused = await raw_upgrade(server, f"/ws?token={alice.token}")
    assert status_of(refused) == b"403" and b"two-factor" in refused
    async with open_clients(server) as clients:
        ws = await clients.connect("/ws?auth=frame")
        await ws.send_message(json.dumps({"Type": "auth", "Token": alice.token}))
        with pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
        support = await clients.connect("/v1/ws")
        auth = {"method": "message.auth", "params": [alice.token], "id": 1}
        await support.send_message(json.dumps(auth))
        with pytest.raises(ConnectionClosed) as support_closed:
            await support.get_message()
    for refusal in (closed.value.reason, support_closed.value.reason):
        assert refusal is not None and refusal.code == 1008
        assert "two-factor" in (refusal.reason or "")
