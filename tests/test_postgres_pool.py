"""The store's pool of PostgreSQL connections (`chat.store.postgres.pool`): what it lends,
what it resets, replaces and closes, on a real server."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio_asyncio
from own_postgres import OwnPostgres
from support import postgres_url_or_skip

import chat.store.postgres.engine
from chat.store.postgres.aio_bridge import open_aio_loop
from chat.store.postgres.engine import PostgresConnection, _aio_run
from chat.store.postgres.pool import ConnectionPool

pytestmark = pytest.mark.server

Scenario = Callable[[ConnectionPool], Awaitable[Any]]


def _new_pool(size: int, url: str | None = None, **options: Any) -> ConnectionPool:
    """A pool of `size` connections to `url` (the test database by default; a reset's
    grace 5 s unless `options` say otherwise)."""
    import asyncpg

    url = url or postgres_url_or_skip()
    return ConnectionPool(
        functools.partial(asyncpg.connect, url, timeout=5, command_timeout=5),
        size,
        reset_grace_s=options.pop("reset_grace_s", 5.0),
        **options,
    )


async def _in_pool(scenario: Scenario, size: int = 2, **options: Any) -> Any:
    """`scenario(pool)` on the asyncio loop, with a pool of `size` connections to the
    test database; every connection is terminated afterwards."""
    pool = _new_pool(size, **options)

    async def run() -> Any:
        try:
            return await scenario(pool)
        finally:
            pool.terminate()

    async with open_aio_loop():
        return await trio_asyncio.aio_as_trio(run)()


async def _give_back(pool: ConnectionPool, raw: Any, *, clean: bool = True) -> None:
    await pool.release(raw, clean=clean, before_reuse=lambda: None)


async def test_a_connection_given_back_clean_is_lent_again() -> None:
    async def scenario(pool: ConnectionPool) -> tuple[bool, int]:
        first = await pool.acquire()
        await _give_back(pool, first)
        second = await pool.acquire()
        return second is first, pool.open_count

    assert await _in_pool(scenario) == (True, 1)


async def test_the_pool_opens_no_more_connections_than_its_size() -> None:
    async def scenario(pool: ConnectionPool) -> tuple[int, bool]:
        held = await pool.acquire()
        waiting = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0.2)
        still_waiting = not waiting.done()
        await _give_back(pool, held)
        lent = await asyncio.wait_for(waiting, 5)
        assert lent is held
        return pool.open_count, still_waiting

    assert await _in_pool(scenario, size=1) == (1, True)


async def test_a_transaction_left_open_is_rolled_back_before_the_connection_is_lent_again() -> None:
    async def scenario(pool: ConnectionPool) -> tuple[bool, bool]:
        raw = await pool.acquire()
        # Entered and never left, as when a cancellation cut its exit short.
        await raw.transaction().__aenter__()
        await _give_back(pool, raw)
        again = await pool.acquire()
        return again is raw, again.is_in_transaction()

    assert await _in_pool(scenario) == (True, False)


async def test_a_statement_given_up_on_is_cancelled_on_the_server_before_its_connection_is_lent_again() -> (  # noqa: E501
    None
):
    sleep = f"SELECT pg_sleep(30) -- {secrets.token_hex(8)}"

    async def scenario(pool: ConnectionPool) -> tuple[int, int]:
        raw = await pool.acquire()
        try:
            await asyncio.wait_for(raw.fetchval(sleep), 0.2)
        except TimeoutError:
            await _give_back(pool, raw, clean=False)
        again = await pool.acquire()
        running = await again.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE query = $1 AND state = 'active'", sleep
        )
        return running, await again.fetchval("SELECT 1")

    assert await _in_pool(scenario, size=1) == (0, 1)


async def test_a_connection_the_server_ended_is_replaced_on_its_next_use() -> None:
    import asyncpg

    async def scenario(pool: ConnectionPool) -> tuple[bool, int, int]:
        raw = await pool.acquire()
        pid = raw.get_server_pid()
        await _give_back(pool, raw)
        other = await asyncpg.connect(postgres_url_or_skip())
        try:
            await other.execute("SELECT pg_terminate_backend($1)", pid)
        finally:
            await other.close()
        for _ in range(100):  # the idle connection reads the server's last word
            if raw.is_closed():
                break
            await asyncio.sleep(0.05)
        again = await pool.acquire()
        return again is raw, await again.fetchval("SELECT 1"), pool.open_count

    assert await _in_pool(scenario, size=1) == (False, 1, 1)


async def test_connections_idle_past_their_lifetime_are_closed_as_others_come_back() -> None:
    now = [0.0]

    async def scenario(pool: ConnectionPool) -> tuple[int, bool, bool]:
        older, newer = await pool.acquire(), await pool.acquire()
        await _give_back(pool, older)
        await _give_back(pool, newer)
        now[0] = 400.0
        lent = await pool.acquire()  # the newest idle one
        await _give_back(pool, lent)
        return pool.open_count, lent is newer, older.is_closed()

    result = await _in_pool(scenario, idle_lifetime_s=300.0, clock=lambda: now[0])
    assert result == (1, True, True)


async def test_a_drop_armed_by_a_cancelled_statement_never_reaches_the_next_user(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A statement given up on arms a drop of its connection (`CANCEL_GRACE_S`); once the
    connection is reset and back in the pool the drop is disarmed, so its next user keeps
    it."""
    monkeypatch.setattr(chat.store.postgres.engine, "CANCEL_GRACE_S", 0.3)

    async def slow(connection: PostgresConnection) -> None:
        await connection.fetchval("SELECT pg_sleep(30)")

    async def lend(connection: PostgresConnection) -> tuple[PostgresConnection, Any]:
        return connection, connection.raw

    async def scenario(pool: ConnectionPool) -> tuple[bool, int, bool]:
        task = asyncio.ensure_future(_aio_run(pool, slow, (), {}))
        await asyncio.sleep(0.2)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        raw = await pool.acquire()
        await asyncio.sleep(0.6)  # twice the grace: a drop still armed would have fired
        answer = await raw.fetchval("SELECT 1")
        return raw.is_closed(), answer, pool.open_count == 1

    assert await _in_pool(scenario, size=1) == (False, 1, True)


async def _give_up_on_a_statement(raw: Any) -> None:
    """A statement on `raw` given up on: with the server paused, its cancellation
    cannot finish, so a reset of `raw` waits."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(raw.fetchval("SELECT 1"), 0.2)


async def test_a_connection_that_cannot_be_reset_in_time_is_closed_and_replaced(
    pg: OwnPostgres,
) -> None:
    async def scenario(pool: ConnectionPool) -> tuple[bool, int, int]:
        raw = await pool.acquire()
        with pg.paused():
            await _give_up_on_a_statement(raw)
            await _give_back(pool, raw, clean=False)  # the reset outlasts its grace
        again = await pool.acquire()
        return raw.is_closed(), await again.fetchval("SELECT 1"), pool.open_count

    result = await _in_pool(scenario, size=1, url=pg.url(), reset_grace_s=0.3)
    assert result == (True, 1, 1)


async def test_a_reset_cancelled_itself_ends_the_connection_and_stays_cancelled(
    pg: OwnPostgres,
) -> None:
    async def scenario(pool: ConnectionPool) -> tuple[bool, bool, int]:
        raw = await pool.acquire()
        with pg.paused():
            await _give_up_on_a_statement(raw)
            releasing = asyncio.ensure_future(_give_back(pool, raw, clean=False))
            await asyncio.sleep(0.2)  # the reset waits for the cancellation
            releasing.cancel()
            try:
                await releasing
                cancelled = False
            except asyncio.CancelledError:
                cancelled = True
        return cancelled, raw.is_closed(), pool.open_count

    assert await _in_pool(scenario, size=1, url=pg.url()) == (True, True, 0)


async def test_closing_the_pool_closes_every_connection() -> None:
    async def scenario(pool: ConnectionPool) -> tuple[bool, bool, int]:
        idle, lent = await pool.acquire(), await pool.acquire()
        await _give_back(pool, idle)
        await pool.close()
        return idle.is_closed(), lent.is_closed(), pool.open_count

    assert await _in_pool(scenario) == (True, True, 0)


async def test_trio_cancelling_a_store_call_leaves_the_pool_whole() -> None:
    """Through the bridge as the store calls it: a cancelled call gives its connection
    back (reset), and the pool lends it again."""

    async def slow(connection: PostgresConnection) -> None:
        await connection.fetchval("SELECT pg_sleep(30)")

    async def one(connection: PostgresConnection) -> int:
        return int(await connection.fetchval("SELECT 1"))

    async with open_aio_loop():
        pool = _new_pool(1)
        try:
            with trio.move_on_after(0.2):
                await trio_asyncio.aio_as_trio(_aio_run)(pool, slow, (), {})
            with trio.fail_after(5):
                assert await trio_asyncio.aio_as_trio(_aio_run)(pool, one, (), {}) == 1
            assert pool.open_count == 1
        finally:
            pool.terminate()
