"""Invite links on a cluster under ``CHAT_REGISTRATION=invite``: the table is the truth,
so a link made on one instance admits on another (into its rooms), its last use taken
there is gone here, and one revoked on one instance is refused on the other at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cluster import Instance, open_cluster
from support import Server, create_room, http_client, throwaway_postgres_schema
from test_support import operator


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[list[Instance]]:
    """Two instances on one PostgreSQL schema, registration by invitation only."""
    async with (
        throwaway_postgres_schema() as url,
        open_cluster(tmp_path, url, 2, registration="invite") as instances,
    ):
        yield instances


async def _register(server: Server, name: str, code: str) -> httpx.Response:
    body = {"username": name, "password": "pw-long-1", "invite": code}
    async with http_client(server) as client:
        return await client.post("/api/reg", json=body)


async def _made(server: Server, **body: Any) -> dict[str, Any]:
    op = await operator(server)
    async with http_client(server) as client:
        made = await client.post("/invites", json=body, headers=op.auth)
    assert made.status_code == 201, made.text
    return made.json()


async def test_a_link_made_on_one_instance_admits_on_another_into_its_room(
    pair: list[Instance],
) -> None:
    a, b = pair[0].server, pair[1].server
    op = await operator(a, "owner")
    room_id = await create_room(a, op, "welcome")
    code = (await _made(a, Uses=1, RoomIDs=[room_id]))["Code"]
    admitted = await _register(b, "dana", code)
    assert admitted.status_code == 201, admitted.text
    async with http_client(b) as client:
        token = admitted.json()["token"]
        rooms = (await client.get("/rooms", headers={"Authorization": f"Bearer {token}"})).json()
    assert room_id in rooms
    spent = await _register(a, "erin", code)
    assert spent.status_code == 403
    assert "used up" in spent.json()["error"]


async def test_a_link_revoked_on_one_instance_is_refused_on_another(
    pair: list[Instance],
) -> None:
    a, b = pair[0].server, pair[1].server
    made = await _made(a, Uses=5)
    op = await operator(b, "other-op")
    async with http_client(b) as client:
        revoked = await client.delete(f"/invites/{made['InviteID']}", headers=op.auth)
    assert revoked.status_code == 204
    refused = await _register(a, "dana", made["Code"])
    assert refused.status_code == 403
