"""One's browser sessions (``GET /sessions``) and logging one of them out
(``DELETE /sessions/{SessionID}``): its cookie is refused and the WebSockets it opened,
by its cookie or by a token it handed out, close at once."""

from __future__ import annotations

import time
from pathlib import Path

import trio
from support import (
    Account,
    Server,
    account,
    execute_sql,
    http_client,
    open_clients,
    server_config,
    start_server,
)
from test_sessions import PASSWORD, cookie_of, refresh, sign_in, with_cookie, ws_headers
from test_token_revocation import closed, still_open

from chat.app.accounts.sessions import SESSION_ENDED

PHONE = "Mozilla/5.0 (Linux; Android 14) Mobile Safari/537.36"


async def sign_in_from(server: Server, user_agent: str) -> tuple[str, str]:
    """A new session of alice's, started by a browser saying `user_agent`: its cookie and
    token."""
    async with http_client(server) as client:
        response = await client.post(
            "/session",
            headers={"Origin": server.http, "User-Agent": user_agent},
            json={"Username": "alice", "Password": PASSWORD},
        )
    assert response.status_code == 200, response.text
    return cookie_of(response), response.json()["token"]


async def sessions_of(server: Server, token: str) -> list[dict]:
    async with http_client(server) as client:
        response = await client.get("/sessions", headers={"Authorization": token})
    assert response.status_code == 200, response.text
    return response.json()


async def end(server: Server, token: str, session_id: str) -> int:
    async with http_client(server) as client:
        response = await client.delete(f"/sessions/{session_id}", headers={"Authorization": token})
    return response.status_code


async def test_the_list_shows_each_sessions_device_and_marks_the_callers_own(
    server: Server,
) -> None:
    await account(server, "alice", PASSWORD)
    await sign_in_from(server, PHONE)
    _, token = await sign_in_from(server, "Desktop Firefox")
    listed = await sessions_of(server, token)
    assert {s["Device"]: s["Current"] for s in listed} == {PHONE: False, "Desktop Firefox": True}
    assert set(listed[0]) == {"SessionID", "Device", "LastSeen", "Current"}
    assert listed[0]["LastSeen"].endswith("Z")


async def test_the_list_shows_no_ended_session(server: Server) -> None:
    await account(server, "alice", PASSWORD)
    phone_cookie, _ = await sign_in_from(server, PHONE)
    async with http_client(server) as client:
        await client.post("/logout", headers=with_cookie(server, phone_cookie))
    _, token = await sign_in_from(server, "Desktop")
    assert [s["Device"] for s in await sessions_of(server, token)] == ["Desktop"]


async def test_ending_another_session_refuses_its_cookie_and_closes_its_websocket(
    server: Server,
) -> None:
    await account(server, "alice", PASSWORD)
    phone_cookie, _ = await sign_in_from(server, PHONE)
    _, token = await sign_in_from(server, "Desktop")
    (phone,) = [s for s in await sessions_of(server, token) if not s["Current"]]
    async with open_clients(server) as clients:
        ws = await clients.connect("/ws", headers=ws_headers(phone_cookie))
        await still_open(ws)
        assert await end(server, token, phone["SessionID"]) == 204
        _, code, reason = await closed(ws)
    assert (code, reason) == (1008, SESSION_ENDED)
    assert (await refresh(server, phone_cookie)).status_code == 401
    assert [s["Device"] for s in await sessions_of(server, token)] == ["Desktop"]


async def test_ending_a_session_closes_a_websocket_opened_with_its_token(
    server: Server,
) -> None:
    await account(server, "alice", PASSWORD)
    _, phone_token = await sign_in_from(server, PHONE)
    _, token = await sign_in_from(server, "Desktop")
    (phone,) = [s for s in await sessions_of(server, token) if not s["Current"]]
    async with open_clients(server) as clients:
        ws = await clients.json("/ws", token=phone_token)
        desktop = await clients.json("/ws", token=token)
        assert await end(server, token, phone["SessionID"]) == 204
        _, code, reason = await closed(ws.ws)
        await still_open(desktop.ws)
    assert (code, reason) == (1008, SESSION_ENDED)


async def test_ending_ones_own_session_clears_the_cookie(server: Server) -> None:
    await account(server, "alice", PASSWORD)
    cookie = cookie_of(await sign_in(server, "alice"))
    async with http_client(server) as client:
        listed = await client.get("/sessions", headers=with_cookie(server, cookie))
        (mine,) = listed.json()
        assert mine["Current"] is True
        response = await client.delete(
            f"/sessions/{mine['SessionID']}", headers=with_cookie(server, cookie)
        )
    assert response.status_code == 204
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert (await refresh(server, cookie)).status_code == 401


async def test_another_users_or_an_unknown_session_is_404(server: Server) -> None:
    await account(server, "alice", PASSWORD)
    bob: Account = await account(server, "bob", PASSWORD)
    _, token = await sign_in_from(server, "Desktop")
    (alices,) = await sessions_of(server, token)
    assert await end(server, bob.token, alices["SessionID"]) == 404
    assert await end(server, token, "x" * 22) == 404
    assert await end(server, token, "x" * 500) == 404
    assert len(await sessions_of(server, token)) == 1


async def test_listing_sessions_without_a_token_or_cookie_is_401(server: Server) -> None:
    async with http_client(server) as client:
        assert (await client.get("/sessions")).status_code == 401


async def test_a_session_ended_in_the_table_alone_closes_at_the_next_sweep(
    tmp_path: Path, database_url: str | None
) -> None:
    """No event (a bus that lost it, an instance that died after its commit): the
    periodic sweep asks the table which sessions have ended."""
    config = server_config(tmp_path, database_url, revocation_sweep=0.2)
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, config)
        await account(server, "alice", PASSWORD)
        cookie, _ = await sign_in_from(server, PHONE)
        async with open_clients(server) as clients:
            ws = await clients.connect("/ws", headers=ws_headers(cookie))
            await still_open(ws)
            await execute_sql(config, f"UPDATE sessions SET revoked_at = {int(time.time())}")
            _, code, reason = await closed(ws)
        assert (code, reason) == (1008, SESSION_ENDED)
        nursery.cancel_scope.cancel()
