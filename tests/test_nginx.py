"""Three instances behind Debian's nginx, configured with deploy/nginx/chat.conf.

Clients only ever talk to nginx. One instance is killed (SIGKILL, no goodbye) while they
chat; its clients reconnect through nginx, resume with SinceID, resend what was not
confirmed with the same ClientMsgID, and nothing is lost, repeated or reordered.
"""

from __future__ import annotations

import json
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
import trio
from cluster import Instance, Nginx, free_port, open_cluster, start_nginx
from support import (
    STEP,
    Account,
    Server,
    account,
    http_client,
    open_clients,
    raw_upgrade,
    status_of,
    throwaway_postgres_schema,
)
from test_sessions import COOKIE, cookie_of
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection

from chat.core.config import Config
from chat.store import open_store

#: Messages each client sends, one at a time (the next once the last was confirmed).
PER_CLIENT = 12


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    async with throwaway_postgres_schema() as url:
        yield url


@pytest.fixture
async def site(tmp_path: Path, database_url: str) -> AsyncIterator[tuple[Nginx, list[Instance]]]:
    async with open_cluster(tmp_path, database_url, 3) as instances:
        nginx = await start_nginx(tmp_path, [(i.host, i.port) for i in instances])
        try:
            yield nginx, instances
        finally:
            with trio.CancelScope(shield=True):
                await nginx.stop()


async def _next_frame_but_activity(ws: WebSocketConnection) -> dict[str, Any]:
    """The next frame that is not an ``activity`` one: a connection not yet in the room
    hears of its messages as activity (the others are already talking)."""
    while (frame := json.loads(await ws.get_message()))["Type"] == "activity":
        pass
    return cast(dict[str, Any], frame)


class ResumingClient:
    """A /ws client that keeps one room's conversation whole across reconnections: it
    enters with SinceID (the last id it saw), resends its unconfirmed message with the
    same ClientMsgID, and checks that ids only ever go up."""

    def __init__(self, nginx: Server, user: Account, room_id: int, total: int) -> None:
        self.nginx = nginx
        self.user = user
        self.room_id = room_id
        self.total = total  # messages the room will hold when everyone is done
        self.ids: list[int] = []
        self.confirmed = 0
        self.sent: set[str] = set()  # every ClientMsgID sent, resends included
        self.reconnections = 0
        self.connected = trio.Event()

    def _client_msg_id(self, n: int) -> str:
        return f"{self.user.name}-{n}"

    async def run(self) -> None:
        while True:
            try:
                async with open_clients(self.nginx) as connections:
                    ws = await connections.connect(f"/ws?token={self.user.token}")
                    await self._converse(ws)
                return
            except* (ConnectionClosed, HandshakeError, OSError):
                pass  # the instance went away: connect again (nginx picks another)
            self.reconnections += 1
            await trio.sleep(0.05)

    async def _converse(self, ws: WebSocketConnection) -> None:
        since = self.ids[-1] if self.ids else 0
        enter = {"Type": "enter", "RoomID": self.room_id, "SinceID": since, "Presence": False}
        await ws.send_message(json.dumps(enter))
        entered = await _next_frame_but_activity(ws)
        assert entered["Type"] == "entered", entered
        self.connected.set()
        pending = None  # the ClientMsgID sent and not confirmed yet
        while not (self.confirmed == PER_CLIENT and len(self.ids) == self.total):
            if pending is None and self.confirmed < PER_CLIENT:
                pending = self._client_msg_id(self.confirmed)
                self.sent.add(pending)
                message = {"Type": "message", "Text": pending, "ClientMsgID": pending}
                await ws.send_message(json.dumps(message))
            with trio.fail_after(STEP):
                frame = await _next_frame_but_activity(ws)
            assert frame["Type"] == "message", frame
            ours = frame["UID"] == self.user.uid
            if frame["MessageID"] in self.ids:
                # Only a resend's confirmation may repeat a message already seen (the
                # original came in the resumed backlog before the answer to the resend).
                assert ours and frame.get("ClientMsgID") in self.sent, (
                    f"{self.user.name} received message {frame['MessageID']} twice"
                )
                continue
            assert not self.ids or frame["MessageID"] > self.ids[-1], "out of order"
            self.ids.append(frame["MessageID"])
            if ours and frame.get("ClientMsgID") == pending:
                self.confirmed += 1
                pending = None


async def test_clients_of_a_killed_instance_resume_through_nginx_and_lose_nothing(
    site: tuple[Nginx, list[Instance]], database_url: str
) -> None:
    nginx, instances = site
    users = [await account(nginx.server, f"user{i}") for i in range(9)]
    async with http_client(nginx.server) as client:
        created = await client.post(
            "/create-room", headers=users[0].auth, json={"Name": "room", "IsPrivate": False}
        )
        room_id = created.json()["RoomID"]
        for user in users[1:]:
            await client.put("/join", headers=user.auth, json={"RoomID": room_id})
    total = len(users) * PER_CLIENT
    clients = [ResumingClient(nginx.server, user, room_id, total) for user in users]
    with trio.fail_after(6 * STEP):
        async with trio.open_nursery() as nursery:
            for client in clients:
                nursery.start_soon(client.run)
            for client in clients:
                await client.connected.wait()
            # Kill one instance while everyone is talking (a third of the way through).
            while sum(c.confirmed for c in clients) < total // 3:  # noqa: ASYNC110
                await trio.sleep(0.01)
            killed = instances[1]
            assert await killed.stop(signal.SIGKILL) == -signal.SIGKILL
    assert sum(client.reconnections for client in clients) > 0, "nobody was on the killed one"

    async with open_store(Config(database_url=database_url)) as store:
        stored = await store.messages_before(room_id, None, 1000)
    table = sorted(message.id for message in stored)
    for client in clients:
        assert client.ids == table
    assert sorted(m.client_msg_id for m in stored) == sorted(
        f"{user.name}-{n}" for user in users for n in range(PER_CLIENT)
    )


async def _upgrade_from_the_sites_own_page(nginx: Nginx, user: Account) -> None:
    """A /ws upgrade with the token in the URL, as a page of the site's own would ask."""
    own_origin = f"Origin: http://127.0.0.1:{nginx.port}\r\n"
    response = await raw_upgrade(nginx.server, f"/ws?token={user.token}", own_origin)
    assert status_of(response) == b"101"


async def test_nginx_passes_the_browsers_host_to_the_origin_check(
    site: tuple[Nginx, list[Instance]],
) -> None:
    nginx, _instances = site
    user = await account(nginx.server, "user")
    await _upgrade_from_the_sites_own_page(nginx, user)
    elsewhere = await raw_upgrade(
        nginx.server, f"/ws?token={user.token}", "Origin: http://evil.example\r\n"
    )
    assert status_of(elsewhere) == b"403", elsewhere


async def test_tokens_in_websocket_urls_stay_out_of_nginxs_access_log(
    site: tuple[Nginx, list[Instance]], tmp_path: Path
) -> None:
    nginx, _instances = site
    user = await account(nginx.server, "user")
    await _upgrade_from_the_sites_own_page(nginx, user)
    async with http_client(nginx.server) as client:
        found = await client.get("/users?prefix=us", headers=user.auth)
    assert found.status_code == 200
    log = tmp_path / "nginx" / "access.log"
    # nginx writes a WebSocket's line when it closes, and any line once the answer is
    # sent (the client may have read it already), each by one of its workers.
    with trio.fail_after(STEP):
        # Polling a file another process writes: nothing in this one to wait on.
        while not {"/ws", "/users"} <= set(re.findall(r'"GET (/\w+)', log.read_text())):  # noqa: ASYNC110
            await trio.sleep(0.05)
    text = log.read_text()
    assert user.token not in text
    assert '"GET /ws HTTP/1.1" 101' in text
    assert '"GET /users HTTP/1.1" 200' in text  # no query string is logged
    assert "prefix=us" not in text


async def test_a_failed_websocket_with_a_token_in_its_url_leaves_it_in_no_nginx_log(
    tmp_path: Path,
) -> None:
    """Every instance down: nginx answers 502, and its error log says why with the request
    line as the client sent it, which for ?token= would hold the token. The shipped site
    writes no error log for those; a request without a token still gets its line."""
    # Three ports nobody listens on: each connection is refused.
    nginx = await start_nginx(tmp_path, [("127.0.0.1", free_port()) for _ in range(3)])
    secret = "SECRET" + "x" * 40
    try:
        own_origin = f"Origin: http://127.0.0.1:{nginx.port}\r\n"
        for target in (f"/ws?token={secret}", f"/v1/ws?a=1&token={secret}", f"/?token={secret}"):
            refused = await raw_upgrade(nginx.server, target, own_origin)
            assert status_of(refused) == b"502", refused
        async with http_client(nginx.server) as client:
            assert (await client.get("/livez?probe=1")).status_code == 502
        home = tmp_path / "nginx"
        with trio.fail_after(STEP):  # each line is written once its answer is sent
            while (home / "access.log").read_text().count(" 502 ") < 4:  # noqa: ASYNC110
                await trio.sleep(0.05)
    finally:
        with trio.CancelScope(shield=True):
            await nginx.stop()
    logs = {path.name: path.read_text() for path in home.glob("*.log")}
    logs["nginx.log"] = nginx.log
    assert {"access.log", "error.log"} <= set(logs)
    assert [name for name, text in logs.items() if secret in text] == []
    # The error log works, and names the request without a token.
    assert 'request: "GET /livez?probe=1 HTTP/1.1"' in logs["error.log"]
    assert "connect() failed" in logs["error.log"]
    assert '"GET /ws HTTP/1.1" 502' in logs["access.log"]


async def test_the_browsers_session_stays_out_of_nginxs_access_log(
    site: tuple[Nginx, list[Instance]], tmp_path: Path
) -> None:
    """The browser's flow through nginx: sign in, refresh, a WebSocket signed in by the
    cookie, another by its first frame. No cookie, secret or token reaches the log."""
    nginx, _instances = site
    user = await account(nginx.server, "user")
    page = {"Origin": nginx.server.http}
    async with http_client(nginx.server) as client:
        signed_in = await client.post(
            "/session", headers=page, json={"Username": "user", "Password": user.password}
        )
        assert signed_in.status_code == 200, signed_in.text
        first = cookie_of(signed_in)
        refreshed = await client.post(
            "/session/refresh", headers={**page, "Cookie": f"{COOKIE}={first}"}
        )
        assert refreshed.status_code == 200, refreshed.text
    second = cookie_of(refreshed)
    own_page = f"Origin: {nginx.server.http}\r\nCookie: {COOKIE}={second}\r\n"
    assert status_of(await raw_upgrade(nginx.server, "/ws", own_page)) == b"101"
    async with open_clients(nginx.server) as clients:
        ws = await clients.connect("/ws?auth=frame")
        await ws.send_message(json.dumps({"Type": "auth", "Token": refreshed.json()["token"]}))
        with trio.fail_after(STEP):
            assert json.loads(await ws.get_message())["Type"] == "authenticated"
    log = tmp_path / "nginx" / "access.log"
    with trio.fail_after(STEP):  # nginx writes a WebSocket's line when it closes
        while log.read_text().count("GET /ws") < 2 or "/session/refresh" not in log.read_text():  # noqa: ASYNC110
            await trio.sleep(0.05)
    text = log.read_text()
    secrets = [
        first,
        second,
        *first.split("."),
        second.split(".")[1],
        signed_in.json()["token"],
        refreshed.json()["token"],
    ]
    assert not [secret for secret in secrets if secret in text]
    assert '"POST /session/refresh HTTP/1.1" 200' in text
    assert text.count('"GET /ws HTTP/1.1" 101') == 2  # the cookie's and ?auth=frame's
    assert "auth=frame" not in text


async def test_metrics_are_served_to_the_machine_itself_only(
    site: tuple[Nginx, list[Instance]],
) -> None:
    nginx, _instances = site
    async with http_client(nginx.server) as client:
        assert (await client.get("/metrics")).status_code == 200  # from 127.0.0.1
    # From another address (127.0.0.2 is loopback too, but not in nginx's allow list).
    with trio.fail_after(STEP):
        stream = await trio.open_tcp_stream("127.0.0.1", nginx.port, local_address="127.0.0.2")
        async with stream:
            await stream.send_all(
                f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{nginx.port}\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            answer = b""
            while chunk := await stream.receive_some():
                answer += chunk
    assert status_of(answer) == b"403", answer
