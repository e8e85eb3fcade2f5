"""Fixtures: every store-touching test runs once on SQLite and once on PostgreSQL.

PostgreSQL tests need CHAT_TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1/test);
each test gets a schema of its own, already migrated (tests/postgres_schemas.py: recycled
from an earlier test of the same process, put back as the migrations left it), or an
empty one with the `unmigrated` mark (tests of the migrations). Without the variable they
are skipped, except with CI=true, where they fail.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
from _pytest.outcomes import Skipped
from own_postgres import OwnPostgres, PostgresTemplate, own_postgres, postgres_template
from postgres_schemas import drop_made_schemas, migrated_postgres_schema
from support import (
    Clients,
    Server,
    open_clients,
    server_config,
    start_server,
    throwaway_postgres_schema,
)

from chat.core.config import Config


def _first_skip(error: BaseException | None) -> Skipped | None:
    """The `Skipped` with a reason inside `error`'s context chain or exception groups."""
    while error is not None:
        if isinstance(error, Skipped) and error.msg:
            return error
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                found = _first_skip(inner)
                if found is not None:
                    return found
        error = error.__context__
    return None


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Iterator[None]:
    """Keep the reason of a skip raised inside Trio (an async fixture or test).

    pytest-trio 0.8 turns such a skip into a bare `pytest.skip()` raised while handling
    the original, so the summary said only "Skipped". The original is the new one's
    context: skip again with its reason (no Chromium, no CHAT_TEST_DATABASE_URL...).
    """
    try:
        return (yield)
    except Skipped as bare:
        if bare.msg:
            raise
        original = _first_skip(bare.__context__)
        if original is None:
            raise
        pytest.skip(original.msg)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "unmigrated: the test's PostgreSQL schema is empty (a test of the migrations),"
        " not migrated already",
    )


@pytest.fixture(scope="session", autouse=True)
def _postgres_schemas_dropped_at_the_end() -> Iterator[None]:
    """The schemas this test process made and recycled are dropped when it is done."""
    yield
    drop_made_schemas()


@asynccontextmanager
async def _postgres_schema(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """An empty schema for a test marked `unmigrated`, a migrated one for the others."""
    if request.node.get_closest_marker("unmigrated"):
        async with throwaway_postgres_schema() as url:
            yield url
    else:
        async with migrated_postgres_schema() as url:
            yield url


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    """None (SQLite in the test's data directory) or a PostgreSQL schema of the test's own."""
    if request.param == "sqlite":
        yield None
    else:
        async with _postgres_schema(request) as url:
            yield url


@pytest.fixture
def config(tmp_path: Path, database_url: str | None) -> Config:
    """A server configuration for the backend under test (both, in turn)."""
    return server_config(tmp_path, database_url)


@pytest.fixture
async def postgres_config(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Config]:
    """A configuration on a PostgreSQL schema of the test's own, for PostgreSQL-only
    behaviour."""
    async with _postgres_schema(request) as url:
        yield server_config(tmp_path, url)


@pytest.fixture
async def server(nursery: trio.Nursery, config: Config) -> Server:
    """A real server on 127.0.0.1, an ephemeral port; stopped when the test ends."""
    return await start_server(nursery, config)


@pytest.fixture
async def clients(server: Server) -> AsyncIterator[Clients]:
    """WebSocket clients of `server`, closed before the server stops."""
    async with open_clients(server) as group:
        yield group


@pytest.fixture(scope="session")
def own_postgres_template() -> Iterator[PostgresTemplate]:
    """One initdb per test session, for the tests that stop or freeze a PostgreSQL."""
    with postgres_template() as made:
        yield made


@pytest.fixture
async def pg(own_postgres_template: PostgresTemplate) -> AsyncIterator[OwnPostgres]:
    """A running PostgreSQL of this test's own (a copy of the template), which it may
    stop, crash or freeze: never the one in CHAT_TEST_DATABASE_URL."""
    async with own_postgres(own_postgres_template) as server:
        yield server
