"""`chat copy-database`: a SQLite deployment moves to PostgreSQL.

Real processes throughout: a SQLite database the previous release made, filled through
the real server (HTTP and WebSocket), copied by the real `chat copy-database` command,
then served by three `chat serve` instances on PostgreSQL, which must answer every
history, search and file request as the SQLite server did, to the tokens it issued.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
from cluster import open_cluster
from files_support import png, upload
from support import (
    STEP,
    Account,
    Server,
    StoppableServer,
    account,
    chat_environ,
    create_room,
    http_client,
    open_clients,
    pg_query,
    postgres_url_or_skip,
    run_chat,
    select_rows,
    server_config,
    store_of_the_release_before,
    throwaway_postgres_schema,
    user_of_the_release_before,
)

from chat.core.config import Config
from chat.server.copy_database.tables import SKIPPED_TABLES, sqlite_tables
from chat.server.copy_database.target import COPY_LOCK

#: A step that may take a while on a loaded machine (a copy, a cluster start).
SLOW = 60.0


@pytest.fixture
async def target_url() -> AsyncIterator[str]:
    """An empty PostgreSQL schema to copy into."""
    async with throwaway_postgres_schema() as url:
        yield url


@pytest.fixture
def sqlite_config(tmp_path: Path) -> Config:
    """A SQLite server as an operator runs one: the signing key in DATA_DIR/jwt-secret
    (no CHAT_JWT_SECRET), files in a directory the PostgreSQL servers will share."""
    return server_config(tmp_path, None, jwt_secret=None, files_url=str(tmp_path / "files"))


async def copy_database(
    config: Config, target: str, *args: str
) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(SLOW):
        return await run_chat("copy-database", "--to", target, *args, env=chat_environ(config))


def _copy_command(target: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "chat", "copy-database", "--to", target, *args]


def _output(result: subprocess.CompletedProcess[bytes]) -> str:
    return result.stdout.decode() + result.stderr.decode()


def _said(result: subprocess.CompletedProcess[bytes]) -> list[str]:
    """What the command said on stderr, without the log's lines (the migrations it
    applied to the target, one line each)."""
    return [
        line
        for line in result.stderr.decode().splitlines()
        if "chat.store: migration applied" not in line
    ]


# Filling the SQLite database through the real server.


async def _ws_frame(ws: Any, wanted: Any) -> dict[str, Any]:
    """The first frame on `ws` for which `wanted(frame)` holds."""
    while True:
        frame = await ws.receive()
        if isinstance(frame, dict) and wanted(frame):
            return frame


async def _post(server: Server, user: Account, room_id: int, **fields: Any) -> dict[str, Any]:
    async with http_client(server) as client:
        response = await client.post(f"/messages/{room_id}", headers=user.auth, json=fields)
    assert response.status_code in (200, 201), response.text
    answer: dict[str, Any] = response.json()
    return answer


async def _call(server: Server, user: Account, method: str, path: str, **kwargs: Any) -> Any:
    async with http_client(server) as client:
        response = await client.request(method, path, headers=user.auth, **kwargs)
    assert response.is_success, (method, path, response.status_code, response.text)
    return response.json() if response.content else None


class Filled:
    """What the script made: the users, the rooms and the files to ask about."""

    def __init__(self) -> None:
        self.users: list[Account] = []
        self.rooms: dict[str, int] = {}
        self.files: list[tuple[str, str]] = []
        self.searches = ["deploy", "rollback", "hello", "support", "notes"]
        #: The message bob and alice gave a 👍.
        self.liked = 0


async def fill(server: Server) -> Filled:
    """Everything a chat holds, made the way people make it."""
    filled = Filled()
    alice, bob, carol, dave = [
        await account(server, name) for name in ("alice", "bob", "carol", "dave")
    ]
    filled.users = [alice, bob, carol, dave]
    general = await create_room(server, alice, "general", bob, carol, dave)
    secret = await create_room(server, alice, "secret", private=True)
    filled.rooms = {"general": general, "secret": secret}

    first = await _post(server, alice, general, Text="deploy at noon", ClientMsgID="m-1")
    reply = await _post(
        server, bob, general, Text="@alice ok, rollback plan?", ReplyTo=first["MessageID"]
    )
    edited = await _post(server, carol, general, Text="deplyo done")
    doomed = await _post(server, dave, general, Text="spam spam")
    await _post(server, alice, secret, Text="private deploy notes")
    path = f"/messages/{general}/{edited['MessageID']}"
    filled.liked = edited["MessageID"]
    await _call(server, carol, "PATCH", path, json={"Text": "deploy done"})
    await _call(server, bob, "PUT", f"{path}/reactions/👍")
    await _call(server, alice, "PUT", f"{path}/reactions/👍")
    await _call(server, dave, "DELETE", f"/messages/{general}/{doomed['MessageID']}")
    await _call(server, alice, "PUT", f"/messages/{general}/{reply['MessageID']}/reactions/🎉")

    picture = await upload(server, alice, png(64, 48), "chart.png", "image/png")
    notes = await upload(server, bob, b"release notes\n", "notes.txt", "text/plain")
    await _post(server, alice, general, Text="the chart", Files=[picture["FileID"]])
    await _post(server, bob, general, Text="notes attached", Files=[notes["FileID"]])
    filled.files = [(picture["FileID"], "chart.png"), (notes["FileID"], "notes.txt")]

    await _call(server, bob, "PUT", f"/room/{general}/notifications", json={"Level": "all"})
    await _call(
        server, alice, "PUT", f"/room/{general}/members/{bob.uid}", json={"Role": "moderator"}
    )
    await _call(
        server,
        alice,
        "PUT",
        f"/room/{general}/mutes/{dave.uid}",
        json={"Seconds": 3600, "Reason": "cool down"},
    )
    await _call(
        server, carol, "POST", "/reports", json={"MessageID": reply["MessageID"], "Reason": "rude"}
    )

    async with open_clients(server) as clients:
        # A direct conversation, on the room protocol's connection.
        ws = await clients.json("/ws", token=alice.token)
        await ws.send({"from": alice.uid, "to": carol.uid, "content": "hello carol"})
        await _ws_frame(ws, lambda frame: frame.get("content") == "hello carol")
        # Read markers.
        await ws.send({"Type": "read", "RoomID": general, "MessageID": reply["MessageID"]})
        await _ws_frame(ws, lambda frame: frame.get("Type") == "read")
        # A support thread.
        support = await clients.json("/v1/ws", token=dave.token)
        await support.send({"method": "message.send", "params": ["support please"], "id": 7})
        await _ws_frame(support, lambda frame: frame.get("id") == 7)
    for user in filled.users:  # every message is searchable before the answers are taken
        await _searchable(server, user, "deploy" if user is not dave else "support")
    return filled


async def _searchable(server: Server, user: Account, word: str) -> None:
    with trio.fail_after(SLOW):
        # Polling the server: its indexer tells nobody when it has caught up.
        while not await _call(server, user, "GET", "/search", params={"q": word}):  # noqa: ASYNC110
            await trio.sleep(0.05)


async def answers(server: Server, filled: Filled) -> dict[str, Any]:
    """Every answer the chat gives about what `fill` made, as each user asks it."""
    got: dict[str, Any] = {}
    for user in filled.users:
        rooms = await _call(server, user, "GET", "/rooms")
        got[f"{user.name} rooms"] = rooms
        for room_id in rooms:
            got[f"{user.name} history {room_id}"] = await _call(
                server, user, "GET", f"/messages/{room_id}"
            )
        for word in filled.searches:
            got[f"{user.name} search {word}"] = await _call(
                server, user, "GET", "/search", params={"q": word}
            )
        got[f"{user.name} unread"] = await _call(server, user, "GET", "/rooms/unread")
    # The one direct conversation (asking for another would start it).
    alice, carol = filled.users[0], filled.users[2]
    got["alice dm carol"] = await _call(server, alice, "GET", f"/dm/{carol.uid}")
    got["carol dm alice"] = await _call(server, carol, "GET", f"/dm/{alice.uid}")
    general = filled.rooms["general"]
    for what in ("reports?status=all", "audit", "bans", "notifications"):
        got[f"general {what}"] = await _call(server, alice, "GET", f"/room/{general}/{what}")
    members = await _call(server, alice, "GET", f"/room/{general}/members")
    got["general members"] = [{k: v for k, v in m.items() if k != "Online"} for m in members]
    for file_id, name in filled.files:
        for suffix in (name, "thumbnail"):
            async with http_client(server) as client:
                response = await client.get(f"/files/{file_id}/{suffix}", headers=alice.auth)
            got[f"file {file_id}/{suffix}"] = (response.status_code, response.content)
    return got


def _assert_everything_is_there(got: dict[str, Any], filled: Filled) -> None:
    """The answers show every kind of thing `fill` made (so comparing them means something)."""
    alice = filled.users[0]
    history = got[f"alice history {filled.rooms['general']}"]
    assert any(item.get("Deleted") for item in history)
    assert any(item["EditedAt"] for item in history)
    assert any(item["Reactions"] for item in history)
    assert any(item.get("ReplyTo") for item in history)
    assert any(item.get("Files") for item in history)
    assert any(item.get("ClientMsgID") == "m-1" for item in history)
    assert any(item.get("Mentions") for item in history)
    assert got["alice search deploy"] and got["dave search support"]
    assert got["alice search notes"]
    for file_id, name in filled.files:
        assert got[f"file {file_id}/{name}"][0] == 200
    assert got["general reports?status=all"] and got["general audit"]
    assert any(item["Unread"] for item in got["bob unread"])
    assert alice.uid in [member["UID"] for member in got["general members"]]


async def test_a_copied_database_answers_the_same_from_three_postgresql_instances(
    tmp_path: Path, sqlite_config: Config, target_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The previous release made the database (before search and room moderation).
    async with store_of_the_release_before(sqlite_config, monkeypatch, {"sqlite": 17}):
        pass
    async with trio.open_nursery() as nursery:
        sqlite_server = StoppableServer(nursery, sqlite_config)
        server = await sqlite_server.start()
        filled = await fill(server)
        before = await answers(server, filled)
        await sqlite_server.stop()
    _assert_everything_is_there(before, filled)

    result = await copy_database(sqlite_config, target_url)
    assert result.returncode == 0, _output(result)
    assert "copy verified: every table matches" in result.stdout.decode()

    async with pg_query(target_url) as fetchval:
        secret = await fetchval("SELECT value FROM server_secrets WHERE name = 'jwt'")
        newest = await fetchval(
            "SELECT max(id) FROM"
            " (SELECT id FROM messages UNION SELECT seq FROM message_changes) AS positions"
        )
    assert secret == (sqlite_config.data_dir / "jwt-secret").read_text().strip()
    # No CHAT_JWT_SECRET: the instances read the key the copy put into server_secrets.
    with trio.fail_after(SLOW):
        async with open_cluster(
            tmp_path, target_url, 3, jwt_secret=None, files_url=sqlite_config.files_url
        ) as instances:
            for instance in instances:
                # Every request carries a token the SQLite server issued.
                assert await answers(instance.server, filled) == before
            alice = filled.users[0]
            sent = await _post(
                instances[0].server, alice, filled.rooms["general"], Text="after the move"
            )
            # Messages and changes are one stream of positions: it continues after both.
            assert sent["MessageID"] == newest + 1
            await account(instances[1].server, "erin")  # and so do the users'
            # Who reacted is kept, not only the counts: bob takes his 👍 back.
            bob, general = filled.users[1], filled.rooms["general"]
            liked = f"/messages/{general}/{filled.liked}"
            await _call(instances[2].server, bob, "DELETE", f"{liked}/reactions/👍")
            # Read through another instance, whose history (from memory) shows what its
            # bus has brought (chat.app.history.from_memory): the change arrives within moments.
            kept = [{"Emoji": "👍", "Count": 1, "UIDs": [alice.uid]}]
            with trio.move_on_after(STEP):
                while True:
                    history = await _call(instances[0].server, alice, "GET", f"/messages/{general}")
                    (item,) = [item for item in history if item["MessageID"] == filled.liked]
                    if item["Reactions"] == kept:
                        break
                    await trio.sleep(0.05)
            assert item["Reactions"] == kept


async def test_copy_brings_a_database_of_the_release_before_up_to_date(
    sqlite_config: Config, target_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with store_of_the_release_before(sqlite_config, monkeypatch, {"sqlite": 18}):
        pass
    await user_of_the_release_before(sqlite_config, "alice")
    result = await copy_database(sqlite_config, target_url)
    assert result.returncode == 0, _output(result)
    assert "applied 0018_room_moderation" in result.stdout.decode()
    assert await select_rows(sqlite_config, "SELECT name FROM users") == [("alice",)]


async def test_every_sqlite_table_is_copied_or_skipped_for_a_stated_reason(
    sqlite_config: Config, target_url: str
) -> None:
    async with store_of_the_release_before(sqlite_config, pytest.MonkeyPatch(), {"sqlite": 9999}):
        pass
    result = await copy_database(sqlite_config, target_url)
    assert result.returncode == 0, _output(result)
    conn = sqlite3.connect(sqlite_config.sqlite_path)
    try:
        tables = sqlite_tables(conn)
    finally:
        conn.close()
    compared = set(re.findall(r"^(\w+) +\d+ +\d+ +match$", result.stdout.decode(), re.M))
    assert compared
    for table in tables:
        assert table in compared or table in SKIPPED_TABLES, f"{table}: neither copied nor skipped"


async def test_a_table_postgresql_lacks_stops_the_copy_before_anything_is_written(
    sqlite_config: Config, target_url: str
) -> None:
    await _sqlite_with_messages(sqlite_config, 1)
    conn = sqlite3.connect(sqlite_config.sqlite_path)
    conn.execute("CREATE TABLE bookmarks (user_id INTEGER, message_id INTEGER)")
    conn.commit()
    conn.close()
    result = await copy_database(sqlite_config, target_url)
    assert result.returncode == 1
    assert "tables PostgreSQL lacks: bookmarks" in result.stderr.decode()
    assert "Traceback" not in _output(result)
    async with pg_query(target_url) as fetchval:
        assert await fetchval("SELECT count(*) FROM users") == 0


async def test_ids_continue_after_the_last_id_sqlite_gave_out(
    sqlite_config: Config, target_url: str
) -> None:
    await _sqlite_with_messages(sqlite_config, 5)
    conn = sqlite3.connect(sqlite_config.sqlite_path)
    conn.execute("DELETE FROM messages WHERE id > 3")  # as deleting their sender's account does
    conn.commit()
    conn.close()
    assert (await copy_database(sqlite_config, target_url)).returncode == 0
    async with pg_query(target_url) as fetchval:
        new_id = await fetchval(
            "INSERT INTO messages (room_id, sender_id, body)"
            " SELECT room_id, sender_id, 'new' FROM messages LIMIT 1 RETURNING id"
        )
    assert new_id == 6  # not 4 or 5: a client may still hold those ids


async def test_copy_refuses_while_a_server_serves_the_sqlite_file(
    sqlite_config: Config, target_url: str
) -> None:
    async with trio.open_nursery() as nursery:
        sqlite_server = StoppableServer(nursery, sqlite_config)
        await sqlite_server.start()
        result = await copy_database(sqlite_config, target_url)
        await sqlite_server.stop()
    assert result.returncode == 1
    (line,) = result.stderr.decode().splitlines()
    assert line == (
        f"chat: another chat process (pid {os.getpid()}) is using {sqlite_config.sqlite_path}"
        " (a server, or another copy): stop it before copying"
    )
    async with pg_query(target_url) as fetchval:
        assert await fetchval("SELECT to_regclass('users')") is None  # not even migrated


async def test_copy_refuses_a_target_holding_chat_data_it_did_not_put_there(
    sqlite_config: Config, target_url: str, tmp_path: Path
) -> None:
    await _sqlite_with_messages(sqlite_config, 1)
    async with trio.open_nursery() as nursery:
        pg_config = server_config(tmp_path / "pg", target_url)
        pg_server = StoppableServer(nursery, pg_config)
        await account(await pg_server.start(), "someone")
        await pg_server.stop()
    result = await copy_database(sqlite_config, target_url)
    assert result.returncode == 1
    (line,) = result.stderr.decode().splitlines()
    assert "the target already holds chat data (in users" in line
    assert "copy-database did not put there" in line
    async with pg_query(target_url) as fetchval:
        assert await fetchval("SELECT name FROM users") == "someone"


async def test_copy_refuses_a_schema_holding_tables_that_are_not_chats(
    sqlite_config: Config, target_url: str
) -> None:
    await _sqlite_with_messages(sqlite_config, 1)
    async with pg_query(target_url) as fetchval:
        await fetchval("CREATE TABLE users (login text PRIMARY KEY)")  # someone else's
    result = await copy_database(sqlite_config, target_url)
    assert result.returncode == 1
    (line,) = result.stderr.decode().splitlines()
    assert line.endswith(
        "holds tables that are not chat's (users): copy into an empty database or schema"
    )
    async with pg_query(target_url) as fetchval:
        assert await fetchval("SELECT to_regclass('schema_version')") is None  # untouched


async def test_copy_refuses_a_search_path_naming_no_schema(sqlite_config: Config) -> None:
    await _sqlite_with_messages(sqlite_config, 1)
    base = postgres_url_or_skip()
    missing = base + ("&" if "?" in base else "?") + "search_path=chat_test_nowhere"
    result = await copy_database(sqlite_config, missing)
    assert result.returncode == 1
    assert result.stderr.decode() == (
        "chat: the target's search_path names no schema that exists: create it first"
        " (CREATE SCHEMA name)\n"
    )


async def test_copy_into_a_schema_that_chat_migrate_made_is_fine(
    sqlite_config: Config, target_url: str
) -> None:
    await _sqlite_with_messages(sqlite_config, 2)
    migrated = await run_chat(
        "migrate", env=chat_environ(sqlite_config.replace(database_url=target_url))
    )
    assert migrated.returncode == 0, _output(migrated)
    result = await copy_database(sqlite_config, target_url)
    assert result.returncode == 0, _output(result)


async def test_copy_refuses_while_another_copy_writes_into_the_same_schema(
    sqlite_config: Config, target_url: str
) -> None:
    await _sqlite_with_messages(sqlite_config, 1)
    async with pg_query(target_url) as fetchval:
        # What a running copy holds (chat/server/copy_database/target.py: COPY_LOCK).
        assert await fetchval(
            "SELECT pg_try_advisory_lock($1, hashtext(current_schema()))", COPY_LOCK
        )
        result = await copy_database(sqlite_config, target_url)
    assert result.returncode == 1
    assert _said(result) == [
        "chat: another copy-database is copying into this schema: wait for it, or stop it"
    ]


async def test_copy_refuses_to_copy_again_over_a_finished_copy(
    sqlite_config: Config, target_url: str
) -> None:
    await _sqlite_with_messages(sqlite_config, 3)
    assert (await copy_database(sqlite_config, target_url)).returncode == 0
    again = await copy_database(sqlite_config, target_url)
    assert again.returncode == 1
    assert "already holds a finished copy" in again.stderr.decode()


async def _sqlite_with_messages(config: Config, count: int) -> None:
    """A SQLite database with a user and `count` messages in the lobby (written directly:
    fast, for tests about the copy itself)."""
    async with store_of_the_release_before(config, pytest.MonkeyPatch(), {"sqlite": 9999}) as store:
        user = await store.create_user("alice", "hash")
        lobby = store.lobby_id

    def insert() -> None:
        conn = sqlite3.connect(config.sqlite_path)
        conn.executemany(
            "INSERT INTO messages (room_id, sender_id, body, created_at) VALUES (?, ?, ?, ?)",
            [(lobby, user.id, f"message {n}", 1_700_000_000_000 + n) for n in range(count)],
        )
        conn.commit()
        conn.close()

    await trio.to_thread.run_sync(insert)


async def test_an_interrupted_copy_run_again_gives_exactly_the_source(
    sqlite_config: Config, target_url: str
) -> None:
    total = 3000
    await _sqlite_with_messages(sqlite_config, total)
    command = _copy_command(target_url, "--batch-size", "1")
    process = await trio.lowlevel.open_process(
        command,
        env=chat_environ(sqlite_config),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with pg_query(target_url) as fetchval:
            with trio.fail_after(SLOW):
                copied = 0
                while copied == 0:
                    await trio.sleep(0.01)
                    if await fetchval("SELECT to_regclass('copy_database') IS NOT NULL"):
                        copied = await fetchval("SELECT count(*) FROM messages")
            process.send_signal(signal.SIGKILL)  # as a power cut would: no clean-up at all
            await process.wait()
            partial = await fetchval("SELECT count(*) FROM messages")
            assert 0 < partial < total
            assert await fetchval("SELECT state FROM copy_database") == "copying"
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    result = await copy_database(sqlite_config, target_url)
    assert result.returncode == 0, _output(result)
    assert "an earlier copy was interrupted: starting again" in result.stdout.decode()
    async with pg_query(target_url) as fetchval:
        assert await fetchval("SELECT count(*) FROM messages") == total
        assert await fetchval("SELECT count(DISTINCT id) FROM messages") == total
        assert await fetchval("SELECT state FROM copy_database") == "copied"


async def test_a_row_postgresql_refuses_is_named_in_one_line_and_a_rerun_starts_clean(
    sqlite_config: Config, target_url: str
) -> None:
    await _sqlite_with_messages(sqlite_config, 3)
    conn = sqlite3.connect(sqlite_config.sqlite_path)
    # SQLite takes a NUL in text; PostgreSQL's text does not.
    conn.execute("UPDATE messages SET body = ? WHERE id = 2", ("nul \x00 inside",))
    conn.commit()
    conn.close()
    result = await copy_database(sqlite_config, target_url)
    assert result.returncode == 1
    (line,) = _said(result)
    assert line.startswith("chat: PostgreSQL refused a row of messages: ")
    assert "0x00" in line
    assert line.endswith("(correct it in SQLite, then run copy-database again: it starts clean)")
    conn = sqlite3.connect(sqlite_config.sqlite_path)
    conn.execute("UPDATE messages SET body = 'nul gone' WHERE id = 2")
    conn.commit()
    conn.close()
    again = await copy_database(sqlite_config, target_url)
    assert again.returncode == 0, _output(again)
    assert "an earlier copy was interrupted" in again.stdout.decode()


async def test_verify_only_reports_a_row_changed_after_the_copy(
    sqlite_config: Config, target_url: str
) -> None:
    await _sqlite_with_messages(sqlite_config, 5)
    assert (await copy_database(sqlite_config, target_url)).returncode == 0
    async with pg_query(target_url) as fetchval:
        await fetchval("UPDATE messages SET body = 'tampered' WHERE id = 3")
    result = await copy_database(sqlite_config, target_url, "--verify-only")
    assert result.returncode == 1
    lines = result.stdout.decode().splitlines()
    assert re.search(r"^messages +5 +5 +DIFFER$", result.stdout.decode(), re.M), lines
    assert re.search(r"^users +1 +1 +match$", result.stdout.decode(), re.M), lines
    assert "some tables DIFFER between SQLite and PostgreSQL" in lines


async def test_verify_only_reports_a_missing_row(sqlite_config: Config, target_url: str) -> None:
    await _sqlite_with_messages(sqlite_config, 5)
    assert (await copy_database(sqlite_config, target_url)).returncode == 0
    async with pg_query(target_url) as fetchval:
        await fetchval("DELETE FROM message_changes")
        await fetchval("DELETE FROM messages WHERE id = 5")
    result = await copy_database(sqlite_config, target_url, "--verify-only")
    assert result.returncode == 1
    assert re.search(r"^messages +5 +4 +DIFFER$", result.stdout.decode(), re.M)


async def test_progress_on_a_terminal_redraws_a_bar_per_table(
    sqlite_config: Config, target_url: str
) -> None:
    await _sqlite_with_messages(sqlite_config, 50)
    primary, replica = os.openpty()
    command = _copy_command(target_url, "--batch-size", "10")
    try:
        process = await trio.lowlevel.open_process(
            command, env=chat_environ(sqlite_config), stdout=replica, stderr=replica
        )
        os.close(replica)
        output = b""
        with trio.fail_after(SLOW):
            while True:
                try:
                    chunk = await trio.to_thread.run_sync(os.read, primary, 65536)
                except OSError:  # EIO: the terminal's other end is closed
                    break
                if not chunk:
                    break
                output += chunk
            assert await process.wait() == 0, output.decode(errors="replace")
    finally:
        os.close(primary)
    text = output.decode()
    assert "\r\x1b[Kmessages" in text  # drawn again in place
    assert re.search(r"messages +\[#{30}\] 50/50 rows 100%", text)
    assert re.search(r"users +\[#{30}\] 1/1 rows", text)
    assert "copy verified: every table matches" in text


async def test_progress_elsewhere_is_plain_lines(sqlite_config: Config, target_url: str) -> None:
    await _sqlite_with_messages(sqlite_config, 50)
    result = await copy_database(sqlite_config, target_url)
    out = result.stdout.decode()
    assert "\r" not in out and "\x1b" not in out
    assert "copied messages: 50/50 rows" in out.splitlines()


async def test_a_target_that_is_not_postgresql_is_refused(sqlite_config: Config) -> None:
    result = await copy_database(sqlite_config, "mysql://somewhere/chat")
    assert result.returncode == 1
    assert result.stderr.decode() == "chat: --to must be a postgresql:// URL, not 'mysql'\n"


async def test_a_missing_sqlite_database_is_refused(sqlite_config: Config, target_url: str) -> None:
    result = await copy_database(sqlite_config, target_url)
    assert result.returncode == 1
    assert result.stderr.decode().startswith("chat: no SQLite database at ")
