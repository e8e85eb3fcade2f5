"""Fixtures, the backends a test runs on, and the tiers.

Backends: a test that takes `database_url` (directly, or through `config`, `server`,
`clients`...) runs on SQLite, and on PostgreSQL too where the backend can matter
(`_backends`, decided by the test's file):

    always both   the store's contract: every operation against both engines
                  (tests/test_store*.py, the in-memory fake's contract), the
                  migrations and the upgrade of a release's database, the copy to
                  PostgreSQL, the database's faults: `ALWAYS_BOTH`. This is where the
                  engines are compared: each operation is written once
                  (chat/store/database.py), so what differs is the dialect's
    both in CI    where the engine still decides what is seen above the store: the
                  cluster and the buses, the writer (batches, catch-up, idempotency,
                  the positions lock), search, the rules checked inside the insert,
                  retention's lease: `BACKEND_MATTERS`, on PostgreSQL too when CI=true
    SQLite        the rest: what a feature does with the store's answers, the
                  protocols, limits, the front door, HTTP, presence and typing

CHAT_TEST_BACKENDS=both runs every such test on both, as a release check would. The
PostgreSQL variants that a run leaves out are deselected (the summary counts them).

PostgreSQL tests need CHAT_TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1/test);
each test gets a schema of its own, already migrated (tests/postgres_schemas.py: recycled
from an earlier test of the same process, put back as the migrations left it), or an
empty one with the `unmigrated` mark (tests of the migrations). Without the variable they
are skipped, except with CI=true, where they fail.

Tiers: every test gets exactly one of four markers (pyproject.toml registers them), so
that `pytest -m unit` is the quick loop and the others can run apart:

    unit     nothing outside this process: no server, no database (not even a SQLite
             file), no network, no child process; pure code, and the application's
             parts on in-memory fakes
    server   one real server or database (SQLite file or PostgreSQL: every test
             parametrized over `database_url` is here), or a real program run (the
             `chat` command, ruff, mypy...), on one instance
    browser  drives Chromium (tests/browser.py)
    cluster  several instances or processes: nginx, Redis, the bus between instances

A test's tier is decided at collection (`_tier` below), the first answer winning:

 1. a tier marker of its own (`pytestmark = pytest.mark.server`, or on the function);
 2. `TIER_EXCEPTIONS`, by file or by test: where the rule below gets it wrong;
 3. `SIGNS`, looked at for browser, then cluster, then server: a test shows a tier's
    signs if its file matches one of the tier's patterns (test_browser*.py,
    test_cluster*.py...), if it uses one of the tier's fixtures (directly or through
    other fixtures: `server` and `clients` bring `database_url`), or if its code names
    one of the tier's helpers (start_server, open_store, open_cluster, in_browser...:
    the test function, the functions inside it, and its own module's functions it
    calls). So a test of test_browser_cluster.py is browser, and one with the `server`
    fixture that also calls open_cluster is cluster;
 4. none of these: unit.

Collection fails (pytest.UsageError) if a test ends up with no tier marker or with more
than one. And the unit tier is checked, not trusted: with CHAT_TEST_GUARD_UNIT=1, every
unit test runs with internet sockets, bind/connect, name lookups, SQLite files and child
processes refused (tests/unit_guard.py), and fails if it tried one. A new fixture or
helper that starts something belongs in `SIGNS`; a test the guard fails that no sign
can tell, in `TIER_EXCEPTIONS`:

    CHAT_TEST_GUARD_UNIT=1 pytest -m unit -p no:cacheprovider
"""

from __future__ import annotations

import fcntl
import inspect
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from types import CodeType

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
from unit_guard import ENV as GUARD_ENV
from unit_guard import UnitGuard

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
    if os.environ.get(GUARD_ENV) == "1":
        config.pluginmanager.register(UnitGuard(), "unit_guard")


# The tiers: the module's docstring has the rule, `_tier` applies it.
TIERS = ("unit", "server", "browser", "cluster")


@dataclass(frozen=True)
class _Signs:
    """What puts a test in a tier: its file's name (a pattern), a fixture it uses (directly
    or through other fixtures: item.fixturenames), or a helper its code names."""

    files: tuple[str, ...] = ()
    fixtures: frozenset[str] = frozenset()
    helpers: frozenset[str] = frozenset()


# Looked at in this order: the first tier whose signs a test shows is its tier.
SIGNS = {
    "browser": _Signs(
        files=("test_browser*.py",),
        helpers=frozenset({"in_browser", "in_own_browser"}),  # tests/browser.py
    ),
    "cluster": _Signs(
        files=("test_cluster*.py", "test_nginx.py", "test_workers.py", "test_rolling_restart.py"),
        fixtures=frozenset(
            {
                "pair",  # two instances (test_presence, test_login_limits, test_typing...)
                "pair_on_either_bus",
                "instances",
                "trio_of_instances",
                "workers",  # `chat serve --workers`
                "site",  # nginx in front of instances
                "sharing",
                "redis",  # a Redis of the test's own
                "bus",
                "bus_url",
            }
        ),
        helpers=frozenset(
            # tests/cluster.py's, and the Redis bus itself (chat/bus/redis.py)
            {
                "open_cluster",
                "open_workers",
                "start_nginx",
                "start_redis",
                "running_redis",
                "RedisBus",
            }
        ),
    ),
    "server": _Signs(
        fixtures=frozenset(
            {
                "database_url",  # SQLite or PostgreSQL: config, server, clients... use it
                "postgres_config",
                "postgres_url",
                "target_url",
                "pg",  # a PostgreSQL of the test's own
                "own_postgres_template",
                "sqlite_config",
                "sqlite_server",
                "small_server",
                "own_server",
                "proxied",
                "slow_reads",
                "world",  # test_messages_contract: a real store, or its fake
                "fuzzed",
                "s3_server",  # moto's S3 server (tests/s3_server.py)
                "push",  # a push service on loopback (tests/push_service.py)
                "web_site",  # a web site on loopback (tests/web_site.py)
                "held",  # connections held open to a server
                "refusing_port",
            }
        ),
        helpers=frozenset(
            {
                # a server in this process, or `chat serve` in another (tests/support.py,
                # tests/cluster.py)
                "start_server",
                "StoppableServer",
                "start_instance",
                "start_process",
                "open_web_site",  # a web site on loopback (tests/web_site.py)
                # a store on a real database
                "open_store",
                "sqlite3",
                "pg_connection",
                "postgres_url_or_skip",
                "throwaway_postgres_schema",
                "migrated_postgres_schema",
                # a child process: the `chat` command, ruff, mypy, pytest, nginx -t,
                # the decoder a thumbnail is made by (chat/files/thumbnails.py)...
                "make_thumbnail",
                "run_chat",
                "run_process",
                "subprocess",
            }
        ),
    ),
}

# Tests whose tier the signs get wrong: by file ("test_x.py") or by test
# ("test_x.py::test_y", every parametrization of it).
TIER_EXCEPTIONS = {
    # its `storage` is a directory or S3, the latter's server asked for by name
    # (request.getfixturevalue), which item.fixturenames cannot see
    "test_storage_contract.py": "server",
}


def _names_in_code(function: Callable[..., object]) -> set[str]:
    """The global and attribute names `function`'s code uses, with those of the functions
    defined inside it and of its own module's functions it calls, recursively."""
    names: set[str] = set()
    todo, seen = [function], set()
    while todo:
        function = inspect.unwrap(todo.pop())
        code = getattr(function, "__code__", None)
        if code is None or code in seen:
            continue
        seen.add(code)
        codes, used = [code], set()
        while codes:
            inner = codes.pop()
            used.update(inner.co_names)
            codes.extend(const for const in inner.co_consts if isinstance(const, CodeType))
        names |= used
        module = function.__module__
        for name in used:
            called = function.__globals__.get(name)
            if inspect.isfunction(called) and called.__module__ == module:
                todo.append(called)
    return names


def _tier(item: pytest.Item) -> str:
    """The tier of `item` by the rule of the module's docstring (steps 2 to 4)."""
    path = item.path.name
    for key in (f"{path}::{getattr(item, 'originalname', item.name)}", path):
        if key in TIER_EXCEPTIONS:
            return TIER_EXCEPTIONS[key]
    fixtures = set(getattr(item, "fixturenames", ()))
    function = getattr(item, "obj", None)
    helpers = _names_in_code(function) if callable(function) else set()
    for tier, signs in SIGNS.items():
        if (
            any(fnmatch(path, pattern) for pattern in signs.files)
            or fixtures & signs.fixtures
            or helpers & signs.helpers
        ):
            return tier
    return "unit"


#: Files whose tests run on both backends wherever they run.
ALWAYS_BOTH = (
    "test_store*.py", "test_messages_contract.py", "test_changes_migration.py",
    "test_search_migration.py", "test_postgres_schemas.py", "test_copy_database.py",
    "test_database_faults.py",
)  # fmt: skip
#: Files where the engine decides what is seen above the store: on PostgreSQL too in CI
#: (CI=true), on SQLite alone in the inner loop.
BACKEND_MATTERS = (
    "test_cluster*.py", "test_bus*.py", "test_message_writer.py", "test_write_path.py",
    "test_idempotent_send.py", "test_change_stream.py", "test_batched_point_reads.py",
    "test_message_references.py", "test_search*.py", "test_browser_search.py",
    "test_room_rules.py", "test_retention.py", "test_resume.py",
    "test_history_from_memory.py", "test_cancellation_sweep.py", "test_operator_audit.py",
    "test_move_guard.py", "test_moderation_notices.py", "test_thread_attention.py",
    "test_thread_following.py", "test_thread_moderation.py", "test_browser_search_threads.py",
    "test_data_export_threads.py", "test_registration_policy.py", "test_message_gathering.py",
)  # fmt: skip


def _backends(path: Path) -> tuple[str, ...]:
    """The backends the tests of `path` run on (the module docstring's rule)."""
    both = ("sqlite", "postgres")
    if os.environ.get("CHAT_TEST_BACKENDS", "").lower() == "both":
        return both
    if any(fnmatch(path.name, pattern) for pattern in ALWAYS_BOTH):
        return both
    if os.environ.get("CI") == "true" and any(
        fnmatch(path.name, pattern) for pattern in BACKEND_MATTERS
    ):
        return both
    return ("sqlite",)


def _left_out(item: pytest.Item) -> bool:
    """A PostgreSQL variant of a test whose file runs on SQLite alone in this run."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or callspec.params.get("database_url") != "postgres":
        return False
    return "postgres" not in _backends(item.path)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the backends a file does not run on; give every test its tier marker;
    fail collection if one has none, or several; put the tests in their turns (`_turn`)."""
    kept, deselected = [], []
    for item in items:
        (deselected if _left_out(item) else kept).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
    for item in items:
        if not any(item.get_closest_marker(tier) for tier in TIERS):
            item.add_marker(_tier(item))
    wrong = []
    for item in items:
        tiers = sorted({mark.name for mark in item.iter_markers() if mark.name in TIERS})
        if len(tiers) != 1:
            wrong.append(f"  {item.nodeid}: {', '.join(tiers) or 'no tier'}")
    if wrong:
        raise pytest.UsageError(
            f"every test needs exactly one tier marker of {', '.join(TIERS)}"
            " (tests/conftest.py):\n" + "\n".join(wrong)
        )
    items.sort(key=_turn)


def _turn(item: pytest.Item) -> int:
    """When a test runs: those that change the host's network first, browser tests last.
    pytest-xdist hands each worker a run of consecutive tests, so the network tests go
    to one worker together, while the other works through tests that take no lock
    (`_host_network_or_chromium`) instead of waiting, idle, with a browser test."""
    if item.path.name in CHANGE_THE_HOSTS_NETWORK:
        return 0
    return 2 if item.get_closest_marker("browser") else 1


#: Test files that add and remove network interfaces and addresses in this host's own
#: namespace (the veth pairs of tests/network_faults.py and of bench/network_boxes.py).
#: Chromium drops its connections when that happens (ERR_NETWORK_CHANGED: a page's
#: WebSocket never opens), so no browser test runs while one of them does
#: (`_host_network_or_chromium`).
CHANGE_THE_HOSTS_NETWORK = frozenset({"test_cluster_network_faults.py", "test_bench_capacity.py"})
HOST_NETWORK_LOCK = Path(tempfile.gettempdir()) / "chat-tests-host-network.lock"
#: Taken by a test that waits for the exclusive lock, and passed through by every browser
#: test on its way to the shared one: so browser tests that follow one another on the
#: other worker cannot keep the shared lock held for ever (flock favours no waiter).
HOST_NETWORK_TURN = Path(tempfile.gettempdir()) / "chat-tests-host-network.turn"
NETWORK_SETTLES_S = 2.0


@pytest.fixture(autouse=True)
def _host_network_or_chromium(request: pytest.FixtureRequest) -> Iterator[None]:
    """Browser tests hold a shared lock of `HOST_NETWORK_LOCK` for their duration, and
    tests that change the host's network an exclusive one: across pytest-xdist's worker
    processes, either kind runs, never both at once. A test waiting for the exclusive
    lock holds `HOST_NETWORK_TURN` meanwhile, which no new browser test gets past."""
    if request.node.path.name in CHANGE_THE_HOSTS_NETWORK:
        kind = fcntl.LOCK_EX
    elif request.node.get_closest_marker("browser"):
        kind = fcntl.LOCK_SH
    else:
        yield
        return
    with HOST_NETWORK_TURN.open("a") as turn, HOST_NETWORK_LOCK.open("a") as lock:
        # Blocks (before the test's Trio run starts) until free: the turn first, held by
        # an exclusive waiter until it has the lock, by a browser test only to pass.
        fcntl.flock(turn, kind)
        try:
            fcntl.flock(lock, kind)
        finally:
            fcntl.flock(turn, fcntl.LOCK_UN)
        try:
            yield
            if kind == fcntl.LOCK_EX:
                # Chromium hears of the last change a moment later (it gathers them):
                # the next browser test must not start inside that moment.
                time.sleep(NETWORK_SETTLES_S)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


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
