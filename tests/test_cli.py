"""The `chat` command: --version, migrate, user add/list/passwd/delete/promote/demote,
each command's --help, bad settings, serve's start-up errors, exit codes."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from subprocess import CompletedProcess

import pytest
import trio
from support import (
    PASSWORD,
    STEP,
    Server,
    account,
    add_message,
    chat_environ,
    http_client,
    open_clients,
    pg_session,
    postgres_url_or_skip,
    run_chat,
    start_server,
)
from trio_websocket import ConnectionClosed, WebSocketConnection

import chat
from chat.app.accounts.auth import Passwords
from chat.core.config import SETTINGS, Config
from chat.core.records import Room, User
from chat.server.version import build_info
from chat.store import open_store


@pytest.mark.unmigrated
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


# --- chat --version ---


@pytest.mark.parametrize("flag", ["--version", "-V"])
async def test_version_prints_the_package_version_through_the_installed_command(
    flag: str,
) -> None:
    installed = Path(sys.executable).parent / "chat"
    result = await trio.run_process(
        [str(installed), flag], capture_stdout=True, capture_stderr=True, check=False
    )
    assert result.returncode == 0, result.stderr
    build = await trio.to_thread.run_sync(build_info)
    assert result.stdout.decode() == f"chat {build.version}\n"
    assert build.release == chat.__version__ == "0.3.0"


# --- chat user list, passwd, delete, promote, demote ---


async def add_users(config: Config, *names: str, operators: tuple[str, ...] = ()) -> list[User]:
    """Users stored directly (with a cheap hash of PASSWORD), as `chat user add` would."""
    password_hash = await Passwords(4).hash(PASSWORD)
    async with open_store(config) as store:
        return [
            await store.create_user(name, password_hash, email=None, is_admin=name in operators)
            for name in names
        ]


async def chat_user(config: Config, *args: str, stdin: bytes = b"") -> CompletedProcess[bytes]:
    return await run_chat("user", *args, env=chat_environ(config), stdin=stdin)


async def log_in(server: Server, name: str, password: str) -> int:
    """The status of a login with these credentials (spec 003's POST /auth)."""
    async with http_client(server) as client:
        response = await client.post("/auth", json={"name": name, "password": password})
    return response.status_code


async def closing_of(ws: WebSocketConnection) -> tuple[int, str]:
    """The code and reason the server closes `ws` with (frames before it are skipped)."""
    with trio.fail_after(STEP):
        while True:
            try:
                await ws.get_message()
            except ConnectionClosed as closing:
                return closing.reason.code, closing.reason.reason or ""


async def alices_session_closing(
    nursery: trio.Nursery, config: Config, *args: str, stdin: bytes = b""
) -> tuple[int, str]:
    """How a running server closes alice's open /ws session once `chat user ARGS`
    succeeded (its revocation sweep runs twice a second)."""
    server = await start_server(nursery, config.replace(revocation_sweep=0.5))
    alice = await account(server, "alice", PASSWORD)
    async with open_clients(server) as clients:
        ws = await clients.json("/ws", token=alice.token)
        result = await chat_user(config, *args, stdin=stdin)
        assert result.returncode == 0, result.stderr
        return await closing_of(ws.ws)


async def test_user_list_shows_every_user_with_their_role(config: Config) -> None:
    alice, op = await add_users(config, "alice", "op", operators=("op",))
    listed = await chat_user(config, "list")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.decode().splitlines()
    assert header.split() == ["ID", "NAME", "ROLE", "E-MAIL", "CREATED", "(UTC)"]
    assert [row.split()[:4] for row in rows] == [
        [str(alice.id), "alice", "user", "-"],
        [str(op.id), "op", "operator", "-"],
    ]


async def test_user_list_json_gives_every_user_for_scripts(config: Config) -> None:
    alice, op = await add_users(config, "alice", "op", operators=("op",))
    listed = await chat_user(config, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [
        {
            "id": user.id,
            "name": user.name,
            "role": role,
            "email": None,
            "created_at": user.created_at.isoformat(),
        }
        for user, role in ((alice, "user"), (op, "operator"))
    ]


async def test_passwd_changes_the_password(nursery: trio.Nursery, config: Config) -> None:
    server = await start_server(nursery, config)
    await account(server, "alice", PASSWORD)
    changed = await chat_user(config, "passwd", "alice", "--password-stdin", stdin=b"new-secret\n")
    assert changed.returncode == 0, changed.stderr
    assert b"changed the password of 'alice'" in changed.stdout
    assert await log_in(server, "alice", PASSWORD) == 401
    assert await log_in(server, "alice", "new-secret") == 200


async def test_passwd_closes_the_users_open_session_on_a_running_server(
    nursery: trio.Nursery, config: Config
) -> None:
    closing = await alices_session_closing(
        nursery, config, "passwd", "alice", "--password-stdin", stdin=b"new-pw-1\n"
    )
    assert closing == (1008, "token has been revoked")


async def test_passwd_refuses_a_password_the_rules_refuse_and_changes_nothing(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config)
    await account(server, "alice", PASSWORD)
    refused = await chat_user(config, "passwd", "alice", "--password-stdin", stdin=b"short\n")
    assert refused.returncode == 1
    assert b"chat: password must be at least 8 characters" in refused.stderr
    assert await log_in(server, "alice", PASSWORD) == 200


async def test_delete_removes_the_user_who_can_no_longer_log_in(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config)
    await account(server, "alice", PASSWORD)
    deleted = await chat_user(config, "delete", "alice", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert b"deleted user 'alice'" in deleted.stdout
    assert await log_in(server, "alice", PASSWORD) == 401
    async with open_store(config) as store:
        assert await store.user_by_name("alice") is None


async def test_delete_closes_the_users_open_session_on_a_running_server(
    nursery: trio.Nursery, config: Config
) -> None:
    code, reason = await alices_session_closing(nursery, config, "delete", "alice", "--yes")
    # The tokens are revoked first, the account erased after: the sweep may come between.
    assert (code, reason) in {(1008, "account deleted"), (1008, "token has been revoked")}


@dataclass(frozen=True)
class Leaving:
    """What a user about to be deleted left behind, and what another user has."""

    leaving: User
    staying: User
    group: Room
    direct: Room
    support: Room


async def a_user_with_a_history(config: Config) -> Leaving:
    """alice: messages in the lobby, a group room she created (bob is in it), a direct
    conversation with bob (his message in it), a support thread; bob: a lobby message."""
    alice, bob = await add_users(config, "alice", "bob")
    async with open_store(config) as store:
        group = await store.create_room("alices-room", is_private=False, creator_id=alice.id)
        await store.add_member(group.id, bob.id)
        direct = await store.direct_room(alice.id, bob.id, create=True)
        support = await store.support_room(alice.id, create=True)
        assert direct is not None and support is not None
        await add_message(store, store.lobby_id, alice.id, "hello from alice")
        await add_message(store, store.lobby_id, bob.id, "hello from bob")
        await add_message(store, group.id, alice.id, "alice in her room")
        await add_message(store, direct.id, bob.id, "bob to alice")
        await add_message(store, support.id, alice.id, "alice needs help")
    return Leaving(alice, bob, group, direct, support)


async def test_delete_tombstones_the_users_messages_and_keeps_everyone_elses(
    config: Config,
) -> None:
    history = await a_user_with_a_history(config)
    assert (await chat_user(config, "delete", "alice", "--yes")).returncode == 0
    async with open_store(config) as store:
        lobby = await store.latest_messages(store.lobby_id, 10)
        in_group = await store.latest_messages(history.group.id, 10)
    assert [(m.body, m.deleted) for m in lobby] == [("", True), ("hello from bob", False)]
    assert [(m.body, m.deleted) for m in in_group] == [("", True)]


async def test_delete_keeps_the_other_sides_messages_in_direct_conversations_and_support(
    config: Config,
) -> None:
    history = await a_user_with_a_history(config)
    assert (await chat_user(config, "delete", "alice", "--yes")).returncode == 0
    async with open_store(config) as store:
        direct = await store.latest_messages(history.direct.id, 10)
        support = await store.latest_messages(history.support.id, 10)
        assert await store.room_by_id(history.direct.id) is not None
    assert [(m.body, m.deleted) for m in direct] == [("bob to alice", False)]
    assert [(m.body, m.deleted) for m in support] == [("", True)]


async def test_delete_keeps_group_rooms_the_user_created_without_a_creator(config: Config) -> None:
    history = await a_user_with_a_history(config)
    assert (await chat_user(config, "delete", "alice", "--yes")).returncode == 0
    async with open_store(config) as store:
        group = await store.room_by_id(history.group.id)
        assert group is not None and group.creator_id is None
        assert await store.is_member(group.id, history.staying.id)


async def test_after_delete_the_other_side_of_a_direct_conversation_gets_a_clear_error(
    nursery: trio.Nursery, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    """bob's open session knew alice and their conversation, both gone now."""
    server = await start_server(nursery, config.replace(revocation_sweep=3600.0))
    alice, bob = await account(server, "alice"), await account(server, "bob")
    async with open_clients(server) as clients:
        ws = await clients.json("/ws", token=bob.token)
        hello = {"from": bob.uid, "to": alice.uid, "content": "hello"}
        assert "error" not in await ws.request(hello)  # the conversation exists
        assert (await chat_user(config, "delete", "alice", "--yes")).returncode == 0
        caplog.set_level(logging.WARNING)
        answer = await ws.request({**hello, "content": "still there?"})
        assert answer == {
            "error": f"UID {alice.uid}'s account was deleted: the conversation is closed,"
            " nobody can write to them any more"
        }
        await ws.send("ping")
        assert await ws.ws.get_message() == "pong"  # still connected
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_delete_asks_first_and_deletes_only_on_yes(config: Config) -> None:
    await add_users(config, "alice")
    kept = await chat_user(config, "delete", "alice", stdin=b"n\n")
    assert kept.returncode == 1
    assert b"Delete user 'alice'" in kept.stderr and b"'alice' was not deleted" in kept.stderr
    async with open_store(config) as store:
        assert await store.user_by_name("alice") is not None
    deleted = await chat_user(config, "delete", "alice", stdin=b"y\n")
    assert deleted.returncode == 0, deleted.stderr
    async with open_store(config) as store:
        assert await store.user_by_name("alice") is None


async def test_promote_and_demote_decide_whether_a_user_may_read_others_support_threads(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config)
    alice, bob = await account(server, "alice"), await account(server, "bob")
    async with open_store(config) as store:
        thread = await store.support_room(alice.uid, create=True)
    assert thread is not None

    async def bob_reads_alices_thread() -> int:
        async with http_client(server) as client:
            return (await client.get(f"/messages/{thread.id}", headers=bob.auth)).status_code

    assert await bob_reads_alices_thread() == 403
    promoted = await chat_user(config, "promote", "bob")
    assert (promoted.returncode, promoted.stdout) == (0, b"'bob' is now an operator\n")
    assert await bob_reads_alices_thread() == 200
    demoted = await chat_user(config, "demote", "bob")
    assert demoted.returncode == 0, demoted.stderr
    assert demoted.stdout.startswith(b"'bob' is no longer an operator")
    assert await bob_reads_alices_thread() == 401  # and his token is revoked
    async with http_client(server) as client:
        login = await client.post("/auth", json={"name": "bob", "password": PASSWORD})
        fresh = {"Authorization": f"Bearer {login.json()['token']}"}
        assert (await client.get(f"/messages/{thread.id}", headers=fresh)).status_code == 403


async def test_demote_closes_the_operators_open_support_session(
    nursery: trio.Nursery, config: Config
) -> None:
    """The session was opened as an operator's and keeps that identity: it must end."""
    server = await start_server(nursery, config.replace(revocation_sweep=0.5))
    op = await account(server, "op")
    assert (await chat_user(config, "promote", "op")).returncode == 0
    async with open_clients(server) as clients:
        ws = await clients.json("/v1/ws")
        auth = {"method": "message.auth", "params": [op.token], "id": 1}
        assert "conversations" in (await ws.request(auth))["result"]  # an operator's greeting
        assert (await chat_user(config, "demote", "op")).returncode == 0
        assert await closing_of(ws.ws) == (1008, "token has been revoked")


@pytest.mark.parametrize(
    "action,already",
    [
        ("promote", b"'op' is already an operator\n"),
        ("demote", b"'al' is already an ordinary user\n"),
    ],
)
async def test_promote_and_demote_are_idempotent_and_say_so(
    config: Config, action: str, already: bytes
) -> None:
    await add_users(config, "op", "al", operators=("op",))
    name = "op" if action == "promote" else "al"
    again = await chat_user(config, action, name)
    assert (again.returncode, again.stdout) == (0, already)
    async with open_store(config) as store:
        user = await store.user_by_name(name)
    assert user is not None and user.is_admin == (action == "promote")


async def test_names_are_matched_as_logins_match_them(config: Config) -> None:
    await add_users(config, "alice")
    promoted = await chat_user(config, "promote", "ALICE")  # logs in as alice
    assert (promoted.returncode, promoted.stdout) == (0, b"'alice' is now an operator\n")


@pytest.mark.parametrize(
    "action",
    [
        ("passwd", "--password-stdin"),
        ("delete", "--yes"),
        ("export", "--output", "x.zip"),
        ("promote",),
        ("demote",),
    ],
)
async def test_an_unknown_name_exits_1_saying_so(config: Config, action: tuple[str, ...]) -> None:
    await add_users(config, "alice")
    result = await chat_user(config, action[0], "nobody", *action[1:], stdin=b"long-enough\n")
    assert (result.returncode, result.stderr) == (1, b"chat: no user named 'nobody'\n")


# --- each command's --help, and bad values ---

USER_ACTIONS = ["add", "list", "passwd", "delete", "export", "promote", "demote"]


@pytest.mark.parametrize("command", [["migrate"], *(["user", action] for action in USER_ACTIONS)])
async def test_a_database_commands_help_lists_only_the_settings_it_uses(
    command: list[str],
) -> None:
    result = await run_chat(*command, "--help", env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert b"--database-url" in result.stdout and b"--data-dir" in result.stdout
    for server_only in (b"--port", b"--host", b"--workers", b"--bus-url", b"CHAT_MAX_FRAME"):
        assert server_only not in result.stdout


async def test_serve_help_lists_every_setting() -> None:
    result = await run_chat("serve", "--help", env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    for setting in SETTINGS:
        assert (setting.flag or setting.env).encode() in result.stdout


@pytest.mark.parametrize("action", ["add", "passwd"])
async def test_commands_that_hash_passwords_mention_the_bcrypt_cost(action: str) -> None:
    result = await run_chat("user", action, "--help", env=dict(os.environ))
    assert b"CHAT_BCRYPT_COST" in result.stdout


@pytest.mark.parametrize(
    "args,environ,message",
    [
        (
            ["serve", "--port", "abc"],
            {},
            "chat: --port: the port must be an integer from 0 to 65535, not 'abc'",
        ),
        (
            ["serve"],
            {"CHAT_PORT": "abc"},
            "chat: CHAT_PORT: the port must be an integer from 0 to 65535, not 'abc'",
        ),
        (
            ["user", "list"],
            {"CHAT_BCRYPT_COST": "99"},
            "chat: CHAT_BCRYPT_COST: the bcrypt cost must be an integer from 4 to 31, not '99'",
        ),
        (
            ["user", "list", "--log-level", "loud"],
            {},
            "chat: --log-level: the log level must be one of DEBUG, INFO, WARNING, ERROR,"
            " CRITICAL, not 'loud'",
        ),
        (
            ["migrate"],
            {"CHAT_LOG_LEVEL": "loud"},
            "chat: CHAT_LOG_LEVEL: the log level must be one of DEBUG, INFO, WARNING, ERROR,"
            " CRITICAL, not 'loud'",
        ),
        (
            ["serve", "--workers", "none"],
            {},
            "chat: --workers: the number of workers must be an integer, 1 or more, not 'none'",
        ),
        (
            ["serve"],
            {"CHAT_WRITE_TIMEOUT": "soon"},
            "chat: CHAT_WRITE_TIMEOUT: the write timeout must be a positive number, not 'soon'",
        ),
        (
            ["serve"],
            {"CHAT_TRUSTED_PROXIES": "10.0.0.0/8,proxy"},
            "chat: CHAT_TRUSTED_PROXIES: the trusted proxies must be comma-separated IP"
            " addresses or networks like 10.0.0.0/8, not '10.0.0.0/8,proxy'"
            " ('proxy' is not one)",
        ),
    ],
    ids=[
        "port-flag",
        "port-env",
        "bcrypt-cost-env",
        "log-level-flag",
        "log-level-env",
        "workers-flag",
        "write-timeout-env",
        "trusted-proxies-env",
    ],
)
async def test_a_bad_value_exits_2_naming_the_setting_and_what_it_expects(
    tmp_path: Path, args: list[str], environ: dict[str, str], message: str
) -> None:
    env = dict(os.environ, CHAT_DATA_DIR=str(tmp_path), **environ)
    result = await run_chat(*args, env=env)
    assert (result.returncode, result.stderr.decode()) == (2, message + "\n")


@pytest.mark.parametrize("setting", ["CHAT_DATABASE_URL", "CHAT_BUS_URL", "CHAT_JWT_SECRET"])
async def test_a_bad_value_that_may_hold_a_password_is_not_repeated(
    tmp_path: Path, setting: str
) -> None:
    env = dict(os.environ, CHAT_DATA_DIR=str(tmp_path), **{setting: "mysql://me:hunter2@db"})
    result = await run_chat("serve", env=env)
    assert result.returncode == 2
    assert result.stderr.startswith(f"chat: {setting}: the ".encode())
    assert b"hunter2" not in result.stderr


async def test_argparse_errors_keep_the_usage_line() -> None:
    missing = await run_chat("user", "passwd", env=dict(os.environ))
    assert missing.returncode == 2
    assert missing.stderr.startswith(b"usage: chat user passwd")
    assert b"the following arguments are required: name" in missing.stderr
    unknown = await run_chat("user", "list", "--port", "9000", env=dict(os.environ))
    assert unknown.returncode == 2
    assert unknown.stderr.startswith(b"usage: chat ")
    assert b"unrecognized arguments: --port 9000" in unknown.stderr


async def _without_a_terminal(*args: str, env: dict[str, str]) -> CompletedProcess[bytes]:
    """`chat *args` in a session of its own: no controlling terminal, stdin empty."""
    return await trio.run_process(
        [sys.executable, "-m", "chat", *args],
        env=env,
        stdin=b"",
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        start_new_session=True,
    )


async def test_user_add_without_a_terminal_or_password_stdin_says_how_to_give_one(
    config: Config,
) -> None:
    result = await _without_a_terminal("user", "add", "bob", env=chat_environ(config))
    assert result.returncode == 1
    assert b"no terminal to ask for the password on" in result.stderr
    assert b"--password-stdin" in result.stderr
    assert b"Traceback" not in result.stderr


async def test_user_passwd_without_a_terminal_says_how_to_give_one(config: Config) -> None:
    env = chat_environ(config)
    added = await run_chat("user", "add", "bob", "--password-stdin", env=env, stdin=b"pw-of-bob\n")
    assert added.returncode == 0, added.stderr
    result = await _without_a_terminal("user", "passwd", "bob", env=env)
    assert result.returncode == 1
    assert b"no terminal to ask for the password on" in result.stderr


async def test_migrate_into_a_missing_schema_says_how_to_create_it(tmp_path: Path) -> None:
    base = postgres_url_or_skip()
    schema = "chat_missing_" + os.urandom(4).hex()
    url = f"{base}{'&' if '?' in base else '?'}search_path={schema}"
    env = dict(os.environ, CHAT_DATA_DIR=str(tmp_path), CHAT_DATABASE_URL=url)
    for command in (("migrate",), ("serve", "--port", "0")):
        refused = await run_chat(*command, env=env)
        assert refused.returncode == 2, refused.stderr
        assert f"has no schema '{schema}'".encode() in refused.stderr
        assert b"chat migrate --create-schema" in refused.stderr
        assert b"Traceback" not in refused.stderr
    try:
        created = await run_chat("migrate", "--create-schema", env=env)
        assert created.returncode == 0, created.stderr
        assert b"applied 0001_initial" in created.stdout
        again = await run_chat("migrate", env=env)
        assert again.returncode == 0 and b"already up to date" in again.stdout
    finally:
        async with pg_session(base) as execute:
            await execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
