"""The drain before a shutdown (CHAT_DRAIN_SECONDS, `chat.server.drain`): in-process by
cancellation, and by signals for `chat serve` and `chat serve --workers`.

The drain needs nothing from the store, so the in-process tests run on SQLite only; the
rolling restart behind nginx (tests/test_rolling_restart.py) runs it on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trio.testing
from cluster import open_workers, start_instance, wait_for_log
from support import (
    STEP,
    Server,
    account,
    http_client,
    open_clients,
    raw_upgrade,
    read_until_closed,
    server_config,
    start_server,
    status_of,
    throwaway_postgres_schema,
)
from trio_websocket import ConnectionClosed

from chat.core.config import Config

#: Long enough to look at the server while it drains (each test then waits it out).
DRAIN_S = 4.0
#: A drain no test waits out: the process is stopped by a second signal, or not at all.
LONG_DRAIN_S = 600.0


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return server_config(tmp_path, None, drain_seconds=DRAIN_S)


@asynccontextmanager
async def draining_server(config: Config) -> AsyncIterator[tuple[Server, trio.CancelScope]]:
    """A server in the test's nursery, and the scope whose cancellation starts its
    shutdown; the test's block ends when the server has returned (the drain waited out)."""
    async with trio.open_nursery() as nursery:
        scope = trio.CancelScope()

        async def run(*, task_status: trio.TaskStatus[Server]) -> None:
            with scope:
                async with trio.open_nursery() as inner:
                    task_status.started(await start_server(inner, config))

        yield await nursery.start(run), scope


async def begin_shutdown(scope: trio.CancelScope) -> None:
    """Cancel the server and let it run until every task of it waits: its drain began."""
    scope.cancel()
    await trio.testing.wait_all_tasks_blocked()


async def test_readyz_answers_503_while_the_server_drains(config: Config) -> None:
    async with draining_server(config) as (server, scope), http_client(server) as client:
        assert (await client.get("/readyz")).status_code == 200
        await begin_shutdown(scope)
        answer = await client.get("/readyz")
        assert answer.status_code == 503
        assert answer.json() == {"status": "unavailable", "error": "the server is shutting down"}
        assert answer.headers["Retry-After"]
        # Still serving everything else: only new clients are sent elsewhere.
        assert (await client.get("/livez")).status_code == 200


async def test_a_new_websocket_is_refused_with_503_and_retry_after_while_draining(
    config: Config,
) -> None:
    async with draining_server(config) as (server, scope):
        alice = await account(server, "alice")
        await begin_shutdown(scope)
        refused = await raw_upgrade(server, f"/ws?token={alice.token}")
    assert status_of(refused) == b"503", refused
    head, _, body = refused.partition(b"\r\n\r\n")
    assert re.search(rb"(?im)^retry-after: 1\r?$", head), head
    assert json.loads(body) == {"error": "the server is restarting: connect again"}


async def test_open_websockets_are_closed_with_1012_when_the_drain_begins(config: Config) -> None:
    async with draining_server(config) as (server, scope), open_clients(server) as clients:
        alice = await account(server, "alice")
        rooms = await clients.json("/ws", token=alice.token)
        talker = await clients.talker(token=alice.token)
        await begin_shutdown(scope)
        for ws in (rooms.ws, talker.ws):
            with pytest.raises(ConnectionClosed) as closed, trio.fail_after(STEP):
                await ws.get_message()  # no error frame first: the close code says it
            assert closed.value.reason.code == 1012
            assert closed.value.reason.reason == "the server is restarting: connect again"


async def test_http_answers_close_their_connection_while_draining(config: Config) -> None:
    async with draining_server(config) as (server, scope), http_client(server) as client:
        before = await client.get("/livez")
        assert before.headers.get("connection") != "close"  # kept alive
        await begin_shutdown(scope)
        during = await client.get("/livez")
        assert during.status_code == 200
        assert during.headers["connection"] == "close"


async def test_a_drain_of_0_seconds_closes_websockets_with_1001_at_once(tmp_path: Path) -> None:
    config = server_config(tmp_path, None)  # the default: no drain
    async with draining_server(config) as (server, scope), open_clients(server) as clients:
        talker = await clients.talker()
        await begin_shutdown(scope)
        with pytest.raises(ConnectionClosed) as closed, trio.fail_after(STEP):
            await talker.ws.get_message()
        assert closed.value.reason.code == 1001


# --- the real command, real signals ---

_DRAINING = re.compile(rb"draining for ")


async def test_chat_serve_exits_0_once_the_drain_is_over(tmp_path: Path) -> None:
    config = server_config(tmp_path, None, drain_seconds=DRAIN_S)
    instance = await start_instance(config, tmp_path / "serve.log")
    async with http_client(instance.server) as client:
        instance.process.send_signal(signal.SIGTERM)
        await wait_for_log(instance, _DRAINING, "the drain")
        assert (await client.get("/readyz")).status_code == 503
    with trio.fail_after(DRAIN_S + STEP):
        assert await instance.process.wait() == 0, instance.log
    log = instance.log
    assert (
        log.index("draining for 4 s") < log.index("drained: shutting down") < log.index("stopped")
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_second_signal_during_the_drain_stops_chat_serve_at_once(
    tmp_path: Path, signum: signal.Signals
) -> None:
    config = server_config(tmp_path, None, drain_seconds=LONG_DRAIN_S)
    instance = await start_instance(config, tmp_path / "serve.log")
    instance.process.send_signal(signum)
    await wait_for_log(instance, _DRAINING, "the drain")
    instance.process.send_signal(signum)
    with trio.fail_after(STEP):  # not the 600 s of the drain
        assert await instance.process.wait() == -signum
    assert f"{signum.name} received again: stopping at once" in instance.log


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with throwaway_postgres_schema() as url:
        yield url


async def test_sigterm_to_the_supervisor_drains_every_worker(
    tmp_path: Path, postgres_url: str
) -> None:
    async with open_workers(tmp_path, postgres_url, 2, drain_seconds=DRAIN_S) as workers:
        alice = await account(workers.server, "alice")
        async with open_clients(workers.server) as clients:
            connected = [await clients.json("/ws", token=alice.token) for _ in range(6)]
            workers.supervisor.process.send_signal(signal.SIGTERM)
            for ws in connected:
                with pytest.raises(ConnectionClosed) as closed, trio.fail_after(STEP):
                    await ws.ws.get_message()
                assert closed.value.reason.code == 1012
        async with http_client(workers.server) as client:
            assert (await client.get("/readyz")).status_code == 503
        with trio.fail_after(DRAIN_S + STEP):
            assert await workers.supervisor.process.wait() == 0, workers.supervisor.log
    assert workers.supervisor.log.count("draining for 4 s") == 2


async def test_a_second_sigterm_to_the_supervisor_stops_every_worker_at_once(
    tmp_path: Path, postgres_url: str
) -> None:
    async with open_workers(tmp_path, postgres_url, 2, drain_seconds=LONG_DRAIN_S) as workers:
        workers.supervisor.process.send_signal(signal.SIGTERM)
        with trio.fail_after(STEP):
            while workers.supervisor.log.count("draining for") < 2:  # noqa: ASYNC110
                await trio.sleep(0.05)
        workers.supervisor.process.send_signal(signal.SIGTERM)
        with trio.fail_after(STEP):  # not the 600 s of the drain
            assert await workers.supervisor.process.wait() == 1  # not a clean exit
        log = workers.supervisor.log
    assert "SIGTERM received again: stopping the workers at once" in log
    assert log.count("SIGTERM received again: stopping at once") == 2


#: A drain short enough for a test to reach past its end on purpose.
SHORT_DRAIN_S = 0.5
#: Connections left waiting in the listener's backlog as the drain ends.
BACKLOG = 5


async def test_connections_still_in_the_backlog_when_the_drain_ends_are_answered(
    tmp_path: Path,
) -> None:
    config = server_config(tmp_path, None, drain_seconds=SHORT_DRAIN_S)
    request = "POST /auth HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}"
    async with draining_server(config) as (server, scope):
        await begin_shutdown(scope)
        # The Trio thread is held, on purpose, from the first connect until past the
        # drain's end: the server cannot accept meanwhile, so the kernel holds the
        # connections in the listener's backlog, requests and all, when the drain ends
        # (an accept loop takes at most one of them per wake-up). Closing the listener
        # then would reset them (a proxy answers 502 to a POST sent so).
        async with contextlib.AsyncExitStack() as streams:
            waiting = []
            for _ in range(BACKLOG):
                sock = socket.create_connection((server.host, server.port))
                stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
                streams.push_async_callback(stream.aclose)
                sock.sendall(request.encode())
                waiting.append(stream)
            time.sleep(SHORT_DRAIN_S + 0.2)  # noqa: ASYNC251 - blocking is the point
            answers = [await read_until_closed(stream) for stream in waiting]
    for answer in answers:  # answered (400: {} holds no credentials), then closed
        assert answer.startswith(b"HTTP/1.1 400"), answer
        assert b"connection: close" in answer.lower()


async def test_a_request_head_that_arrives_just_after_the_drain_ends_is_answered(
    tmp_path: Path,
) -> None:
    config = server_config(tmp_path, None, drain_seconds=SHORT_DRAIN_S)
    async with draining_server(config) as (server, scope):
        await begin_shutdown(scope)
        # Accepted during the drain; its head comes once the drain is over.
        async with await trio.open_tcp_stream(server.host, server.port) as stream:
            await trio.sleep(SHORT_DRAIN_S + 0.3)
            await stream.send_all(f"GET /livez HTTP/1.1\r\nHost: {server.host}\r\n\r\n".encode())
            answer = await read_until_closed(stream)
    assert answer.startswith(b"HTTP/1.1 200"), answer
