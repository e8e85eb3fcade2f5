"""Backups: ``chat backup FILE`` of a SQLite server, running or stopped, and
``chat restore FILE`` into an empty data directory, as real processes; on PostgreSQL, the
pg_dump / pg_restore commands docs/DEPLOYMENT.md gives, run as they are written there."""

from __future__ import annotations

import gzip
import io
import os
import re
import resource
import secrets
import sqlite3
import subprocess
import sys
import tarfile
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from cluster import Instance, require_program, start_instance
from files_support import BUCKET, fetch, png, post_files, s3_server, sweep, upload
from s3_server import S3Server
from support import (
    STEP,
    Account,
    Server,
    _pg_execute,
    account,
    chat_environ,
    create_room,
    entered,
    http_client,
    open_clients,
    postgres_url_or_skip,
    room_history,
    run_chat,
    select_rows,
    server_config,
    start_server,
    throwaway_postgres_schema,
)

from chat.core.config import Config
from chat.server.backups import making, snapshot

#: Senders of the flood, each in a room of its own, and the most each one sends.
SENDERS = 4
MAX_PER_SENDER = 1500
#: Messages every sender has had confirmed before the backup starts.
BEFORE_BACKUP = 20

REPOSITORY = Path(__file__).resolve().parent.parent

__all__ = ["s3_server"]  # a fixture


def sqlite_config(tmp_path: Path, name: str) -> Config:
    """A SQLite server's settings in its own data directory, with no CHAT_JWT_SECRET: the
    server makes ``jwt-secret`` in the data directory, which the backup must carry."""
    return server_config(tmp_path, None, data_dir=tmp_path / name, jwt_secret=None)


async def chat(config: Config, *args: str) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(60):
        return await run_chat(*args, env=chat_environ(config))


def one_line_error(result: subprocess.CompletedProcess[bytes]) -> str:
    """The command failed with one line on stderr (no traceback); that line."""
    assert result.returncode != 0, result
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1, result.stderr.decode()
    assert lines[0].startswith("chat: "), lines
    return lines[0]


async def backed_up(config: Config, archive: Path) -> None:
    result = await chat(config, "backup", str(archive))
    assert result.returncode == 0, result.stderr.decode()


async def restored(config: Config, archive: Path) -> None:
    result = await chat(config, "restore", str(archive))
    assert result.returncode == 0, result.stderr.decode()


async def whole_history(server: Server, user: Account, room_id: int) -> dict[int, str]:
    """Every message of a room as `user` reads it (GET /messages, page after page)."""
    found: dict[int, str] = {}
    last_id = 0
    async with http_client(server) as client:
        while True:
            response = await client.get(
                f"/messages/{room_id}", params={"last_id": last_id}, headers=user.auth
            )
            assert response.status_code == 200, response.text
            page = response.json()
            if not page:
                return found
            found.update((m["MessageID"], m["Text"]) for m in page)
            last_id = min(m["MessageID"] for m in page)


async def running(config: Config, tmp_path: Path, name: str) -> Instance:
    return await start_instance(config, tmp_path / f"{name}.log")


async def a_stopped_chat(tmp_path: Path) -> tuple[Config, Account, int]:
    """A data directory a server has served (a user, a room, a message), now stopped."""
    config = sqlite_config(tmp_path, "live")
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, config)
        alice = await account(server, "alice")
        room_id = await create_room(server, alice, "room")
        async with http_client(server) as client:
            sent = await client.post(
                f"/messages/{room_id}", headers=alice.auth, json={"Text": "hi"}
            )
        assert sent.status_code == 201, sent.text
        nursery.cancel_scope.cancel()
    return config, alice, room_id


async def an_archive(tmp_path: Path) -> Path:
    config, _, _ = await a_stopped_chat(tmp_path)
    archive = tmp_path / "backup.tar"
    await backed_up(config, archive)
    return archive


def members(archive: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(archive) as tar:
        return [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]


def rewritten(archive: Path, target: Path, extra: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    """`archive` with `extra` members added before its own (its manifest stays last)."""
    with tarfile.open(target, "w") as tar:
        for info, data in [*extra, *members(archive)]:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return target


# --- SQLite: a backup while the server works ---------------------------------------------


async def flood(
    ws: Any, sender: int, confirmed: list[tuple[int, str]], ready: trio.Event, stop: trio.Event
) -> None:
    """Send messages with ClientMsgIDs one after another, each confirmed (stored: the
    answer carries its MessageID) before the next, until `stop` or MAX_PER_SENDER; `ready`
    once BEFORE_BACKUP are."""
    for n in range(MAX_PER_SENDER):
        if len(confirmed) == BEFORE_BACKUP:
            ready.set()
        if stop.is_set():
            return
        client_id = f"{sender}-{n}"
        await ws.send({"Type": "message", "Text": f"flood {client_id}", "ClientMsgID": client_id})
        answer = await ws.receive()
        assert answer["ClientMsgID"] == client_id, answer
        confirmed.append((answer["MessageID"], answer["Text"]))


async def upload_during_flood(
    server: Server,
    user: Account,
    room_id: int,
    confirmed: list[tuple[str, bytes]],
    ready: trio.Event,
    stop: trio.Event,
) -> None:
    """Upload files and post each in a message, one after another, until `stop`; `ready`
    once 3 are."""
    for n in range(200):
        if len(confirmed) >= 3:
            ready.set()
        if stop.is_set():
            return
        data = os.urandom(2000 + n)
        file = await upload(server, user, data, f"during-{n}.bin")
        response = await post_files(server, user, room_id, [file["FileID"]], f"file {n}")
        assert response.status_code == 201, response.text
        confirmed.append((file["FileID"], data))


async def test_a_backup_during_a_message_flood_restores_every_message_confirmed_before_it(
    tmp_path: Path,
) -> None:
    live_config = sqlite_config(tmp_path, "live")
    live = await running(live_config, tmp_path, "live")
    try:
        server = live.server
        senders = [await account(server, f"sender{n}") for n in range(SENDERS)]
        rooms = [await create_room(server, user, f"room{n}") for n, user in enumerate(senders)]
        uploader = await account(server, "uploader")
        files_room = await create_room(server, uploader, "files")
        picture = png(640, 480)
        shown = await upload(server, uploader, picture, "picture.png")
        assert (
            await post_files(server, uploader, files_room, [shown["FileID"]])
        ).status_code == 201
        thumbnail = (await fetch(server, uploader, f"/files/{shown['FileID']}/thumbnail")).content
        confirmed: list[list[tuple[int, str]]] = [[] for _ in senders]
        files: list[tuple[str, bytes]] = [(shown["FileID"], picture)]
        archive = tmp_path / "backup.tar"
        stop = trio.Event()
        with trio.fail_after(120):
            async with open_clients(server) as clients, trio.open_nursery() as nursery:
                ready = [trio.Event() for _ in range(SENDERS + 1)]
                for n, (user, room_id) in enumerate(zip(senders, rooms, strict=True)):
                    ws = await entered(clients, user, room_id)
                    nursery.start_soon(flood, ws, n, confirmed[n], ready[n], stop)
                nursery.start_soon(
                    upload_during_flood, server, uploader, files_room, files, ready[-1], stop
                )
                for event in ready:
                    await event.wait()
                # What was confirmed before the backup began: it must all be restored.
                before = [list(c) for c in confirmed]
                files_before = list(files)
                await backed_up(live_config, archive)
                sent_during = sum(len(c) for c in confirmed) - sum(len(b) for b in before)
                stop.set()
        assert live.running  # the backup did not disturb the server...
        assert sent_during > 0  # ...which was storing messages all along
    finally:
        await live.stop()

    restored_config = sqlite_config(tmp_path, "restored")
    await restored(restored_config, archive)
    copy = await running(restored_config, tmp_path, "restored")
    try:
        server = copy.server
        for user, room_id, messages in zip(senders, rooms, before, strict=True):
            # The senders' tokens, issued by the live server, work on the restored one.
            history = await whole_history(server, user, room_id)
            assert dict(messages).items() <= history.items()
        for file_id, data in files_before:
            response = await fetch(server, uploader, f"/files/{file_id}/x")
            assert response.status_code == 200, response.text
            assert response.content == data
        restored_thumbnail = await fetch(server, uploader, f"/files/{shown['FileID']}/thumbnail")
        assert restored_thumbnail.content == thumbnail
    finally:
        await copy.stop()


async def test_a_backup_of_a_stopped_server_is_served_after_a_restore(tmp_path: Path) -> None:
    live_config, alice, room_id = await a_stopped_chat(tmp_path)
    archive = tmp_path / "backup.tar"
    await backed_up(live_config, archive)
    restored_config = sqlite_config(tmp_path, "restored")
    await restored(restored_config, archive)
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, restored_config)
        assert [m["Text"] for m in await room_history(server, alice, room_id)] == ["hi"]
        nursery.cancel_scope.cancel()


async def test_the_archive_holds_the_database_the_secret_the_files_and_a_manifest_last(
    tmp_path: Path,
) -> None:
    config = sqlite_config(tmp_path, "live")
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, config)
        alice = await account(server, "alice")
        file = await upload(server, alice, b"kept", "kept.txt")
        nursery.cancel_scope.cancel()
    archive = tmp_path / "backup.tar"
    await backed_up(config, archive)
    assert archive.stat().st_mode & 0o777 == 0o600  # it holds the secret
    names = [info.name for info, _ in members(archive)]
    (key,) = [name for name in names if name.startswith("files/")]
    assert key.endswith(f".{file['FileID']}")
    assert names[1:] == ["chat.sqlite3", "jwt-secret", "manifest.json"]
    assert (
        dict((i.name, d) for i, d in members(archive))["jwt-secret"]
        == (config.data_dir / "jwt-secret").read_bytes()
    )


async def test_a_backup_leaves_out_an_upload_whose_bytes_were_never_stored(
    tmp_path: Path,
) -> None:
    config, alice, _ = await a_stopped_chat(tmp_path)
    # What an upload leaves between recording the file and storing its bytes.
    with sqlite3.connect(config.sqlite_path) as conn:
        conn.execute(
            "INSERT INTO files (id, uploader_id, name, size, content_type, sha256, created_at)"
            f" VALUES ('unfinished', {alice.uid}, 'x', 1, 'text/plain', '{'0' * 64}', 0)"
        )
    conn.close()
    archive = tmp_path / "backup.tar"
    result = await chat(config, "backup", str(archive))
    assert b"1 unfinished uploads left out" in result.stdout, result
    restored_config = sqlite_config(tmp_path, "restored")
    await restored(restored_config, archive)
    assert await select_rows(restored_config, "SELECT id FROM files") == []


async def test_a_backup_fails_when_a_file_a_message_refers_to_is_missing(
    tmp_path: Path,
) -> None:
    config = sqlite_config(tmp_path, "live")
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, config)
        alice = await account(server, "alice")
        room_id = await create_room(server, alice, "room")
        file = await upload(server, alice, b"lost", "lost.txt")
        assert (await post_files(server, alice, room_id, [file["FileID"]])).status_code == 201
        nursery.cancel_scope.cancel()
    for path in (config.data_dir / "files").rglob(f"*.{file['FileID']}"):
        path.unlink()
    archive = tmp_path / "backup.tar"
    error = one_line_error(await chat(config, "backup", str(archive)))
    assert f"lacks {file['SHA256']}.{file['FileID']}" in error
    assert "which messages refer to" in error
    assert [name for name in os.listdir(tmp_path) if name.startswith("backup.tar")] == []


async def test_a_file_removed_after_the_database_was_copied_makes_the_backup_copy_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = sqlite_config(tmp_path, "live")
    archive = tmp_path / "backup.tar"
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, config)
        alice = await account(server, "alice")
        room_id = await create_room(server, alice, "room")
        gone, kept = [await upload(server, alice, data, "f.bin") for data in (b"gone", b"kept")]
        posted = [await post_files(server, alice, room_id, [f["FileID"]]) for f in (gone, kept)]
        assert [p.status_code for p in posted] == [201, 201]

        async def delete_the_first_message_and_collect_its_file() -> None:
            async with http_client(server) as client:
                deleted = await client.delete(
                    f"/messages/{room_id}/{posted[0].json()['MessageID']}", headers=alice.auth
                )
            assert deleted.status_code == 204, deleted.text
            assert await sweep(config) == 1  # record, then bytes

        copies = 0

        def copy_then_remove(live: sqlite3.Connection, path: Path) -> int:
            nonlocal copies
            restarts = snapshot.take_snapshot(live, path)
            copies += 1
            if copies == 1:  # between the first copy and the copying of its files
                trio.from_thread.run(delete_the_first_message_and_collect_its_file)
            return restarts

        monkeypatch.setattr(making, "take_snapshot", copy_then_remove)
        summary = await making.make_backup(config, archive)
        nursery.cancel_scope.cancel()
    assert (copies, summary.rounds) == (2, 2)
    restored_config = sqlite_config(tmp_path, "restored")
    await restored(restored_config, archive)
    rows = await select_rows(restored_config, "SELECT id FROM files")
    assert rows == [(kept["FileID"],)]


async def test_a_backup_never_replaces_a_file_without_force(tmp_path: Path) -> None:
    config, _, _ = await a_stopped_chat(tmp_path)
    archive = tmp_path / "backup.tar"
    archive.write_bytes(b"precious")
    error = one_line_error(await chat(config, "backup", str(archive)))
    assert "exists" in error and "--force" in error
    assert archive.read_bytes() == b"precious"
    result = await chat(config, "backup", "--force", str(archive))
    assert result.returncode == 0, result.stderr.decode()
    assert tarfile.is_tarfile(archive)


async def test_a_backup_of_a_missing_database_says_so(tmp_path: Path) -> None:
    config = sqlite_config(tmp_path, "nothing-here")
    error = one_line_error(await chat(config, "backup", str(tmp_path / "backup.tar")))
    assert "no database there" in error
    assert not config.data_dir.exists()  # and made none


async def test_a_backup_that_cannot_write_says_so_in_one_line_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    config = sqlite_config(tmp_path, "live")
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, config)
        await upload(server, await account(server, "alice"), os.urandom(300_000), "big.bin")
        nursery.cancel_scope.cancel()
    archive = tmp_path / "backup.tar"
    # Room for the copy of the database, not for the archive of it and the file.
    limit = config.sqlite_path.stat().st_size + 100_000

    def small_files_only() -> None:  # in the child: a full disk, as its writes see it
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    with trio.fail_after(60):
        result = await trio.run_process(
            [sys.executable, "-m", "chat", "backup", str(archive)],
            env=chat_environ(config),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            preexec_fn=small_files_only,
        )
    error = one_line_error(result)
    assert f"cannot write {archive}.part: File too large" in error
    assert [name for name in os.listdir(tmp_path) if name.startswith(("backup", ".chat"))] == []


async def test_a_snapshot_taken_while_another_connection_writes_is_whole_and_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small steps, so that the writer's commits restart the copy until it is taken in one.
    monkeypatch.setattr(snapshot, "PAGES_PER_STEP", 8)
    path, copy = tmp_path / "live.sqlite3", tmp_path / "copy.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY)")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    conn.executemany("INSERT INTO t (body) VALUES (?)", [("x" * 500,)] * 4000)
    conn.close()
    committed = [0]
    ready, stop = trio.Event(), threading.Event()

    def write() -> None:
        writer = sqlite3.connect(path, isolation_level=None, timeout=30)
        writer.execute("PRAGMA synchronous = OFF")  # commits as fast as they come
        try:
            while not stop.is_set() and committed[0] < 1_000_000:
                writer.execute("INSERT INTO t (body) VALUES ('new')")
                committed[0] += 1
                if committed[0] == 10:
                    trio.from_thread.run_sync(ready.set)
        finally:
            writer.close()

    live = snapshot.open_live(path)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.to_thread.run_sync, write)
            await ready.wait()
            before = 4000 + committed[0]
            try:
                restarts = await trio.to_thread.run_sync(snapshot.take_snapshot, live, copy)
            finally:
                stop.set()
    finally:
        live.close()
    assert restarts == snapshot.MAX_RESTARTS  # the rest was copied in one step
    copied = sqlite3.connect(copy)
    try:
        assert copied.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert copied.execute("SELECT count(*) FROM t").fetchone()[0] >= before
        assert copied.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        copied.close()
    assert not (tmp_path / "copy.sqlite3-wal").exists()


async def test_a_compressed_archive_is_restored_as_it_is(tmp_path: Path) -> None:
    archive = await an_archive(tmp_path)
    compressed = tmp_path / "backup.tar.gz"
    compressed.write_bytes(gzip.compress(archive.read_bytes()))
    await restored(sqlite_config(tmp_path, "restored"), compressed)


async def a_chat_with_a_file(config: Config) -> tuple[Account, dict[str, Any]]:
    """A stopped server's data: alice, and a file she posted in a room."""
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, config)
        alice = await account(server, "alice")
        room_id = await create_room(server, alice, "room")
        file = await upload(server, alice, b"in a bucket", "note.txt")
        assert (await post_files(server, alice, room_id, [file["FileID"]])).status_code == 201
        nursery.cancel_scope.cancel()
    return alice, file


async def test_a_backup_with_files_in_s3_holds_the_database_only_and_says_so(
    tmp_path: Path, s3_server: S3Server
) -> None:
    bucket = s3_server.url(BUCKET, f"t/{uuid.uuid4().hex}")
    config = sqlite_config(tmp_path, "live").replace(files_url=bucket)
    await a_chat_with_a_file(config)
    archive = tmp_path / "backup.tar"
    result = await chat(config, "backup", str(archive))
    assert b"files are in S3, not in the archive" in result.stdout, result
    names = [info.name for info, _ in members(archive)]
    assert names == ["chat.sqlite3", "jwt-secret", "manifest.json"]


async def test_an_archive_restored_with_files_in_s3_puts_its_files_in_the_bucket(
    tmp_path: Path, s3_server: S3Server
) -> None:
    live_config = sqlite_config(tmp_path, "live")
    alice, file = await a_chat_with_a_file(live_config)
    archive = tmp_path / "backup.tar"
    await backed_up(live_config, archive)
    bucket = s3_server.url(BUCKET, f"t/{uuid.uuid4().hex}")
    restored_config = sqlite_config(tmp_path, "restored").replace(files_url=bucket)
    await restored(restored_config, archive)
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, restored_config)
        response = await fetch(server, alice, f"/files/{file['FileID']}/note.txt")
        assert response.content == b"in a bucket"
        nursery.cancel_scope.cancel()


# --- SQLite: what a restore refuses ------------------------------------------------------


async def test_a_restore_refuses_a_data_directory_that_is_not_empty(tmp_path: Path) -> None:
    archive = await an_archive(tmp_path)
    config = sqlite_config(tmp_path, "busy")
    config.data_dir.mkdir()
    (config.data_dir / "something").write_text("mine")
    error = one_line_error(await chat(config, "restore", str(archive)))
    assert f"{config.data_dir} is not empty" in error
    assert [p.name for p in config.data_dir.iterdir()] == ["something"]


async def test_a_restore_refuses_a_truncated_archive(tmp_path: Path) -> None:
    archive = await an_archive(tmp_path)
    cut = tmp_path / "cut.tar"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    config = sqlite_config(tmp_path, "restored")
    error = one_line_error(await chat(config, "restore", str(cut)))
    assert "is not a complete chat backup" in error
    assert list(config.data_dir.iterdir()) == []


async def test_a_restore_refuses_a_damaged_database(tmp_path: Path) -> None:
    archive = await an_archive(tmp_path)
    damaged = tmp_path / "damaged.tar"
    with tarfile.open(damaged, "w") as tar:
        for info, data in members(archive):
            if info.name == "chat.sqlite3":
                data = data[:5000] + bytes(b ^ 0xFF for b in data[5000:5100]) + data[5100:]
            tar.addfile(info, io.BytesIO(data))
    config = sqlite_config(tmp_path, "restored")
    error = one_line_error(await chat(config, "restore", str(damaged)))
    assert "chat.sqlite3 is damaged" in error
    assert list(config.data_dir.iterdir()) == []


async def test_a_restore_refuses_what_is_not_an_archive(tmp_path: Path) -> None:
    not_an_archive = tmp_path / "notes.tar"
    not_an_archive.write_text("just some text\n" * 100)
    config = sqlite_config(tmp_path, "restored")
    error = one_line_error(await chat(config, "restore", str(not_an_archive)))
    assert "is not a complete chat backup" in error


async def test_a_restore_of_a_missing_archive_says_so(tmp_path: Path) -> None:
    config = sqlite_config(tmp_path, "restored")
    error = one_line_error(await chat(config, "restore", str(tmp_path / "nowhere.tar")))
    assert "nowhere.tar: no such file" in error


def _regular(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = 5
    return info


def _link(name: str, kind: bytes, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


@pytest.mark.parametrize(
    "member",
    [
        _regular("../escaped"),
        _regular("/tmp/chat-backup-test-absolute"),
        _regular("files/../../escaped"),
        _regular("files/ab/../../../escaped"),
        _link("jwt-secret", tarfile.SYMTYPE, "/etc/passwd"),
        _link("chat.sqlite3", tarfile.LNKTYPE, "../../outside"),
    ],
    ids=["parent", "absolute", "files-parent", "deep-parent", "symlink", "hard-link"],
)
async def test_a_restore_refuses_a_member_that_could_reach_outside_the_data_directory(
    tmp_path: Path, member: tarfile.TarInfo
) -> None:
    archive = await an_archive(tmp_path)
    hostile = rewritten(archive, tmp_path / "hostile.tar", [(member, b"owned")])
    config = sqlite_config(tmp_path, "restored")
    error = one_line_error(await chat(config, "restore", str(hostile)))
    assert "refused" in error
    assert list(config.data_dir.iterdir()) == []
    assert not await trio.Path(tmp_path / "escaped").exists()
    assert not await trio.Path("/tmp/chat-backup-test-absolute").exists()


async def test_a_restore_refuses_a_file_whose_bytes_are_not_the_ones_named(
    tmp_path: Path,
) -> None:
    archive = await an_archive(tmp_path)
    key = f"{'ab' * 32}.somefile"
    forged = rewritten(archive, tmp_path / "forged.tar", [(_regular(f"files/ab/{key}"), b"other")])
    config = sqlite_config(tmp_path, "restored")
    error = one_line_error(await chat(config, "restore", str(forged)))
    assert "is damaged" in error


# --- PostgreSQL -------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["backup", "restore"])
async def test_backup_and_restore_on_postgresql_point_to_pg_dump(
    tmp_path: Path, command: str
) -> None:
    archive = tmp_path / "backup.tar"
    archive.write_bytes(b"")
    config = server_config(tmp_path, "postgresql://chat@127.0.0.1:9/chat")
    error = one_line_error(await chat(config, command, str(archive)))
    assert ("pg_dump" if command == "backup" else "pg_restore") in error


def documented_commands(heading: str) -> str:
    """The shell commands of docs/DEPLOYMENT.md's code block that follows `heading`
    (a line of the "Backups" section), exactly as an operator would copy them."""
    text = (REPOSITORY / "docs" / "DEPLOYMENT.md").read_text()
    start = text.index(heading)
    match = re.compile(r"```sh\n(.*?)```", re.S).search(text, start)
    assert match is not None, heading
    return match.group(1)


async def run_shell(script: str, env: dict[str, str]) -> None:
    with trio.fail_after(120):
        result = await trio.run_process(
            ["bash", "-euo", "pipefail", "-c", script],
            env={**os.environ, **env},
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert result.returncode == 0, result.stderr.decode()


@asynccontextmanager
async def a_fresh_database() -> AsyncIterator[str]:
    """An empty database of its own on the test's PostgreSQL (its URL), dropped after."""
    base = postgres_url_or_skip()
    name = "chat_restore_" + secrets.token_hex(6)
    await _pg_execute(base, f"CREATE DATABASE {name}")
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with trio.CancelScope(shield=True):
            await _pg_execute(base, f"DROP DATABASE {name} WITH (FORCE)")


@asynccontextmanager
async def a_live_database(where: str) -> AsyncIterator[tuple[str, str]]:
    """The URL a live chat is given, and the schema its search_path names: a throwaway
    schema of the test database, or `public` of a database of its own."""
    if where == "schema":
        async with throwaway_postgres_schema() as url:
            yield url, url.partition("?search_path=")[2]
    else:
        async with a_fresh_database() as url:
            yield url, "public"


#: Each way docs/DEPLOYMENT.md backs up and restores: the first words of the lines that
#: introduce its two blocks of commands.
DOCUMENTED = {
    "schema": ("To back up (any time", "To restore, into a fresh"),
    "public": ("To back up a chat in `public`", "To restore a chat in `public`"),
}


@pytest.mark.parametrize("where", list(DOCUMENTED))
async def test_the_documented_pg_dump_and_pg_restore_bring_back_the_same_history(
    tmp_path: Path, where: str
) -> None:
    require_program("pg_dump")
    require_program("pg_restore")
    backing_up, restoring = DOCUMENTED[where]
    dump = tmp_path / "chat.dump"
    async with a_live_database(where) as (live_url, schema), trio.open_nursery() as nursery:
        server = await start_server(nursery, server_config(tmp_path, live_url))
        alice = await account(server, "alice")
        room_id = await create_room(server, alice, "room")
        async with open_clients(server) as clients:
            ws = await entered(clients, alice, room_id)
            for n in range(30):
                await ws.send({"Type": "message", "Text": f"m{n}", "ClientMsgID": f"c{n}"})
                assert (await ws.receive())["Text"] == f"m{n}"
        history = await whole_history(server, alice, room_id)
        # While the server runs, as docs/DEPLOYMENT.md says it may.
        await run_shell(
            documented_commands(backing_up),
            {
                "DATABASE_URL": live_url.partition("?")[0],
                "SCHEMA": schema,
                "DUMP": str(dump),
            },
        )
        nursery.cancel_scope.cancel()
    # The live database is gone now: the restored one is all there is.
    async with a_fresh_database() as new_url:
        await run_shell(
            documented_commands(restoring), {"NEW_DATABASE_URL": new_url, "DUMP": str(dump)}
        )
        restored_url = new_url if where == "public" else f"{new_url}?search_path={schema}"
        restored_config = server_config(tmp_path, restored_url, data_dir=tmp_path / "restored")
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, restored_config)
            with trio.fail_after(STEP):
                assert await whole_history(server, alice, room_id) == history
            assert len(history) == 30
            nursery.cancel_scope.cancel()
