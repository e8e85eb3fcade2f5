"""The account screen on a cluster: a display name set through one instance is on the
messages another instance sends (new frames, and history it kept in memory), and a
session logged out through one instance has its WebSockets on another closed at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from cluster import Instance, open_cluster
from support import (
    STEP,
    account,
    answer_past_early_frames,
    http_client,
    open_clients,
    post_confirmed,
    room_history,
    throwaway_postgres_schema,
)
from test_session_list import PHONE, end, sessions_of, sign_in_from
from test_sessions import PASSWORD, refresh, ws_headers
from test_token_revocation import closed, still_open

from chat.app.accounts.sessions import SESSION_ENDED

LOBBY = 1


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[list[Instance]]:
    """Two instances on one PostgreSQL schema (its own bus); the revocation sweep too slow
    to matter: only the bus event can close a WebSocket within the test's wait."""
    async with (
        throwaway_postgres_schema() as url,
        open_cluster(tmp_path, url, 2, revocation_sweep=600.0) as instances,
    ):
        yield instances


async def test_a_display_name_set_on_one_instance_is_on_anothers_frames_and_history(
    pair: list[Instance],
) -> None:
    a, b = pair[0].server, pair[1].server
    alice = await account(a, "alice", PASSWORD)
    bob = await account(a, "bob", PASSWORD)
    async with open_clients(a) as on_a, open_clients(b) as on_b:
        alices = await on_a.json("/ws", token=alice.token)
        bobs = await on_b.json("/ws", token=bob.token)
        enter = {"Type": "enter", "RoomID": LOBBY, "Presence": False}
        assert (await answer_past_early_frames(alices, enter))["Type"] == "entered"
        assert (await answer_past_early_frames(bobs, enter))["Type"] == "entered"
        await post_confirmed(alices, "before")
        assert "DisplayName" not in await bobs.receive()
        # B keeps the lobby's newest page in memory now.
        assert [m["Text"] for m in await room_history(b, bob, LOBBY)] == ["before"]
        async with http_client(a) as client:
            response = await client.put(
                "/profile", headers=alice.auth, json={"DisplayName": "Alice Liddell"}
            )
        assert response.status_code == 200, response.text
        await post_confirmed(alices, "after")
        frame = await bobs.receive()
    assert frame["DisplayName"] == "Alice Liddell"
    with trio.fail_after(STEP):
        while True:
            history = await room_history(b, bob, LOBBY)
            if all(m.get("DisplayName") == "Alice Liddell" for m in history):
                break
            await trio.sleep(0.05)


async def test_logging_a_session_out_on_one_instance_closes_its_websocket_on_another(
    pair: list[Instance],
) -> None:
    a, b = pair[0].server, pair[1].server
    await account(a, "alice", PASSWORD)
    phone_cookie, _ = await sign_in_from(a, PHONE)
    _, token = await sign_in_from(a, "Desktop")
    (phone,) = [s for s in await sessions_of(a, token) if not s["Current"]]
    async with open_clients(b) as clients:
        ws = await clients.connect("/ws", headers=ws_headers(phone_cookie, f"http://{b.host}"))
        await still_open(ws)
        assert await end(a, token, phone["SessionID"]) == 204
        _, code, reason = await closed(ws)
    assert (code, reason) == (1008, SESSION_ENDED)
    assert (await refresh(b, phone_cookie)).status_code == 401
