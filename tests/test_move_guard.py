"""The move guard: once `chat copy-database` has copied a SQLite database to PostgreSQL,
the SQLite file is marked moved, and `chat serve` and the `chat user` commands that
change users refuse it, naming the new database (never its password), unless run with
``--force-moved``; a copy to another target moves the mark there."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cluster import start_instance
from support import chat_environ, run_chat, throwaway_postgres_schema
from test_cli import add_users
from test_copy_database import copy_database, sqlite_config, target_url
from test_operator_audit import with_password

from chat.core.config import Config
from chat.store import database_url_without_password
from chat.store.sqlite.moved import moved_to

__all__ = ["sqlite_config", "target_url"]  # fixtures

PASSWORD = "pw-in-the-url"


async def copied(config: Config, target: str) -> None:
    """Copy `config`'s SQLite database (made, with a user, if there is none yet)."""
    if not config.sqlite_path.exists():
        await add_users(config, "alice")
    result = await copy_database(config, with_password(target, PASSWORD))
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


async def serve(config: Config, *args: str) -> subprocess.CompletedProcess[bytes]:
    return await run_chat("serve", "--port", "0", *args, env=chat_environ(config))


def refusal(result: subprocess.CompletedProcess[bytes]) -> str:
    """The one line a refused command said (``chat: ...``), apart from its log lines
    (``chat serve`` logs the version it starts first)."""
    (line,) = [line for line in result.stderr.decode().splitlines() if line.startswith("chat:")]
    return line


async def test_serve_on_a_copied_sqlite_file_refuses_naming_the_new_database(
    sqlite_config: Config, target_url: str
) -> None:
    await copied(sqlite_config, target_url)
    result = await serve(sqlite_config)
    assert result.returncode == 2
    line = refusal(result)
    assert line.startswith(
        f"chat: {sqlite_config.sqlite_path} was moved to {target_url} by chat copy-database"
    )
    assert "Set CHAT_DATABASE_URL to the new database" in line
    assert "--force-moved" in line
    assert PASSWORD not in line


async def test_serve_with_force_moved_starts_on_a_copied_sqlite_file(
    tmp_path: Path, sqlite_config: Config, target_url: str
) -> None:
    await copied(sqlite_config, target_url)
    instance = await start_instance(
        sqlite_config.replace(log_level="INFO"), tmp_path / "forced.log", "--force-moved"
    )
    await instance.stop()
    log = (tmp_path / "forced.log").read_text()
    assert f"although it was moved to {target_url} (--force-moved)" in log


async def test_user_commands_refuse_a_copied_sqlite_file_unless_forced(
    sqlite_config: Config, target_url: str
) -> None:
    await copied(sqlite_config, target_url)
    env = chat_environ(sqlite_config)
    refused = await run_chat(
        "user", "add", "bob", "--password-stdin", env=env, stdin=b"bobs-pw-1\n"
    )
    assert refused.returncode == 2
    assert f"was moved to {target_url}" in refusal(refused)
    forced = await run_chat(
        "user", "add", "bob", "--password-stdin", "--force-moved", env=env, stdin=b"bobs-pw-1\n"
    )
    assert forced.returncode == 0, forced.stderr.decode()
    # Reading changes nothing: listing the users works on a moved file.
    listed = await run_chat("user", "list", env=env)
    assert listed.returncode == 0 and b"bob" in listed.stdout


@asynccontextmanager
async def copied_twice(config: Config, first: str) -> AsyncIterator[str]:
    """`config`'s database copied to `first`, then to a second, new target: its URL."""
    await copied(config, first)
    async with throwaway_postgres_schema() as second:
        await copied(config, second)
        yield second


async def test_a_copy_to_a_second_target_moves_the_mark_there(
    sqlite_config: Config, target_url: str
) -> None:
    async with copied_twice(sqlite_config, target_url) as second:
        moved = moved_to(sqlite_config.sqlite_path)
        assert moved is not None and moved.target == second
        assert f"was moved to {second} by" in refusal(await serve(sqlite_config))


async def test_a_refused_copy_leaves_the_mark_where_it_was(
    sqlite_config: Config, target_url: str
) -> None:
    async with copied_twice(sqlite_config, target_url) as second:
        # Into the first target again: refused (it holds a finished copy).
        again = await copy_database(sqlite_config, target_url)
        assert again.returncode == 1
        moved = moved_to(sqlite_config.sqlite_path)
        assert moved is not None and moved.target == second


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://chat:s3cret@db.internal/chat", "postgresql://chat@db.internal/chat"),
        (
            "postgresql://chat:p%40ss@db:5433/chat?search_path=team&password=x",
            "postgresql://chat@db:5433/chat?search_path=team",
        ),
        ("postgres://chat@db/chat", "postgres://chat@db/chat"),
    ],
)
def test_a_database_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert database_url_without_password(url) == shown
