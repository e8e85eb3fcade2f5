"""Test helpers: a real server on an ephemeral port, and real HTTP and WebSocket clients."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_client_stream

from chat.core.config import Config, to_environ
from chat.core.outgoing import OutgoingMessage
from chat.core.records import Message, NewMessage
from chat.server.serving import serve
from chat.store import Messages, Store, open_store

#: Generous bound for anything that should happen "at once" on loopback.
STEP = 10.0

TEST_SECRET = "test-secret-" + "x" * 40
#: Where test servers may push by default (CHAT_PUSH_HOSTS): nothing listens there.
NO_PUSH_SERVICE = "127.0.0.1:9"

#: The password `register` and `account` give a user unless told otherwise (new passwords
#: need at least 8 characters).
PASSWORD = "correct horse"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def postgres_url_or_skip() -> str:
    """The base PostgreSQL URL for tests; skips (or fails under CI=true) without one."""
    url = os.environ.get("CHAT_TEST_DATABASE_URL")
    if not url:
        message = "CHAT_TEST_DATABASE_URL is not set; PostgreSQL tests need it"
        if in_ci():
            pytest.fail(message + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(message)
    return url


@asynccontextmanager
async def pg_connection(url: str) -> AsyncIterator[Any]:
    """One PostgreSQL connection outside the server (an asyncpg connection whose methods
    must be called through `trio_asyncio.aio_as_trio`; see `pg_session`)."""
    import asyncpg
    import trio_asyncio

    # One asyncio loop per task: a connection opened inside another's block shares it.
    running = trio_asyncio.current_loop.get() is not None
    async with contextlib.nullcontext() if running else trio_asyncio.open_loop():
        conn = await trio_asyncio.aio_as_trio(asyncpg.connect)(url, timeout=5)
        try:
            yield conn
        finally:
            with trio.move_on_after(2, shield=True):
                await trio_asyncio.aio_as_trio(conn.close)()
            if not conn.is_closed():
                conn.terminate()


@asynccontextmanager
async def pg_session(url: str) -> AsyncIterator[Callable[[str], Awaitable[Any]]]:
    """One PostgreSQL connection outside the server; yields its `execute`. For statements
    that must share a connection, such as a transaction held open across awaits."""
    import trio_asyncio

    async with pg_connection(url) as conn:
        yield trio_asyncio.aio_as_trio(conn.execute)


@asynccontextmanager
async def pg_query(url: str) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """Like `pg_session`, yielding `fetchval` (the first column of the first row)."""
    import trio_asyncio

    async with pg_connection(url) as conn:
        yield trio_asyncio.aio_as_trio(conn.fetchval)


async def while_a_transaction_holds(
    url: str, statements: list[str], waiting: str, call: Callable[[], Awaitable[object]]
) -> list[object]:
    """Run `statements` in a transaction left open, start `call` meanwhile, check that it
    waits for a row lock (a statement containing `waiting`), then commit; what `call`
    returned, or the error it raised, once it has finished."""
    outcome: list[object] = []

    async def run_call() -> None:
        try:
            outcome.append(await call())
        except Exception as error:  # handed to the test, which asserts on it
            outcome.append(error)

    is_waiting = (
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        f" AND datname = current_database() AND query LIKE '%{waiting}%')"
    )
    async with pg_session(url) as execute, pg_query(url) as query:
        await execute("BEGIN")
        for statement in statements:
            await execute(statement)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_call)
            await wait_until_true(query, is_waiting)
            assert outcome == [], "it did not wait for the open transaction"
            await execute("COMMIT")
    return outcome


async def _pg_execute(url: str, sql: str) -> None:
    async with pg_session(url) as execute:
        await execute(sql)


#: True while some session waits for this schema's message id lock (one that a test's
#: own transaction holds): see sql/postgres/0004_cluster.sql for the lock's two keys.
SOMEONE_WAITS_FOR_THE_ID_LOCK = (
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    " AND classid = 1667785076 AND objsubid = 2"
    " AND objid::bigint = (hashtext(current_schema())::bigint & 4294967295))"
)


async def wait_until_true(fetchval: Callable[..., Awaitable[Any]], sql: str) -> None:
    """Return once the query `sql` answers true (`fetchval` from `pg_query`); fail after
    `STEP` seconds."""
    with trio.fail_after(STEP):
        # Polling the database: there is nothing in this process to wait on.
        while not await fetchval(sql):  # noqa: ASYNC110
            await trio.sleep(0.02)


async def wait_for_a_waiter_on_the_id_lock(fetchval: Callable[..., Awaitable[Any]]) -> None:
    """Return once some session waits for the id lock (`fetchval` from `pg_query`)."""
    await wait_until_true(fetchval, SOMEONE_WAITS_FOR_THE_ID_LOCK)


async def _create_throwaway_schema(base: str) -> str:
    """Create a fresh schema on `base`; its name. Skips (fails under CI=true) if
    PostgreSQL does not answer."""
    schema = "chat_test_" + secrets.token_hex(6)
    try:
        await _pg_execute(base, f"CREATE SCHEMA {schema}")
    except OSError as error:
        message = f"PostgreSQL at {base} is unreachable: {error}"
        if in_ci():
            pytest.fail(message + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(message)
    return schema


def _schema_url(base: str, schema: str) -> str:
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}search_path={schema}"


@asynccontextmanager
async def throwaway_postgres_schema() -> AsyncIterator[str]:
    """A fresh schema for one test; yields a database URL whose search_path is that schema."""
    base = postgres_url_or_skip()
    schema = await _create_throwaway_schema(base)
    try:
        yield _schema_url(base, schema)
    finally:
        with trio.CancelScope(shield=True):
            await _pg_execute(base, f"DROP SCHEMA {schema} CASCADE")


@contextmanager
def throwaway_postgres_schema_outside_trio() -> Iterator[str]:
    """`throwaway_postgres_schema` for synchronous code, such as a module-scoped fixture
    that serves it from a `chat serve` process: made and dropped in a `trio.run` each."""
    base = postgres_url_or_skip()
    schema = trio.run(_create_throwaway_schema, base)
    try:
        yield _schema_url(base, schema)
    finally:
        trio.run(_pg_execute, base, f"DROP SCHEMA {schema} CASCADE")


def server_config(tmp_path: Path, database_url: str | None, **changes: Any) -> Config:
    """The configuration every test server starts from: loopback, an ephemeral port, the
    test's own data directory, cheap bcrypt, short timeouts, and `changes`.

    Rate limits are off: tests play many users from one address (127.0.0.1) at machine
    speed, which the limits would refuse. The tests of the limits turn them on."""
    return Config(
        host="127.0.0.1",
        port=0,
        database_url=database_url,
        data_dir=tmp_path / "data",
        jwt_secret=TEST_SECRET,
        bcrypt_cost=4,
        close_timeout=2.0,
        shutdown_timeout=2.0,
        rate_limits=False,
        # Web Push only ever to loopback (a test's own push service; port 9 refuses):
        # never to the browsers' push services.
        push_hosts=(NO_PUSH_SERVICE,),
    ).replace(**changes)


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    config: Config

    @property
    def http(self) -> str:
        return f"http://{self.host}:{self.port}"

    def ws(self, path: str = "/") -> str:
        return f"ws://{self.host}:{self.port}{path}"


async def start_server(nursery: trio.Nursery, config: Config) -> Server:
    host, port = await nursery.start(serve, config)
    return Server(host, port, config)


class StoppableServer:
    """A real server that a test stops (its clients' connections drop) and starts again
    on the same port, as a restart would; its tasks live in the test's nursery."""

    def __init__(self, nursery: trio.Nursery, config: Config) -> None:
        self._nursery = nursery
        self._config = config
        self._scope: trio.CancelScope | None = None
        self._stopped = trio.Event()
        self.server: Server | None = None

    async def start(self) -> Server:
        config = self._config
        if self.server is not None:
            config = config.replace(port=self.server.port)  # where its clients reconnect
        self._scope, self._stopped = trio.CancelScope(), trio.Event()
        host, port = await self._nursery.start(self._serve, config, self._scope, self._stopped)
        self.server = Server(host, port, config)
        return self.server

    async def stop(self) -> None:
        """Stop it, and return once it has let go of everything (the port, the database)."""
        assert self._scope is not None
        self._scope.cancel()
        await self._stopped.wait()

    @staticmethod
    async def _serve(
        config: Config,
        scope: trio.CancelScope,
        stopped: trio.Event,
        *,
        task_status: trio.TaskStatus[tuple[str, int]],
    ) -> None:
        try:
            with scope:
                await serve(config, task_status=task_status)
        finally:
            stopped.set()


#: One TLS context for every test client: httpx would otherwise load the CA certificates
#: again for each client it makes (tens of milliseconds of CPU each, thousands of times),
#: though the tests speak plain HTTP to loopback.
TLS = ssl.create_default_context()


def http_client(server: Server) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.http, timeout=STEP, verify=TLS)


async def read_until_closed(stream: trio.abc.ReceiveStream) -> bytes:
    """Everything the server sends on `stream` until it closes its side (within `STEP`)."""
    received = b""
    with trio.fail_after(STEP):
        while data := await stream.receive_some():
            received += data
    return received


async def raw_upgrade(
    server: Server, target: str, headers: str = "", *, host: str | None = None
) -> bytes:
    """Send a WebSocket upgrade request by hand; the response head (and, for a refusal,
    its body). `headers` are extra header lines, each ending in CRLF; `host` replaces the
    Host header (the server's address)."""
    host = host or f"{server.host}:{server.port}"
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {host}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"{headers}\r\n"
    )
    with trio.fail_after(STEP):
        async with await trio.open_tcp_stream(server.host, server.port) as stream:
            await stream.send_all(request.encode())
            response = b""
            while b"\r\n\r\n" not in response:
                response += await stream.receive_some()
            if not response.startswith(b"HTTP/1.1 101 "):
                # A refusal has a body: read all of it (a proxy may keep the connection).
                head, _, body = response.partition(b"\r\n\r\n")
                length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                while length is None or len(body) < int(length.group(1)):
                    chunk = await stream.receive_some()
                    if not chunk:
                        break
                    body += chunk
                response = head + b"\r\n\r\n" + body
    return response


def status_of(response: bytes) -> bytes:
    """b"101" from b"HTTP/1.1 101 Switching Protocols..."."""
    return response.split(b" ", 2)[1]


async def register(server: Server, name: str, password: str = PASSWORD) -> str:
    """Register a user through spec 002's endpoint; returns its token."""
    async with http_client(server) as client:
        response = await client.post("/api/reg", json={"username": name, "password": password})
    assert response.status_code == 201, response.text
    return response.json()["token"]


def chat_environ(config: Config, **extra: str) -> dict[str, str]:
    """The environment of a `chat serve` process running `config`."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
    environ.update(to_environ(config))
    environ.update(extra)
    return environ


async def run_chat(
    *args: str, env: dict[str, str], stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    """Run the `chat` command (``python -m chat ...``) to the end; its output captured."""
    return await trio.run_process(
        [sys.executable, "-m", "chat", *args],
        env=env,
        stdin=stdin,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )


@dataclass(frozen=True)
class Account:
    """A registered user: its id, name, e-mail, password and a token."""

    uid: int
    name: str
    email: str
    password: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        """Headers for an authenticated request (Bearer form)."""
        return {"Authorization": f"Bearer {self.token}"}


async def account(server: Server, name: str, password: str = PASSWORD) -> Account:
    """Register through spec 004 (/register), log in through PUT /login."""
    email = f"{name.lower().replace(' ', '.')}@example.com"
    async with http_client(server) as client:
        registered = await client.post(
            "/register", json={"Username": name, "Email": email, "Password": password}
        )
        assert registered.status_code == 201, registered.text
        login = await client.put("/login", json={"Email": email, "Password": password})
        assert login.status_code == 200, login.text
    return Account(registered.json()["UID"], name, email, password, login.json()["token"])


async def create_room(
    server: Server, owner: Account, name: str, *members: Account, private: bool = False
) -> int:
    """A group room created by `owner` (spec 004's POST /create-room), which `members`
    join (PUT /join; a private room takes no one that way); its RoomID."""
    async with http_client(server) as client:
        created = await client.post(
            "/create-room", headers=owner.auth, json={"Name": name, "IsPrivate": private}
        )
        assert created.status_code == 201, created.text
        room_id = created.json()["RoomID"]
        for member in members:
            joined = await client.put("/join", headers=member.auth, json={"RoomID": room_id})
            assert joined.status_code == 200, joined.text
    return room_id


class JsonClient:
    """A WebSocket client for the JSON dialects (room protocol, direct messages)."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws

    async def send(self, frame: Any) -> None:
        await self.ws.send_message(frame if isinstance(frame, str) else json.dumps(frame))

    async def receive(self) -> Any:
        with trio.fail_after(STEP):
            return json.loads(await self.ws.get_message())

    async def request(self, frame: Any) -> Any:
        await self.send(frame)
        return await self.receive()


#: UserNotices that may reach a /ws connection just opened before the answer to its first
#: request, about a membership made before it connected through another instance: the
#: bus may bring them late (the HTTP answer does not wait for every instance to hear).
LATE_MEMBERSHIP_NOTICES = ("joined", "room-created", "invited")


async def answer_past_early_frames(ws: JsonClient, frame: dict[str, Any]) -> Any:
    """The answer to `frame` (an ``enter``, say) on a connection just opened, past the
    frames about what happened before it connected: late membership notices
    (`LATE_MEMBERSHIP_NOTICES`), and activity of the room `frame` names (its activity
    window, opened by a message sent before, ends with a frame to every member's
    connection; activity is best effort, docs/PROTOCOL.md)."""
    answer = await ws.request(frame)
    while answer["Type"] in LATE_MEMBERSHIP_NOTICES or (
        answer["Type"] == "activity" and answer["RoomID"] == frame.get("RoomID")
    ):
        answer = await ws.receive()
    return answer


class TalkerClient:
    """A TokenTalker WebSocket client (specs 000/002) with timeouts on every wait."""

    def __init__(self, ws: WebSocketConnection, name: str = "someone", key: str = "name") -> None:
        self.ws = ws
        self.name = name
        self.key = key

    async def say(self, message: str) -> None:
        await self.ws.send_message(json.dumps({self.key: self.name, "message": message}))

    async def receive(self) -> dict[str, Any]:
        with trio.fail_after(STEP):
            return json.loads(await self.ws.get_message())

    async def auth(self, token: str) -> dict[str, Any]:
        await self.say(f"auth {token}")
        reply = await self.receive()
        assert reply.get("error") is None, reply
        return reply

    async def stored(self) -> None:
        """Wait until every chat message this authorized client sent is stored, so that
        other clients can read it. Chat posts are pipelined (`sync` alone only says they
        were handled), but a history request waits for the client's own writes first."""
        await self.say("history 1")
        await self.sync()

    async def sync(self) -> None:
        """Wait until the server has handled every frame sent so far: send a frame that is
        always answered (an error), and read up to that answer."""
        await self.ws.send_message("sync")
        while True:
            frame = await self.receive()
            if frame.get("error", "").startswith("frame is not valid JSON"):
                return


class Clients:
    """WebSocket clients of one server, all closed (with a close handshake) at the end."""

    def __init__(self, nursery: trio.Nursery, server: Server) -> None:
        self._nursery = nursery
        self.server = server
        self._connections: list[tuple[WebSocketConnection, trio.SocketStream]] = []

    async def connect(
        self,
        path: str = "/",
        *,
        receive_buffer: int | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> WebSocketConnection:
        """A raw WebSocket connection. `receive_buffer` shrinks the socket's SO_RCVBUF, for
        clients that are meant to fall behind; `headers` go in the upgrade request."""
        sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_STREAM)
        if receive_buffer is not None:
            sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_RCVBUF, receive_buffer)
        stream = trio.SocketStream(sock)
        try:
            with trio.fail_after(STEP):
                await sock.connect((self.server.host, self.server.port))
                ws = await wrap_client_stream(
                    self._nursery, stream, self.server.host, path, extra_headers=headers
                )
        except BaseException:
            sock.close()
            raise
        # We keep the stream: trio-websocket's client does not close it when the server
        # ends the connection, so the test must.
        self._connections.append((ws, stream))
        return ws

    async def json(self, path: str = "/ws", *, token: str | None = None) -> JsonClient:
        """A client of the JSON dialects; the token, if any, goes in ``?token=``."""
        if token is not None:
            path = f"{path}?token={token}"
        return JsonClient(await self.connect(path))

    async def talker(
        self, *, token: str | None = None, name: str = "someone", key: str = "name"
    ) -> TalkerClient:
        """A TokenTalker client on "/", authenticated if a token is given."""
        client = TalkerClient(await self.connect("/"), name, key)
        if token is not None:
            await client.auth(token)
        return client

    async def aclose(self) -> None:
        for ws, stream in self._connections:
            with trio.move_on_after(1):
                await ws.aclose()
            await trio.aclose_forcefully(stream)


async def evict_a_slow_consumer(clients: Clients) -> ConnectionClosed:
    """Make the server evict a client that reads nothing; how its connection closed.

    The server must run with ``client_queue=8``: a sender posts 400 large messages to a
    fast client, which reads each one (one message per batch: the fast client paces the
    sender, so the slow one is offered a frame at a time until its queue is full) while
    the slow one, with a tiny socket buffer, reads nothing until the end.
    """
    slow = await clients.connect("/", receive_buffer=4096)  # reads nothing for now
    fast = await clients.talker()
    sender = await clients.talker(token=await register(clients.server, "alice"))
    text = "y" * 4000
    for i in range(400):
        await sender.say(f"{i} {text}")
        # The fast client keeps up, reading as we go: it gets every message.
        assert (await fast.receive())["message"] == f"{i} {text}"
    # Now read what the slow client was sent: some frames, then the close.
    try:
        with trio.fail_after(STEP):
            while True:
                await slow.get_message()
    except ConnectionClosed as closed:
        return closed
    raise AssertionError("unreachable: the loop above ends only by an exception")


async def entered(clients: Clients, user: Account, room_id: int) -> JsonClient:
    """A room-protocol connection of `user`'s that has entered `room_id` (presence off, so
    that only messages and answers arrive)."""
    ws = await clients.json("/ws", token=user.token)
    answer = await ws.request({"Type": "enter", "RoomID": room_id, "Presence": False})
    assert answer["Type"] == "entered", answer
    return ws


async def post_confirmed(ws: JsonClient, *texts: str) -> list[dict[str, Any]]:
    """Send messages from a connection in a room; its own copies of them, the
    confirmations (nothing else may arrive on it meanwhile)."""
    for text in texts:
        await ws.send({"Type": "message", "Text": text})
    return [await ws.receive() for _ in texts]


async def room_history(server: Server, user: Account, room_id: int) -> list[dict[str, Any]]:
    """The newest page of a room's messages as `user` reads it (GET /messages), newest first."""
    async with http_client(server) as client:
        response = await client.get(f"/messages/{room_id}", headers=user.auth)
    assert response.status_code == 200, response.text
    return response.json()


@asynccontextmanager
async def open_clients(server: Server) -> AsyncIterator[Clients]:
    # Holds the clients' reader tasks; cancelled once every client has been closed.
    async with trio.open_nursery() as nursery:
        clients = Clients(nursery, server)
        try:
            yield clients
        finally:
            with trio.CancelScope(shield=True):
                await clients.aclose()
            nursery.cancel_scope.cancel()


async def execute_sql(config: Config, sql: str) -> None:
    """Run one statement on the test's database, outside the server (either backend): what
    an administrator or another program does behind the server's back."""
    if config.is_postgres:
        assert config.database_url is not None
        await _pg_execute(config.database_url, sql)
        return
    import sqlite3

    def run() -> None:
        conn = sqlite3.connect(config.sqlite_path)
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(sql)
            conn.commit()
        finally:
            conn.close()

    await trio.to_thread.run_sync(run)


async def select_rows(config: Config, sql: str) -> list[tuple[Any, ...]]:
    """What a query of the test's database answers, read outside the server (either
    backend): to look at what the server stored, or erased."""
    if config.is_postgres:
        import trio_asyncio

        assert config.database_url is not None
        async with pg_connection(config.database_url) as conn:
            return [tuple(row) for row in await trio_asyncio.aio_as_trio(conn.fetch)(sql)]
    import sqlite3

    def run() -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(config.sqlite_path)
        try:
            return [tuple(row) for row in conn.execute(sql).fetchall()]
        finally:
            conn.close()

    return await trio.to_thread.run_sync(run)


async def add_message(store: Messages, room_id: int, sender_id: int, body: str) -> Message:
    """Store one message through the batch API the server uses (`add_messages`), and
    return it once committed."""
    (added,) = await store.add_messages([NewMessage(room_id, sender_id, OutgoingMessage(body))])
    return added.message


@asynccontextmanager
async def store_of_the_release_before(
    config: Config, monkeypatch: pytest.MonkeyPatch, first_new: dict[str, int]
) -> AsyncIterator[Store]:
    """The test's database as the release before a migration left it: opened (and
    migrated) with only the migrations numbered below `first_new[backend]`, for a test
    to fill before the real store upgrades it."""
    import chat.store.postgres.opening
    import chat.store.sqlite.opening
    from chat.store.migrations import Migration, load_migrations

    backend = "postgres" if config.is_postgres else "sqlite"

    def earlier(name: str) -> list[Migration]:
        return [m for m in load_migrations(name) if m.version < first_new[backend]]

    module = chat.store.postgres.opening if config.is_postgres else chat.store.sqlite.opening
    with monkeypatch.context() as patch:
        patch.setattr(module, "load_migrations", earlier)
        async with open_store(config) as store:
            yield store


async def user_of_the_release_before(config: Config, name: str) -> int:
    """Add user `name` to a database `store_of_the_release_before` left, as the releases
    before display names did (today's store reads user columns such a database does not
    have yet): the columns every release since name keys wrote. Its id."""
    from chat.store.accounts import name_keys

    keys = name_keys(name)
    created = "" if config.is_postgres else ", created_at"
    now = "" if config.is_postgres else ", 1700000000000"
    await execute_sql(
        config,
        f"INSERT INTO users (name, name_key, look_key, password_hash{created}) VALUES"
        f" ('{name}', '{keys['name_key']}', '{keys['look_key']}', 'hash'{now})",
    )
    ((user_id,),) = await select_rows(config, f"SELECT id FROM users WHERE name = '{name}'")
    return int(user_id)
