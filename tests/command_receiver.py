"""What the tests of slash commands and outgoing webhooks share: a test web site that
plays the receivers, a server allowed to reach it, and the receiver's own check of a
request's signature (its own HMAC code, not the server's)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from support import Account, JsonClient, server_config
from test_room_moderation import call
from web_site import Reply, Request, WebSite, open_web_site

from chat.core.config import Config


@pytest.fixture(name="site")
async def site_fixture() -> AsyncIterator[WebSite]:
    async with open_web_site() as opened:
        yield opened


@pytest.fixture(name="config")
def config_fixture(tmp_path: Path, database_url: str | None, site: WebSite) -> Config:
    """The test server, allowed to reach the test's site (on loopback) and no other
    private address; a short timeout for the slow receiver's test."""
    return server_config(
        tmp_path, database_url, webhook_hosts=(site.host_entry,), webhook_timeout=1.0
    )


def verified(request: Request, secret: str) -> dict[str, Any]:
    """The request's JSON payload, once its signature is checked as a receiver would."""
    timestamp = request.headers["x-chat-timestamp"]
    signed = timestamp.encode() + b"." + request.body
    expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-chat-signature"], expected)
    assert request.headers["content-type"] == "application/json"
    payload: dict[str, Any] = json.loads(request.body)
    return payload


def answer(text: str, *, ephemeral: bool | None = None) -> Reply:
    body: dict[str, Any] = {"Text": text}
    if ephemeral is not None:
        body["Ephemeral"] = ephemeral
    return Reply(200, json.dumps(body).encode(), "application/json")


async def register(server: Any, who: Account, room_id: int, url: str, **more: Any) -> Any:
    body = {"Command": "/deploy", "URL": url, "Description": "ship a build", **more}
    made = await call(server, who, "POST", f"/room/{room_id}/commands", body)
    assert made.status_code == 201, made.text
    return made.json()


async def next_of(ws: JsonClient, kind: str) -> dict[str, Any]:
    """The next frame of type `kind`, skipping others."""
    while True:
        frame: dict[str, Any] = await ws.receive()
        if frame.get("Type") == kind:
            return frame
