"""When the database is away: every client gets its own protocol's "unavailable" answer,
the server keeps serving what it can, and it recovers by itself when the database is back.

Each PostgreSQL test runs the chat server in-process on a PostgreSQL of its own
(`own_postgres`), which it stops, crashes, pauses or restarts; the SQLite tests lock the
database file from another connection.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
from own_postgres import OwnPostgres
from support import (
    STEP,
    Account,
    Clients,
    JsonClient,
    Server,
    account,
    http_client,
    open_clients,
    pg_query,
    pg_session,
    raw_upgrade,
    server_config,
    start_server,
    status_of,
)

import chat.app.messages.writer
import chat.store.postgres.engine
import chat.store.sqlite.engine
from chat.core.config import Config
from chat.core.errors import Unavailable
from chat.store import open_store

UNAVAILABLE = {"error": "database unavailable"}


@pytest.fixture
def config(tmp_path: Path, pg: OwnPostgres) -> Config:
    """The chat's configuration, on this test's own PostgreSQL."""
    return server_config(tmp_path, pg.url())


@asynccontextmanager
async def running(config: Config) -> AsyncIterator[Server]:
    """The chat server, in-process, stopped at the end of the block (before the database
    fixture stops PostgreSQL)."""
    async with trio.open_nursery() as nursery:
        yield await start_server(nursery, config)
        nursery.cancel_scope.cancel()


@pytest.fixture
async def server(config: Config) -> AsyncIterator[Server]:
    async with running(config) as started:
        yield started


@pytest.fixture
async def clients(server: Server) -> AsyncIterator[Clients]:
    async with open_clients(server) as group:
        yield group


async def lobby_id(server: Server, user: Account) -> int:
    async with http_client(server) as client:
        return (await client.get("/rooms", headers=user.auth)).json()[0]


async def in_the_lobby(clients: Clients, user: Account, lobby: int) -> JsonClient:
    """A /ws client of `user` that has entered the lobby."""
    ws = await clients.json("/ws", token=user.token)
    assert (await ws.request({"Type": "enter", "RoomID": lobby, "Presence": False}))[
        "Type"
    ] == "entered"
    return ws


async def still_open(ws: JsonClient) -> bool:
    """True if the connection still answers: ping is answered pong on every path."""
    await ws.ws.send_message("ping")
    with trio.fail_after(STEP):
        return await ws.ws.get_message() == "pong"


async def history(server: Server, user: Account, room: int) -> list[str]:
    async with http_client(server) as client:
        response = await client.get(f"/messages/{room}", headers=user.auth)
    assert response.status_code == 200, response.text
    return [message["Text"] for message in response.json()]


def store_warnings(caplog: pytest.LogCaptureFixture) -> str:
    """What the store logged: why the database was unavailable."""
    return "\n".join(
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("chat.store") and record.levelno == logging.WARNING
    )


# --- PostgreSQL stopped ---


async def test_http_answers_503_with_retry_after_while_the_database_is_stopped(
    server: Server, pg: OwnPostgres
) -> None:
    alice = await account(server, "alice")
    await pg.stop()
    async with http_client(server) as client:
        response = await client.get("/profile", headers=alice.auth)
    assert response.status_code == 503
    assert response.json() == UNAVAILABLE
    assert response.headers["Retry-After"] == "5"


async def test_a_websocket_handshake_with_a_token_is_answered_503_while_the_database_is_stopped(
    server: Server, pg: OwnPostgres
) -> None:
    alice = await account(server, "alice")
    await pg.stop()
    response = await raw_upgrade(server, f"/ws?token={alice.token}")
    assert status_of(response) == b"503"
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"\r\nretry-after: 5\r\n" in head.lower()
    assert body == b'{"error": "database unavailable"}'


async def test_a_ws_message_that_cannot_be_stored_gets_an_error_frame_on_an_open_connection(
    server: Server, clients: Clients, pg: OwnPostgres
) -> None:
    alice = await account(server, "alice")
    ws = await in_the_lobby(clients, alice, await lobby_id(server, alice))
    await pg.stop()
    await ws.send({"Type": "message", "Text": "anyone there?"})
    assert await ws.receive() == {"Type": "error", "Error": "database unavailable"}
    assert await still_open(ws)


async def test_a_tokentalker_message_that_cannot_be_stored_gets_an_error_on_an_open_connection(
    server: Server, clients: Clients, pg: OwnPostgres
) -> None:
    alice = await account(server, "alice")
    talker = await clients.talker(token=alice.token)
    await pg.stop()
    await talker.say("anyone there?")
    frame = await talker.receive()
    assert frame["system"] is True and frame["error"] == "database unavailable"
    await talker.sync()  # still connected, still answered


async def test_a_direct_message_that_cannot_be_stored_gets_an_error_frame_on_an_open_connection(
    server: Server, clients: Clients, pg: OwnPostgres
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    ws = await clients.json("/ws", token=alice.token)
    await pg.stop()
    answer = await ws.request({"from": alice.uid, "to": bob.uid, "content": "hi"})
    assert answer == UNAVAILABLE
    assert await still_open(ws)


async def test_a_support_message_that_cannot_be_stored_gets_error_4_on_an_open_connection(
    server: Server, clients: Clients, pg: OwnPostgres
) -> None:
    alice = await account(server, "alice")
    ws = await clients.json("/v1/ws", token=alice.token)
    await ws.receive()  # the greeting: alice's (empty) thread
    await pg.stop()
    answer = await ws.request({"method": "message.send", "params": ["help"], "id": 7})
    assert answer == {
        "error": {"code": 4, "message": "Service unavailable."},
        "result": None,
        "id": 7,
    }
    assert await still_open(ws)


async def test_a_support_client_may_authenticate_again_once_the_database_is_back(
    server: Server, clients: Clients, pg: OwnPostgres
) -> None:
    alice = await account(server, "alice")
    ws = await clients.json("/v1/ws")
    await pg.stop()
    auth = {"method": "message.auth", "params": [alice.token], "id": 1}
    assert (await ws.request(auth))["error"]["code"] == 4  # not closed: it was the right frame
    await pg.start()
    assert await ws.request(auth) == {"error": None, "result": {"messages": None}, "id": 1}


# --- recovery, on the same chat process ---


async def test_http_works_again_after_the_database_restarts(
    server: Server, pg: OwnPostgres
) -> None:
    alice = await account(server, "alice")
    await pg.stop()
    async with http_client(server) as client:
        assert (await client.get("/profile", headers=alice.auth)).status_code == 503
        await pg.start()
        assert (await client.get("/profile", headers=alice.auth)).status_code == 200
    await account(server, "bob")  # and writes too


async def test_messages_are_delivered_again_after_the_database_restarts(
    server: Server, clients: Clients, pg: OwnPostgres
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    lobby = await lobby_id(server, alice)
    sender, receiver = (
        await in_the_lobby(clients, alice, lobby),
        await in_the_lobby(clients, bob, lobby),
    )
    await pg.stop("immediate")
    await sender.send({"Type": "message", "Text": "lost"})
    assert (await sender.receive())["Type"] == "error"
    await pg.start()
    await sender.send({"Type": "message", "Text": "back again"})
    assert (await sender.receive())["Text"] == "back again"
    assert (await receiver.receive())["Text"] == "back again"
    talker = await clients.talker(token=bob.token)  # a new connection, authenticated anew
    await talker.say("me too")
    assert (await sender.receive())["Text"] == "me too"


async def test_a_message_confirmed_before_a_crash_is_in_the_history_after_it(
    server: Server, clients: Clients, pg: OwnPostgres
) -> None:
    alice = await account(server, "alice")
    lobby = await lobby_id(server, alice)
    ws = await in_the_lobby(clients, alice, lobby)
    await ws.send({"Type": "message", "Text": "keep me"})
    assert (await ws.receive())["Text"] == "keep me"  # the sender's copy: committed
    await pg.stop("immediate")  # a crash: no checkpoint, recovery from the WAL
    await pg.start()
    assert await history(server, alice, lobby) == ["keep me"]


async def test_a_support_message_answered_before_a_crash_is_in_the_thread_after_it(
    server: Server, clients: Clients, pg: OwnPostgres
) -> None:
    alice = await account(server, "alice")
    ws = await clients.json("/v1/ws", token=alice.token)
    await ws.receive()  # the greeting
    answer = await ws.request({"method": "message.send", "params": ["keep me"], "id": 2})
    assert answer["result"]["message"]["message_text"] == "keep me"
    await pg.stop("immediate")
    await pg.start()
    again = await clients.json("/v1/ws", token=alice.token)
    greeting = await again.receive()
    assert [m["message_text"] for m in greeting["result"]["messages"]] == ["keep me"]


# --- other ways for the database to be away ---


@asynccontextmanager
async def shutting_down(pg: OwnPostgres) -> AsyncIterator[None]:
    """PostgreSQL in the middle of a smart shutdown, for the block: it waits for one
    session of ours to end, and meanwhile refuses every new connection with "the
    database system is shutting down" (57P03, CannotConnectNowError)."""
    async with pg_session(pg.url()) as execute:
        await pg.begin_stop("smart")
        await pg.wait_until("rejecting connections")
        # The chat's open connections would still work: end them, so it must connect anew.
        await execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        yield


async def test_a_database_that_is_shutting_down_answers_503_not_500(
    server: Server, pg: OwnPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await account(server, "alice")
    async with shutting_down(pg), http_client(server) as client:
        # The first request may still get a pooled connection whose end the pool has not
        # noticed yet ("connection was closed in the middle of operation"): a 503 too.
        # Once the pool connects anew, PostgreSQL says why it refuses.
        with trio.fail_after(STEP):
            while "the database system is shutting down" not in store_warnings(caplog):
                response = await client.get("/profile", headers=alice.auth)
                assert response.status_code == 503
                assert response.json() == UNAVAILABLE


async def test_a_websocket_handshake_is_answered_503_while_the_database_is_shutting_down(
    server: Server, pg: OwnPostgres
) -> None:
    alice = await account(server, "alice")
    async with shutting_down(pg):
        response = await raw_upgrade(server, f"/ws?token={alice.token}")
    assert status_of(response) == b"503"


COUNT_CHAT_CONNECTIONS = "SELECT count(*) FROM pg_stat_activity WHERE usename = 'chat'"


async def test_too_many_connections_answers_503(
    tmp_path: Path, pg: OwnPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    async with pg_session(pg.url()) as execute:
        await execute("CREATE ROLE chat LOGIN CONNECTION LIMIT 3")
        await execute("CREATE DATABASE chat OWNER chat")
    url = pg.url("chat", "chat")
    # A pool of one: the chat then holds two connections (its pool's and the bus's) however
    # many of its tasks ask at once, so starting up never meets the limit itself.
    config = server_config(tmp_path, url, db_pool_size=1)
    async with running(config) as server, pg_query(pg.url()) as fetchval:
        alice = await account(server, "alice")
        # End the pool's connection, and take its place and the last free one.
        await fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE usename = 'chat' AND application_name NOT LIKE 'chat-bus %'"
        )
        with trio.fail_after(STEP):
            # Polling the database: there is nothing in this process to wait on.
            while await fetchval(COUNT_CHAT_CONNECTIONS) > 1:  # noqa: ASYNC110
                await trio.sleep(0.05)
        async with pg_session(url), pg_session(url), http_client(server) as client:
            response = await client.get("/profile", headers=alice.auth)
    assert response.status_code == 503
    assert response.json() == UNAVAILABLE
    assert "too many connections" in store_warnings(caplog)


@pytest.fixture
def short_database_timeouts(monkeypatch: pytest.MonkeyPatch) -> float:
    """The store's waits for PostgreSQL, shortened (read when the store opens); returns
    about the longest a call can now take."""
    for name in ("ACQUIRE_TIMEOUT_S", "CONNECT_TIMEOUT_S", "QUERY_TIMEOUT_S"):
        monkeypatch.setattr(chat.store.postgres.engine, name, 1.0)
    return 2.0  # the statement (QUERY_TIMEOUT_S), then its clean-up (CANCEL_GRACE_S)


async def test_a_hung_database_answers_503_within_the_query_timeout(
    config: Config, pg: OwnPostgres, short_database_timeouts: float
) -> None:
    async with running(config) as server:
        alice = await account(server, "alice")
        with pg.paused():
            async with http_client(server) as client:
                started = trio.current_time()
                response = await client.get("/profile", headers=alice.auth)
                elapsed = trio.current_time() - started
    assert response.status_code == 503
    assert elapsed < short_database_timeouts + 2


async def test_requests_waiting_behind_a_hung_database_are_answered_503(
    config: Config, pg: OwnPostgres, short_database_timeouts: float
) -> None:
    responses = []
    async with running(config.replace(db_pool_size=1)) as server:
        alice = await account(server, "alice")

        async def profile() -> None:
            async with http_client(server) as client:
                responses.append(await client.get("/profile", headers=alice.auth))

        with pg.paused(), trio.fail_after(STEP + 3 * short_database_timeouts):
            # Both read alice's row, one query between them
            # (chat.app.reads.batched_point_reads), which hangs on the one connection: each
            # is answered when it times out.
            async with trio.open_nursery() as nursery:
                nursery.start_soon(profile)
                nursery.start_soon(profile)
    assert [response.status_code for response in responses] == [503, 503]


async def test_a_caller_waiting_for_a_connection_to_a_hung_database_is_told_unavailable(
    config: Config,
    pg: OwnPostgres,
    short_database_timeouts: float,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with open_store(config.replace(db_pool_size=1)) as store:
        alice = await store.create_user("alice", "hash")
        outcomes: list[str] = []

        async def read() -> None:
            try:
                await store.user_by_id(alice.id)
            except Unavailable:
                outcomes.append("unavailable")

        with pg.paused():
            # The first holds the one connection, hanging; the second waits for it.
            async with trio.open_nursery() as nursery:
                nursery.start_soon(read)
                nursery.start_soon(read)
    assert outcomes == ["unavailable", "unavailable"]
    assert "no connection free within" in store_warnings(caplog)


async def test_the_server_serves_again_when_a_hung_database_wakes_up(
    config: Config, pg: OwnPostgres, short_database_timeouts: float
) -> None:
    async with running(config) as server:
        alice = await account(server, "alice")
        with pg.paused():
            async with http_client(server) as client:
                assert (await client.get("/profile", headers=alice.auth)).status_code == 503
        async with http_client(server) as client:
            assert (await client.get("/profile", headers=alice.auth)).status_code == 200


async def test_database_faults_are_logged_as_warnings_without_tracebacks(
    server: Server, clients: Clients, pg: OwnPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await account(server, "alice")
    ws = await in_the_lobby(clients, alice, await lobby_id(server, alice))
    talker = await clients.talker(token=alice.token)
    await pg.stop()
    await ws.request({"Type": "message", "Text": "pipelined"})
    await talker.say("pipelined too")
    await talker.receive()
    await raw_upgrade(server, f"/ws?token={alice.token}")
    async with http_client(server) as client:
        await client.get("/profile", headers=alice.auth)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("database unavailable" in r.getMessage() for r in warnings)
    assert [r for r in caplog.records if r.levelno > logging.WARNING or r.exc_info] == []


async def test_a_message_to_a_hung_database_is_refused_within_the_commit_timeout(
    server: Server, clients: Clients, pg: OwnPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The writer gives a commit up after its timeout; giving up must not then wait for
    # the hung connection (a rollback, a reset: the store's timeouts, 15 s each).
    monkeypatch.setattr(chat.app.messages.writer, "COMMIT_TIMEOUT_S", 1.0)
    alice = await account(server, "alice")
    ws = await in_the_lobby(clients, alice, await lobby_id(server, alice))
    with pg.paused():
        started = trio.current_time()
        await ws.send({"Type": "message", "Text": "into the void", "ClientMsgID": "v-1"})
        answer = await ws.receive()
        elapsed = trio.current_time() - started
    assert answer == {"Type": "error", "Error": "database unavailable", "ClientMsgID": "v-1"}
    assert elapsed < 1.0 + 2.0


# --- SQLite ---


@pytest.fixture
def sqlite_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    """A SQLite server whose connections wait for a lock a fifth of a second, not 30."""
    monkeypatch.setattr(chat.store.sqlite.engine, "BUSY_TIMEOUT_S", 0.2)
    return server_config(tmp_path, None)


@asynccontextmanager
async def locked(path: Path) -> AsyncIterator[None]:
    """Hold SQLite's write lock on the database at `path` from another connection."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        conn.close()  # rolls back, releasing the lock


async def test_a_locked_sqlite_database_answers_503_not_500(sqlite_config: Config) -> None:
    async with running(sqlite_config) as server:
        alice = await account(server, "alice")
        async with locked(sqlite_config.sqlite_path), http_client(server) as client:
            response = await client.post(
                "/create-room", headers=alice.auth, json={"Name": "den", "IsPrivate": False}
            )
    assert response.status_code == 503
    assert response.json() == UNAVAILABLE
    assert response.headers["Retry-After"] == "5"


@asynccontextmanager
async def in_a_sqlite_lobby(config: Config) -> AsyncIterator[JsonClient]:
    """A room-protocol client in the lobby of a running SQLite server."""
    async with running(config) as server, open_clients(server) as clients:
        alice = await account(server, "alice")
        yield await in_the_lobby(clients, alice, await lobby_id(server, alice))


async def test_a_ws_message_sqlite_cannot_store_while_locked_gets_an_error_frame(
    sqlite_config: Config,
) -> None:
    async with in_a_sqlite_lobby(sqlite_config) as ws:
        async with locked(sqlite_config.sqlite_path):
            await ws.send({"Type": "message", "Text": "locked out"})
            assert await ws.receive() == {"Type": "error", "Error": "database unavailable"}
        await ws.send({"Type": "message", "Text": "let in"})
        assert (await ws.receive())["Text"] == "let in"


async def test_messages_that_could_not_be_stored_are_named_by_their_client_msg_ids(
    sqlite_config: Config,
) -> None:
    async with in_a_sqlite_lobby(sqlite_config) as ws:
        async with locked(sqlite_config.sqlite_path):
            # Pipelined: each fails after its frame was handled, as the commit fails.
            for client_msg_id in ("m-1", "m-2"):
                await ws.send({"Type": "message", "Text": "x", "ClientMsgID": client_msg_id})
            answers = [await ws.receive(), await ws.receive()]
        assert answers == [
            {"Type": "error", "Error": "database unavailable", "ClientMsgID": "m-1"},
            {"Type": "error", "Error": "database unavailable", "ClientMsgID": "m-2"},
        ]
