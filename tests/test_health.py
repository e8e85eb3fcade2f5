"""Health checks: /livez (the process answers), /readyz (the database answers and the
server is not draining); /healthz is covered in test_http_accounts.py.

The database-away tests run the chat server on a PostgreSQL of their own
(`own_postgres`), which they stop or freeze, as tests/test_database_faults.py does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
import trio
from own_postgres import OwnPostgres
from support import (
    STEP,
    Server,
    StoppableServer,
    account,
    http_client,
    open_clients,
    pg_query,
    pg_session,
    server_config,
    start_server,
)
from test_metrics import scrape, value

import chat
from chat.app.database_probe import HEALTH_TIMEOUT_S
from chat.core.config import Config
from chat.http.health import SHUTTING_DOWN
from chat.server.version import build_info

DATABASE_AWAY = {"status": "unavailable", "error": "database unavailable"}


async def get(server: Server, path: str) -> httpx.Response:
    async with http_client(server) as client:
        with trio.fail_after(STEP):
            return await client.get(path)


def assert_unavailable(response: httpx.Response, body: dict[str, str]) -> None:
    assert response.status_code == 503
    assert response.json() == body
    assert response.headers["Retry-After"] == "5"


# --- on both backends ---


async def test_livez_answers_ok_with_the_version_of_the_code(server: Server) -> None:
    response = await get(server, "/livez")
    assert response.status_code == 200
    build = await trio.to_thread.run_sync(build_info)
    assert response.json() == {"status": "ok", "version": build.version}
    assert build.version.startswith(chat.__version__)


async def test_readyz_answers_ok_when_the_database_answers(server: Server) -> None:
    response = await get(server, "/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


# --- while the server drains ---

#: True while some session waits for a lock on the rooms table (of the URL's schema).
SOMEONE_WAITS_FOR_ROOMS = (
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted AND relation = 'rooms'::regclass)"
)


async def until_connections_are_refused(server: Server) -> None:
    """Return once the server no longer accepts connections: its shutdown has begun."""
    with trio.fail_after(STEP):
        while True:
            try:
                stream = await trio.open_tcp_stream(server.host, server.port)
            except OSError:
                return
            await stream.aclose()
            await trio.sleep(0.01)


async def test_readyz_is_503_while_the_server_drains(postgres_config: Config) -> None:
    # The drain lasts from the cancellation until `serve` returns, and the listeners close
    # at its start, so only a request already in flight can be answered meanwhile. This
    # one is held in flight on a table lock (which PostgreSQL lets a test take; the drain
    # itself is the same on SQLite), released once the shutdown has begun.
    config = postgres_config
    url = config.database_url
    assert url is not None
    answers: list[httpx.Response] = []
    # Holds the server and the in-flight request; ends once both have finished.
    async with trio.open_nursery() as nursery:
        server = StoppableServer(nursery, config)
        started = await server.start()
        async with pg_session(url) as execute, pg_query(url) as fetchval:
            await execute("BEGIN; LOCK TABLE rooms IN ACCESS EXCLUSIVE MODE")

            async def ask() -> None:
                answers.append(await get(started, "/readyz"))

            nursery.start_soon(ask)
            with trio.fail_after(STEP):
                # Polling the database: nothing in this process says when the query waits.
                while not await fetchval(SOMEONE_WAITS_FOR_ROOMS):  # noqa: ASYNC110
                    await trio.sleep(0.01)
            nursery.start_soon(server.stop)
            await until_connections_are_refused(started)
            await execute("COMMIT")  # the database answers /readyz now, well in time
    [response] = answers
    assert_unavailable(response, {"status": "unavailable", "error": SHUTTING_DOWN})


# --- one question to the database, however many checks ---

LOCK_WAITERS_ON_ROOMS = (
    "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'rooms'::regclass"
)


async def test_a_crowd_of_readiness_checks_asks_the_database_once(
    nursery: trio.Nursery, postgres_config: Config
) -> None:
    url = postgres_config.database_url
    assert url is not None
    server = await start_server(nursery, postgres_config)
    async with pg_session(url) as execute, pg_query(url) as fetchval:
        await execute("BEGIN; LOCK TABLE rooms IN ACCESS EXCLUSIVE MODE")
        answers: list[httpx.Response] = []

        async def ask() -> None:
            answers.append(await get(server, "/readyz"))

        # Holds the checks; done once each has been answered.
        async with trio.open_nursery() as checks:
            for _ in range(8):
                checks.start_soon(ask)
        # Every check gave up waiting; the one question asked for all of them still
        # waits for the lock (a check's own query would have been cancelled with it).
        waiting = await fetchval(LOCK_WAITERS_ON_ROOMS)
        await execute("COMMIT")
    assert [response.status_code for response in answers] == [503] * 8
    assert waiting == 1


# --- SQLite locked by another process ---


async def until_readyz_answers(server: Server, status: int) -> httpx.Response:
    """Ask /readyz until it answers `status` (what it answers follows the database)."""
    with trio.fail_after(STEP):
        # Polling the server: nothing else tells when its database gets stuck or free.
        while (response := await get(server, "/readyz")).status_code != status:  # noqa: ASYNC110
            await trio.sleep(0.05)
    return response


async def test_readyz_is_503_while_every_sqlite_connection_waits_for_a_lock(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    # SQLite readers never wait for a writer (WAL), so the database "does not answer" when
    # every connection is taken: here the only one, by a message commit that waits for
    # another process's write lock.
    server = await start_server(nursery, server_config(tmp_path, None, db_pool_size=1))
    alice = await account(server, "alice")
    async with open_clients(server) as clients:
        talker = await clients.talker(token=alice.token)
        with closing(sqlite3.connect(server.config.sqlite_path, isolation_level=None)) as other:
            other.execute("BEGIN EXCLUSIVE")
            await talker.say("waits for the lock")
            response = await until_readyz_answers(server, 503)
            other.execute("ROLLBACK")
        assert_unavailable(response, DATABASE_AWAY)
        await until_readyz_answers(server, 200)


# --- the database away (a PostgreSQL of the test's own) ---


@pytest.fixture
async def own_server(tmp_path: Path, pg: OwnPostgres) -> AsyncIterator[Server]:
    """The chat server on `pg`, stopped before PostgreSQL is (fixtures end in reverse)."""
    # Holds the server's tasks; cancelled once the test is done.
    async with trio.open_nursery() as nursery:
        yield await start_server(nursery, server_config(tmp_path, pg.url()))
        nursery.cancel_scope.cancel()


async def test_livez_answers_ok_while_the_database_is_stopped(
    own_server: Server, pg: OwnPostgres
) -> None:
    await pg.stop()
    response = await get(own_server, "/livez")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_readyz_is_503_with_retry_after_while_the_database_is_stopped(
    own_server: Server, pg: OwnPostgres
) -> None:
    await pg.stop()
    assert_unavailable(await get(own_server, "/readyz"), DATABASE_AWAY)


async def test_readyz_is_503_when_the_database_does_not_answer_in_time(
    own_server: Server, pg: OwnPostgres
) -> None:
    with pg.paused():
        started = trio.current_time()
        response = await get(own_server, "/readyz")
        elapsed = trio.current_time() - started
    assert_unavailable(response, DATABASE_AWAY)
    assert HEALTH_TIMEOUT_S <= elapsed < HEALTH_TIMEOUT_S + 1


async def test_readyz_answers_ok_again_once_the_database_is_back(
    own_server: Server, pg: OwnPostgres
) -> None:
    await pg.stop()
    assert (await get(own_server, "/readyz")).status_code == 503
    await pg.start()
    response = await get(own_server, "/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_the_metrics_show_the_database_down_while_it_is_stopped_and_up_again(
    own_server: Server, pg: OwnPostgres
) -> None:
    await pg.stop()
    with trio.fail_after(STEP):
        samples = await scrape(own_server)  # within the probe's bound, not the store's
    assert value(samples, "chat_database_up") == 0
    await pg.start()
    assert value(await scrape(own_server), "chat_database_up") == 1
