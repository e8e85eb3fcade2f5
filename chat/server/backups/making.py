"""``chat backup FILE``: a SQLite server's database, its files and its signing key, in one
tar archive (`chat.server.backups.archive`), made while the server runs or not.

Consistency of files and database: the database is copied first (`take_snapshot`), then
exactly the storage objects its ``files`` table names are copied. An object may be
missing when it is copied:

- its record is gone from the live database too: a message was deleted and the file
  collected after the copy was taken (records go before bytes). If a message of the copy
  still refers to it, the copy is stale: it is taken again (the backup's moment moves
  forward), and the objects it needs that are not in the archive yet are added, at most
  `MAX_ROUNDS` times;
- no message refers to it: an upload still under way when the copy was taken (an upload
  records first, stores after), or one a crash cut short. Its record is removed from
  the copy: to the restored server, that upload never finished;
- a message refers to it and its record is still live: the storage lost it. The backup
  fails, saying which file: a restore would serve a message whose file is gone.

So every file a message of the archived database refers to is in the archive. Objects of
earlier rounds' copies that the last copy no longer names may be in the archive too;
the restored server's collector removes them. The archive is written as ``FILE.part``
and renamed to FILE only when complete.

Resource handling: every filesystem and SQLite call runs in a worker thread, one at a
time; cancelling (Ctrl-C) stops between two of them and removes ``FILE.part`` and the
temporary copy. The server's serving lock is not taken: the server keeps running.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import trio

from chat import __version__
from chat.app.accounts.auth import SECRET_FILE_NAME
from chat.core.config import Config
from chat.files.opening import storage_directory
from chat.server.backups.archive import (
    DATABASE,
    FORMAT,
    MANIFEST,
    SECRET,
    BackupError,
    FileObjects,
    file_member,
    file_objects,
)
from chat.server.backups.snapshot import open_live, take_snapshot
from chat.store.sqlite import sqlite_path_from_url

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How many times the database is copied again because files it refers to were removed
#: meanwhile, before the backup gives up.
MAX_ROUNDS = 5

POSTGRES_ADVICE = (
    "chat backup copies SQLite databases; this server uses PostgreSQL: back it up with"
    ' pg_dump (docs/DEPLOYMENT.md, "Backups")'
)


def database_path(config: Config) -> Path:
    """The SQLite database `config` names."""
    if config.database_url is None:
        return config.sqlite_path
    return sqlite_path_from_url(config.database_url)


@dataclass
class BackupSummary:
    """What `make_backup` wrote, for its one line of output."""

    path: Path
    size: int = 0
    files: int = 0
    rounds: int = 0
    secret: bool = False
    files_in_s3: bool = False
    unfinished_uploads: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts = [f"backed up to {self.path} ({self.size} bytes): the database"]
        if self.files_in_s3:
            parts.append("(files are in S3, not in the archive)")
        else:
            parts.append(f"and {self.files} file objects")
        if self.secret:
            parts.append("and the JWT secret")
        if self.unfinished_uploads:
            parts.append(f"({len(self.unfinished_uploads)} unfinished uploads left out)")
        return " ".join(parts)


class _Writer:
    """The archive being written, and the worker threads it is written from."""

    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        self.written: set[str] = set()
        self._limiter = trio.CapacityLimiter(1)

    async def thread(self, function: Callable[..., T], *args: Any) -> T:
        return await trio.to_thread.run_sync(function, *args, limiter=self._limiter)

    async def add_object(self, directory: Path, key: str) -> bool:
        """Add the storage object `key` unless it is in already; False if it is missing."""
        if key in self.written:
            return True

        def add() -> bool:
            try:
                source = open(directory / key[:2] / key, "rb")  # noqa: SIM115 (closed below)
            except FileNotFoundError:
                return False
            with source:
                # Objects are written under another name and renamed into place, never
                # changed: the open descriptor has all of it, even if it is deleted now.
                info = tarfile.TarInfo(file_member(key))
                stat = os.fstat(source.fileno())
                info.size, info.mtime, info.mode = stat.st_size, int(stat.st_mtime), 0o600
                self.tar.addfile(info, source)
            return True

        added = await self.thread(add)
        if added:
            self.written.add(key)
        return added

    async def add_bytes(self, name: str, data: bytes, mode: int = 0o600) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), int(time.time()), mode
        await self.thread(self.tar.addfile, info, io.BytesIO(data))

    async def add_path(self, name: str, path: Path) -> None:
        def add() -> None:
            info = self.tar.gettarinfo(str(path), arcname=name)
            info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
            with open(path, "rb") as source:
                self.tar.addfile(info, source)

        await self.thread(add)


async def make_backup(config: Config, path: Path, *, force: bool = False) -> BackupSummary:
    """Write the backup archive of the server `config` describes to `path`."""
    if config.is_postgres:
        raise BackupError(POSTGRES_ADVICE)
    await trio.to_thread.run_sync(_check_target, path, force)
    summary = BackupSummary(path)
    part = path.with_name(path.name + ".part")
    work = Path(await trio.to_thread.run_sync(_make_temporary_directory, path.parent))
    try:
        await _write(config, part, work / DATABASE, summary)
        await trio.to_thread.run_sync(_put_in_place, part, path)
        summary.size = (await trio.to_thread.run_sync(path.stat)).st_size
    except OSError as error:
        # A full disk, a directory that cannot be read or written: one line.
        where = error.filename or f"cannot write {part}"
        raise BackupError(f"{where}: {error.strerror or error}") from None
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(_remove, part, work)
    return summary


async def _write(config: Config, part: Path, copy_path: Path, summary: BackupSummary) -> None:
    live = await trio.to_thread.run_sync(open_live, database_path(config))
    try:
        directory = storage_directory(config)
        summary.files_in_s3 = directory is None
        tar = await trio.to_thread.run_sync(_open_archive, part)
        try:
            writer = _Writer(tar)
            if directory is None:
                await writer.thread(take_snapshot, live, copy_path)
                summary.rounds = 1
            else:
                await _copy_consistently(writer, live, copy_path, directory, summary)
            database_sha256 = await writer.thread(_sha256, copy_path)
            await writer.add_path(DATABASE, copy_path)
            secret_path = config.data_dir / SECRET_FILE_NAME
            secret = await writer.thread(_read_if_there, secret_path)
            if secret is not None:
                await writer.add_bytes(SECRET, secret)
                summary.secret = True
            manifest = {
                "format": FORMAT,
                "chat_version": __version__,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "database_sha256": database_sha256,
                "files": "s3" if directory is None else "directory",
                "file_objects": len(writer.written),
                "jwt_secret": summary.secret,
                "unfinished_uploads_left_out": summary.unfinished_uploads,
            }
            await writer.add_bytes(MANIFEST, json.dumps(manifest, indent=2).encode(), 0o644)
            summary.files = len(writer.written)
        finally:
            # Writes the archive's end (or, after an error, lets go of a part removed next).
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(tar.close)
        # Durable before it takes the final name.
        await trio.to_thread.run_sync(_fsync, part)
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(live.close)


async def _copy_consistently(
    writer: _Writer,
    live: sqlite3.Connection,
    copy_path: Path,
    directory: Path,
    summary: BackupSummary,
) -> None:
    """Copy the database to `copy_path` and add every storage object it needs (see the
    module's docstring for what happens when one is missing)."""
    for round_number in range(1, MAX_ROUNDS + 1):
        summary.rounds = round_number
        await writer.thread(take_snapshot, live, copy_path)
        needed = await writer.thread(_file_objects_of, copy_path)
        missing: dict[str, FileObjects] = {}  # by the first key found missing
        for objects in needed:
            for key in objects.keys:
                if not await writer.add_object(directory, key):
                    missing[key] = objects
                    break
        if not missing:
            return
        # Only now, after the bytes were found missing: a record still there now was
        # there then too (records go before bytes), so its bytes were lost, not collected.
        still_recorded = await writer.thread(_recorded, live, [m.file_id for m in missing.values()])
        lost = [key for key, m in missing.items() if m.referenced and m.file_id in still_recorded]
        if lost:
            more = f" and {len(lost) - 1} more" if len(lost) > 1 else ""
            raise BackupError(
                f"the file storage {directory} lacks {lost[0]}{more}, which messages refer"
                " to: the storage is damaged; put those objects back, or delete their messages"
            )
        if any(m.referenced for m in missing.values()):
            log.info("files were removed during the backup: copying the database again")
            await trio.sleep(0.1)
            continue
        summary.unfinished_uploads = [m.file_id for m in missing.values()]
        await writer.thread(_forget_files, copy_path, summary.unfinished_uploads)
        return
    raise BackupError(
        f"files were removed during the backup {MAX_ROUNDS} times in a row: try again"
    )


def _check_target(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise BackupError(f"{path} exists: choose another name, or replace it with --force")
    if path.exists() and not path.is_file():
        raise BackupError(f"{path} is not a regular file")
    if not path.parent.is_dir():
        raise BackupError(f"{path.parent}: no such directory")


def _open_archive(path: Path) -> tarfile.TarFile:
    """The archive, readable by its owner only from the start: it holds the secret.
    The file is made (or a part left by an earlier run truncated) with mode 0600 first;
    tarfile then opens it by name, which keeps the mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return tarfile.open(path, mode="w", format=tarfile.PAX_FORMAT)


def _file_objects_of(path: Path) -> list[FileObjects]:
    conn = sqlite3.connect(path)
    try:
        return file_objects(conn)
    finally:
        conn.close()


def _recorded(live: sqlite3.Connection, file_ids: list[str]) -> set[str]:
    marks = ",".join("?" * len(file_ids))
    rows = live.execute(f"SELECT id FROM files WHERE id IN ({marks})", file_ids).fetchall()
    return {row[0] for row in rows}


def _forget_files(path: Path, file_ids: list[str]) -> None:
    """Remove the records of unfinished uploads from the copy (no message refers to
    them, so nothing else changes)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        marks = ",".join("?" * len(file_ids))
        conn.execute(f"DELETE FROM files WHERE id IN ({marks})", file_ids)
    finally:
        conn.close()


def _make_temporary_directory(parent: Path) -> str:
    return tempfile.mkdtemp(prefix=".chat-backup-", dir=parent)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _read_if_there(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _fsync(path: Path) -> None:
    with open(path, "rb") as file:
        os.fsync(file.fileno())


def _put_in_place(part: Path, path: Path) -> None:
    os.replace(part, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _remove(part: Path, work: Path) -> None:
    part.unlink(missing_ok=True)
    shutil.rmtree(work, ignore_errors=True)
