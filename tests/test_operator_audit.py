"""Operators' actions in the audit log: `chat user add`, `passwd`, `delete`, `promote` and
`demote`, `chat restore`, `chat copy-database`, and retention's passes. The commands'
entries are server-wide (no room), by the system account that ran them
("operator:<login>", UID 0); retention's are the room's, by the server. `chat audit`
prints them and `GET /audit` serves them to operators. On both backends where the
command runs on both (restore and copy-database start from SQLite)."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import trio
from support import (
    Server,
    account,
    chat_environ,
    create_room,
    http_client,
    run_chat,
    start_server,
)
from test_backup import an_archive, restored
from test_backup import sqlite_config as backup_config
from test_cli import add_users
from test_copy_database import copy_database, sqlite_config, target_url
from test_retention import PERIOD, age, post, until_gone
from test_support import operator

from chat.core.config import Config
from chat.http.moderation import AUDIT_ENTRY

__all__ = ["sqlite_config", "target_url"]  # fixtures

#: Who the commands run by this test are recorded as.
OPERATOR = "operator:" + pwd.getpwuid(os.getuid()).pw_name
BY_OPERATOR = {"UID": 0, "Username": OPERATOR}


async def chat(
    config: Config, *args: str, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(60):
        return await run_chat(*args, env=chat_environ(config), stdin=stdin)


async def audit_entries(config: Config, *args: str) -> list[dict[str, Any]]:
    """`chat audit --json` on `config`'s database: its entries, newest first."""
    result = await chat(config, "audit", "--json", *args)
    assert result.returncode == 0, result.stderr.decode()
    entries: list[dict[str, Any]] = json.loads(result.stdout)
    return entries


async def audit_lines(config: Config) -> list[str]:
    result = await chat(config, "audit")
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode().splitlines()


async def get(server: Server, token: str, path: str) -> Any:
    async with http_client(server) as client:
        response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.json()


#: Each `chat user` command on carol: its arguments, standard input, and the entry's details.
USER_COMMANDS: dict[str, tuple[tuple[str, ...], bytes, dict[str, Any]]] = {
    "user-add": (
        ("add", "carol", "--admin", "--password-stdin"),
        b"carols-pw-1\n",
        {"Operator": True},
    ),
    "user-password": (("passwd", "carol", "--password-stdin"), b"carols-pw-2\n", {}),
    "user-delete": (("delete", "carol", "--yes"), b"", {"Operator": False}),
    "user-promote": (("promote", "carol"), b"", {}),
    "user-demote": (("demote", "carol"), b"", {}),
}


@pytest.mark.parametrize("action", list(USER_COMMANDS))
async def test_a_user_command_is_in_the_audit_log_by_the_operator_who_ran_it(
    config: Config, action: str
) -> None:
    args, stdin, details = USER_COMMANDS[action]
    if action != "user-add":
        await add_users(config, "carol", operators=("carol",) if action == "user-demote" else ())
    result = await chat(config, "user", *args, stdin=stdin)
    assert result.returncode == 0, result.stderr.decode()
    (entry,) = await audit_entries(config)
    assert entry["Action"] == action
    assert entry["RoomID"] is None
    assert entry["By"] == BY_OPERATOR
    assert entry["Target"]["Username"] == "carol"
    assert entry["Details"] == details
    uid = entry["Target"]["UID"]
    (line,) = await audit_lines(config)
    assert f"  server  {action}  by {OPERATOR!r}  on 'carol' (UID {uid})" in line


async def test_a_refused_user_command_writes_no_entry(config: Config) -> None:
    await add_users(config, "carol")
    taken = await chat(config, "user", "add", "carol", "--password-stdin", stdin=b"pw-1234567\n")
    assert taken.returncode == 1
    unchanged = await chat(config, "user", "demote", "carol")  # not an operator: nothing to do
    assert unchanged.returncode == 0, unchanged.stderr.decode()
    assert await audit_entries(config) == []
    assert await audit_lines(config) == ["no entries"]


async def test_operators_read_the_commands_entries_on_get_audit_but_rooms_do_not_list_them(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config)
    op = await operator(server)
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    result = await chat(config, "user", "promote", "alice")
    assert result.returncode == 0, result.stderr.decode()
    newest = (await get(server, op.token, "/audit"))[0]
    jsonschema.validate(newest, AUDIT_ENTRY)  # as GET /openapi.json describes it
    assert newest["Action"] == "user-promote"
    assert newest["RoomID"] is None
    assert newest["By"] == BY_OPERATOR
    assert newest["Target"] == {"UID": alice.uid, "Username": "alice"}
    # A room's log is the room's: the server-wide entries are not in it.
    room_log = await get(server, alice.token, f"/room/{room_id}/audit")
    assert "user-promote" not in [entry["Action"] for entry in room_log]


async def retention_entries(server: Server, token: str, room_id: int) -> list[dict[str, Any]]:
    entries = await get(server, token, f"/room/{room_id}/audit")
    return [entry for entry in entries if entry["Action"] == "retention"]


async def test_a_retention_pass_is_in_the_rooms_audit_log_with_what_it_deleted(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(retention_days=30, retention_period=PERIOD))
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    old = [await post(server, alice, room_id, f"old {n}") for n in range(3)]
    await post(server, alice, room_id, "new")
    await age(server.config, old, days=31)
    await until_gone(server.config, old)
    with trio.fail_after(10):
        while not (entries := await retention_entries(server, alice.token, room_id)):  # noqa: ASYNC110
            await trio.sleep(PERIOD)
    (entry,) = entries
    assert entry["RoomID"] == room_id
    assert entry["By"] == {"UID": 0, "Username": "server"}
    details = entry["Details"]
    assert (details["Messages"], details["Files"], details["UpToID"]) == (3, 0, max(old))
    assert details["Days"] == 30
    assert any(
        f"room {room_id}  retention  by 'server'" in line for line in await audit_lines(config)
    )


async def test_a_restore_is_in_the_restored_databases_audit_log(tmp_path: Path) -> None:
    archive = await an_archive(tmp_path)
    config = backup_config(tmp_path, "restored")
    await restored(config, archive)
    entry = (await audit_entries(config))[0]
    assert entry["Action"] == "restore"
    assert entry["RoomID"] is None
    assert entry["By"] == BY_OPERATOR
    assert entry["Details"]["Archive"] == str(archive.resolve())
    assert entry["Details"]["Files"] == 0
    assert entry["Details"]["BackupCreatedAt"]
    # The restored database is served, with its entry.
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, config)
        op = await operator(server)
        assert (await get(server, op.token, "/audit"))[0]["Action"] == "restore"
        nursery.cancel_scope.cancel()


def with_password(url: str, password: str) -> str:
    """`url` (postgresql://user@host/...) with a password for its user."""
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{password}@{host}"


async def test_a_copy_is_in_both_databases_audit_logs_which_still_compare_equal(
    sqlite_config: Config, target_url: str
) -> None:
    await add_users(sqlite_config, "alice")
    result = await copy_database(sqlite_config, with_password(target_url, "pw-in-the-url"))
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    (entry,) = await audit_entries(sqlite_config.replace(database_url=target_url))
    assert entry["Action"] == "copy-database"
    assert entry["RoomID"] is None
    assert entry["By"] == BY_OPERATOR
    details = entry["Details"]
    assert details["From"] == str(sqlite_config.sqlite_path)
    assert details["To"] == target_url  # without the password
    assert details["Tables"] > 20 and details["Rows"] > 1
    # The same entry in the SQLite file: the two databases still compare equal.
    assert await audit_entries(sqlite_config) == [entry]
    verified = await copy_database(sqlite_config, target_url, "--verify-only")
    assert verified.returncode == 0, verified.stdout.decode()
    assert "pw-in-the-url" not in json.dumps(entry)
