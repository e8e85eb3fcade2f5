"""Browser sessions on a cluster: the sessions table is the truth, so a session made on
one instance refreshes and signs a WebSocket in on another, and ending it on one ends it
everywhere (logging out everywhere closes its WebSockets on every instance)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cluster import Instance, open_cluster
from support import account, http_client, open_clients, throwaway_postgres_schema
from test_sessions import PASSWORD, cookie_of, refresh, sign_in, with_cookie, ws_headers
from test_token_revocation import closed, still_open


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[list[Instance]]:
    """Two instances on one PostgreSQL schema (its own bus); the sweep too slow to matter:
    only the bus event can close a WebSocket within the test's wait."""
    async with (
        throwaway_postgres_schema() as url,
        open_cluster(tmp_path, url, 2, revocation_sweep=600.0) as instances,
    ):
        yield instances


async def test_a_session_made_on_one_instance_works_on_another(pair: list[Instance]) -> None:
    a, b = pair[0].server, pair[1].server
    await account(a, "alice", PASSWORD)
    first = cookie_of(await sign_in(a, "alice"))
    second = cookie_of(await refresh(b, first))
    third = cookie_of(await refresh(a, second))
    page = f"http://{b.host}"
    async with open_clients(b) as clients:
        ws = await clients.connect("/ws", headers=ws_headers(third, page))
        await still_open(ws)


async def test_a_reuse_detected_on_one_instance_ends_the_session_on_the_other(
    pair: list[Instance],
) -> None:
    a, b = pair[0].server, pair[1].server
    await account(a, "alice", PASSWORD)
    stolen = cookie_of(await sign_in(a, "alice"))
    newer = cookie_of(await refresh(a, cookie_of(await refresh(a, stolen))))
    assert (await refresh(b, stolen)).status_code == 401
    assert (await refresh(a, newer)).status_code == 401


async def test_logging_out_everywhere_on_one_instance_closes_the_cookies_websocket_on_another(
    pair: list[Instance],
) -> None:
    a, b = pair[0].server, pair[1].server
    await account(a, "alice", PASSWORD)
    cookie = cookie_of(await sign_in(a, "alice"))
    async with open_clients(b) as clients:
        ws = await clients.connect("/ws", headers=ws_headers(cookie, f"http://{b.host}"))
        await still_open(ws)
        async with http_client(a) as client:
            response = await client.post("/logout-everywhere", headers=with_cookie(a, cookie))
        assert response.status_code == 200, response.text
        _, code, reason = await closed(ws)
        assert (code, reason) == (1008, "token has been revoked")
    assert (await refresh(b, cookie)).status_code == 401
