"""The `chat` command: migrate, user add, serve's start-up errors, exit codes."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import trio
from support import Server, chat_environ, http_client, run_chat, start_server

from chat.config import Config
from chat.store import open_store


async def test_migrate_applies_the_schema_then_reports_it_up_to_date(config: Config) -> None:
    first = await run_chat("migrate", env=chat_environ(config))
    assert first.returncode == 0, first.stderr
    assert b"applied 0001_initial" in first.stdout
    second = await run_chat("migrate", env=chat_environ(config))
    assert second.returncode == 0, second.stderr
    assert b"already up to date" in second.stdout


async def test_user_add_creates_a_user_who_can_log_in(
    nursery: trio.Nursery, config: Config
) -> None:
    added = await run_chat(
        "user", "add", "alice", "--password-stdin", env=chat_environ(config), stdin=b"s3cret-pw\n"
    )
    assert added.returncode == 0, added.stderr
    assert b"created user 'alice'" in added.stdout
    server: Server = await start_server(nursery, config)
    async with http_client(server) as client:
        response = await client.post("/auth", json={"name": "alice", "password": "s3cret-pw"})
    assert response.status_code == 200


async def test_user_add_admin_with_email_stores_both(config: Config) -> None:
    added = await run_chat(
        "user",
        "add",
        "op",
        "--admin",
        "--email",
        "Op@Example.com",
        "--password-stdin",
        env=chat_environ(config),
        stdin=b"operator-pw\n",
    )
    assert added.returncode == 0, added.stderr
    assert b"created operator 'op'" in added.stdout
    async with open_store(config) as store:
        user = await store.user_by_name("op")
    assert user is not None and user.is_admin and user.email == "op@example.com"


async def test_user_add_with_a_taken_name_fails_with_a_message(config: Config) -> None:
    env = chat_environ(config)
    first = await run_chat("user", "add", "alice", "--password-stdin", env=env, stdin=b"first-pw\n")
    assert first.returncode == 0, first.stderr
    again = await run_chat("user", "add", "alice", "--password-stdin", env=env, stdin=b"other-pw\n")
    assert again.returncode == 1
    assert b"already taken" in again.stderr


async def test_user_add_refuses_a_look_alike_of_a_taken_name(config: Config) -> None:
    env = chat_environ(config)
    first = await run_chat("user", "add", "alice", "--password-stdin", env=env, stdin=b"first-pw\n")
    assert first.returncode == 0, first.stderr
    # Capital I, which passes for a lower-case l.
    again = await run_chat("user", "add", "AIice", "--password-stdin", env=env, stdin=b"other-pw\n")
    assert again.returncode == 1
    assert "user name 'AIice' is already taken: it looks like 'alice'" in again.stderr.decode()


async def test_user_add_stores_the_normalised_name(config: Config) -> None:
    fullwidth = "\uff42\uff4f\uff42"  # "bob" in full-width letters
    added = await run_chat(
        "user", "add", fullwidth, "--password-stdin", env=chat_environ(config), stdin=b"bob-s-pw\n"
    )
    assert added.returncode == 0, added.stderr
    assert b"created user 'bob'" in added.stdout


async def test_user_add_refuses_an_invalid_name_or_password(config: Config) -> None:
    env = chat_environ(config)
    password = b"correct horse\n"
    bad_name = await run_chat("user", "add", " spaced", "--password-stdin", env=env, stdin=password)
    assert bad_name.returncode == 1 and b"spaces" in bad_name.stderr
    reserved = await run_chat("user", "add", "Admin", "--password-stdin", env=env, stdin=password)
    assert reserved.returncode == 1 and b"reserved" in reserved.stderr
    empty = await run_chat("user", "add", "bob", "--password-stdin", env=env, stdin=b"\n")
    assert empty.returncode == 1 and b"password must not be empty" in empty.stderr
    short = await run_chat("user", "add", "bob", "--password-stdin", env=env, stdin=b"1234567\n")
    assert short.returncode == 1 and b"password must be at least 8 characters" in short.stderr


async def test_a_bad_setting_exits_2_naming_it(tmp_path: Path) -> None:
    env = dict(os.environ, CHAT_DATA_DIR=str(tmp_path), CHAT_PORT="ninety")
    result = await run_chat("serve", env=env)
    assert result.returncode == 2
    assert b"CHAT_PORT" in result.stderr and b"'ninety'" in result.stderr


async def test_serve_reports_an_unreachable_database_and_exits_1(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(
        os.environ,
        CHAT_DATA_DIR=str(tmp_path),
        CHAT_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/test",
    )
    result = await run_chat("serve", "--port", "0", env=env)
    assert result.returncode == 1
    assert b"cannot connect to PostgreSQL" in result.stderr
    assert b"Traceback" not in result.stderr


async def test_serve_reports_a_port_in_use_and_exits_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = dict(os.environ, CHAT_DATA_DIR=str(tmp_path), CHAT_BCRYPT_COST="4")
        result = await run_chat("serve", "--port", str(port), env=env)
    assert result.returncode == 1
    assert b"in use" in result.stderr
    assert b"Traceback" not in result.stderr


async def test_help_lists_the_commands() -> None:
    result = await run_chat("--help", env=dict(os.environ))
    assert result.returncode == 0
    for command in (b"serve", b"migrate", b"user"):
        assert command in result.stdout
