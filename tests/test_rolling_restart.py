"""A rolling restart behind nginx: three instances on PostgreSQL, restarted one after
another (SIGTERM, drain, exit, start again, /readyz) while clients talk and read.

nginx runs the shipped files (deploy/nginx/nginx.conf and chat.conf); every client talks
to nginx only. HTTP clients read and sign in in a loop; WebSocket clients send with
ClientMsgID and, told 1012 ("service restart") by a draining instance, connect again at
once and resume with SinceID. No client may see a 5xx, and every acknowledged message
must be in the room exactly once, seen by every client in order.
"""

from __future__ import annotations

import json
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import trio
from cluster import (
    Instance,
    Nginx,
    open_cluster,
    start_instance,
    start_nginx,
    upstream_keepalive_s,
)
from support import (
    STEP,
    Account,
    Server,
    account,
    http_client,
    open_clients,
    throwaway_postgres_schema,
)
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    HandshakeError,
    WebSocketConnection,
)

from chat.core.config import Config
from chat.store import open_store

#: Each instance drains this long: past the time nginx keeps an idle connection to it, as
#: docs/DEPLOYMENT.md asks. Shorter (3 s against nginx's 4), a connection nginx had kept
#: idle since before the drain was still open when the instance closed it, and a POST
#: nginx sent on it at that moment came back 502 (nginx never resends a POST).
DRAIN_S = upstream_keepalive_s() + 1.0
#: WebSocket clients, each sending one message at a time, and HTTP clients.
WEBSOCKET_CLIENTS = 6
HTTP_CLIENTS = 3
#: Bounds on the load: a pause after each message or request, and at most this many
#: messages per client.
PAUSE_S = 0.1
MAX_MESSAGES = 400
#: The whole test, restarts and all.
TEST_TIMEOUT_S = 180.0


class Load:
    """What the clients share: when to stop, and what they saw."""

    def __init__(self) -> None:
        #: Set once every instance has been restarted: clients send one more message each
        #: (proving they are live), then stop sending.
        self.restarted = trio.Event()
        self.retired = 0
        #: The number of messages in the room, once every client stopped sending.
        self.total: int | None = None
        self.http_statuses: list[int] = []
        self.rejections: list[int] = []  # WebSocket handshakes refused (statuses)
        self.close_codes: list[int] = []

    def retire(self, clients: int) -> None:
        self.retired += 1
        if self.retired == clients:
            self.total = sum(client.confirmed for client in self.clients)

    clients: list[RestartedClient]


class RestartedClient:
    """A /ws client that keeps one room's conversation whole across restarts: told to go
    (1012) or cut off, it connects again through nginx, enters with SinceID, and resends
    its unconfirmed message with the same ClientMsgID."""

    def __init__(self, nginx: Server, user: Account, room_id: int, load: Load) -> None:
        self.nginx = nginx
        self.user = user
        self.room_id = room_id
        self.load = load
        self.ids: list[int] = []
        self.confirmed = 0
        self.confirmed_after_restarts = 0
        self.sent: set[str] = set()
        self.retired = False
        self.connections = 0

    async def run(self) -> None:
        while True:
            try:
                async with open_clients(self.nginx) as connections:
                    ws = await connections.connect(f"/ws?token={self.user.token}")
                    self.connections += 1
                    if await self._converse(ws):
                        return
            except* ConnectionRejected as refused:
                for error in refused.exceptions:
                    assert isinstance(error, ConnectionRejected)
                    self.load.rejections.append(error.status_code)
            except* ConnectionClosed as closed:
                for error in closed.exceptions:
                    assert isinstance(error, ConnectionClosed)
                    self.load.close_codes.append(error.reason.code)
            except* (HandshakeError, OSError):
                pass  # nginx itself was unreachable for a moment: connect again
            # Told to go (1012): at once, as docs/PROTOCOL.md asks; nginx picks another.

    async def _converse(self, ws: WebSocketConnection) -> bool:
        """Talk until the room is complete (True) or the connection ends (raises)."""
        since = self.ids[-1] if self.ids else 0
        enter = {"Type": "enter", "RoomID": self.room_id, "SinceID": since, "Presence": False}
        await ws.send_message(json.dumps(enter))
        with trio.fail_after(STEP):
            # Activity in the user's other rooms may come first.
            while (entered := json.loads(await ws.get_message()))["Type"] == "activity":
                pass
        assert entered["Type"] == "entered", entered
        pending: str | None = None
        pending_after_restarts = False
        while True:
            if self.load.total is not None and len(self.ids) >= self.load.total:
                return True
            if pending is None and not self.retired:
                live = self.load.restarted.is_set()
                if (live and self.confirmed_after_restarts > 0) or self.confirmed >= MAX_MESSAGES:
                    self.retired = True
                    self.load.retire(WEBSOCKET_CLIENTS)
                    continue
                pending = f"{self.user.name}-{self.confirmed}"
                self.sent.add(pending)
                message = {"Type": "message", "Text": pending, "ClientMsgID": pending}
                await ws.send_message(json.dumps(message))
                pending_after_restarts = live
            # Short waits, so that a client whose history is complete notices the total.
            with trio.move_on_after(0.2):
                frame = json.loads(await ws.get_message())
                if frame["Type"] != "message":
                    continue
                ours = frame["UID"] == self.user.uid
                if frame["MessageID"] in self.ids:
                    # Only a resend's confirmation may repeat a message already seen.
                    assert ours and frame.get("ClientMsgID") in self.sent, frame
                else:
                    assert not self.ids or frame["MessageID"] > self.ids[-1], "out of order"
                    self.ids.append(frame["MessageID"])
                if ours and pending is not None and frame.get("ClientMsgID") == pending:
                    self.confirmed += 1
                    if pending_after_restarts:
                        self.confirmed_after_restarts += 1
                    pending = None
                    await trio.sleep(PAUSE_S)


async def read_in_a_loop(nginx: Server, user: Account, room_id: int, load: Load) -> None:
    """GET history, GET the user's rooms and POST a sign-in, through nginx, until the
    restarts are over; every status kept."""
    async with http_client(nginx) as client:
        while not load.restarted.is_set():
            for request in (
                client.build_request("GET", f"/messages/{room_id}", headers=user.auth),
                client.build_request("GET", "/rooms", headers=user.auth),
                client.build_request(
                    "PUT", "/login", json={"Email": user.email, "Password": user.password}
                ),
                client.build_request(
                    "POST", "/auth", json={"name": user.name, "password": user.password}
                ),
            ):
                try:
                    response = await client.send(request)
                except httpx.TransportError as error:
                    pytest.fail(f"{request.method} {request.url.path} through nginx: {error!r}")
                load.http_statuses.append(response.status_code)
                assert response.status_code < 500, (request.url.path, response.text)
                await trio.sleep(PAUSE_S)


async def ready(instance: Instance) -> None:
    """Wait until the (re)started instance answers /readyz with 200."""
    async with http_client(instance.server) as client:
        while (await client.get("/readyz")).status_code != 200:  # noqa: ASYNC110
            await trio.sleep(0.05)


async def restart(instance: Instance, log_path: Path) -> Instance:
    """SIGTERM, wait for the drain and the exit, start it again on the same address."""
    instance.process.send_signal(signal.SIGTERM)
    with trio.fail_after(DRAIN_S + STEP):
        code = await instance.process.wait()
    assert code == 0, instance.log
    assert f"draining for {DRAIN_S:g} s" in instance.log
    config = instance.config.replace(port=instance.port)  # where nginx sends its clients
    restarted = await start_instance(config, log_path)
    await ready(restarted)  # and the next one at once: the recipe in docs/DEPLOYMENT.md
    return restarted


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    async with throwaway_postgres_schema() as url:
        yield url


async def test_a_rolling_restart_behind_nginx_loses_nothing_and_shows_no_5xx(
    tmp_path: Path, database_url: str
) -> None:
    async with open_cluster(tmp_path, database_url, 3, drain_seconds=DRAIN_S) as instances:
        nginx: Nginx = await start_nginx(tmp_path, [(i.host, i.port) for i in instances])
        running = list(instances)
        try:
            site = nginx.server
            users = [await account(site, f"user{i}") for i in range(WEBSOCKET_CLIENTS)]
            async with http_client(site) as client:
                created = await client.post(
                    "/create-room",
                    headers=users[0].auth,
                    json={"Name": "room", "IsPrivate": False},
                )
                room_id = created.json()["RoomID"]
                for user in users[1:]:
                    joined = await client.put("/join", headers=user.auth, json={"RoomID": room_id})
                    assert joined.status_code == 200, joined.text
            load = Load()
            clients = [RestartedClient(site, user, room_id, load) for user in users]
            load.clients = clients
            with trio.fail_after(TEST_TIMEOUT_S):
                async with trio.open_nursery() as nursery:
                    for client in clients:
                        nursery.start_soon(client.run)
                    for user in users[:HTTP_CLIENTS]:
                        nursery.start_soon(read_in_a_loop, site, user, room_id, load)
                    # Every client talking before the first restart.
                    while min(c.confirmed for c in clients) < 2:  # noqa: ASYNC110
                        await trio.sleep(0.05)
                    for number in range(len(running)):
                        log_path = tmp_path / f"instance-{number + 1}-restarted.log"
                        running[number] = await restart(running[number], log_path)
                    load.restarted.set()
        finally:
            with trio.CancelScope(shield=True):
                await nginx.stop()
                for instance in running:
                    if instance not in instances:
                        await instance.stop()

    # No 5xx for any HTTP client, no WebSocket handshake refused with one.
    assert load.http_statuses and all(status < 500 for status in load.http_statuses)
    assert not [status for status in load.rejections if status >= 500], load.rejections
    # The draining instances told their clients to go, and they came back.
    assert 1012 in load.close_codes, load.close_codes
    # Every acknowledged message exactly once; every client saw all of them, in order;
    # every client was live after the restarts (it sent one more and it was confirmed).
    async with open_store(Config(database_url=database_url)) as store:
        stored = await store.messages_before(room_id, None, 10 * MAX_MESSAGES)
    table = sorted(message.id for message in stored)
    acknowledged = sorted(f"{c.user.name}-{n}" for c in clients for n in range(c.confirmed))
    assert sorted(m.client_msg_id for m in stored) == acknowledged
    for client in clients:
        assert client.ids == table
        assert client.confirmed_after_restarts == 1
