"""``chat restore FILE``: a backup archive (`chat.server.backups.archive`) put back into an empty
data directory, for ``chat serve`` to serve.

Nothing is put in place before the whole archive has been checked: its members are
extracted into a hidden directory inside the data directory, each one named as `chat
backup` names them (anything else, a path outside the data directory among them, is
refused), every file (thumbnails aside) matching the SHA-256 its name carries, the database the
SHA-256 the manifest (the last member) gives and passing ``PRAGMA integrity_check``, and
every file a message refers to present. Then the restore is recorded in the restored
database's audit log (so the entry is there whatever the backup held), and they are
renamed into place: the files, the secret, the database last. A refused archive leaves
the data directory as empty as it was.

Resource handling: every filesystem and SQLite call runs in a worker thread, one at a
time; cancelling stops between two of them and removes what was extracted.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import secrets
import shutil
import sqlite3
import tarfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import trio

from chat.app.accounts.auth import SECRET_FILE_NAME
from chat.core.config import Config
from chat.core.moderation_records import AuditEntry
from chat.files.opening import open_storage, storage_directory
from chat.files.storage import StorageUnavailable
from chat.server.backups.archive import (
    DATABASE,
    FORMAT,
    MANIFEST,
    SECRET,
    THUMBNAIL,
    BackupError,
    file_member,
    file_objects,
    sha256_of_key,
    storage_key,
)
from chat.server.backups.making import database_path
from chat.server.operator_audit import operator_entry
from chat.store.migrations import SCHEMA_VERSION_TABLE
from chat.store.private_paths import PRIVATE_FILE, make_private_directory
from chat.store.sqlite.moved import append_audit, has_audit_log

T = TypeVar("T")

POSTGRES_ADVICE = (
    "chat restore puts back SQLite backups; this server uses PostgreSQL: restore it with"
    ' pg_restore (docs/DEPLOYMENT.md, "Backups")'
)

#: What reading a damaged or cut-short archive raises.
_DAMAGED = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError, ValueError)


@dataclass
class RestoreSummary:
    """What `restore_backup` put back, for its one line of output."""

    data_dir: Path
    files: int = 0
    secret: bool = False

    def describe(self) -> str:
        secret = " and the JWT secret" if self.secret else ""
        return (
            f"restored into {self.data_dir}: the database, {self.files} file objects{secret};"
            " start chat serve on it"
        )


async def restore_backup(config: Config, archive: Path) -> RestoreSummary:
    """Check the archive at `archive` and put it into `config`'s empty data directory."""
    if config.is_postgres:
        raise BackupError(POSTGRES_ADVICE)
    await trio.to_thread.run_sync(_check_destination, config, archive)
    staging = config.data_dir / f".restore-{secrets.token_hex(6)}"
    try:
        await trio.to_thread.run_sync(make_private_directory, staging)
        manifest, keys = await _extract(archive, staging)
        await trio.to_thread.run_sync(_check_database, staging / DATABASE, keys, manifest)
        summary = RestoreSummary(config.data_dir, files=len(keys))
        summary.secret = await trio.to_thread.run_sync((staging / SECRET).exists)
        entry = await operator_entry(
            "restore",
            details={
                "Archive": str(await trio.to_thread.run_sync(archive.resolve)),
                "BackupCreatedAt": manifest.get("created_at"),
                "ChatVersion": manifest.get("chat_version"),
                "Files": len(keys),
            },
        )
        await trio.to_thread.run_sync(_record_restore, staging / DATABASE, entry)
        await _put_in_place(config, staging, keys)
    except OSError as error:
        where = error.filename or f"cannot restore into {config.data_dir}"
        raise BackupError(f"{where}: {error.strerror or error}") from None
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(lambda: shutil.rmtree(staging, ignore_errors=True))
    return summary


def _is_empty(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def _check_destination(config: Config, archive: Path) -> None:
    if not archive.is_file():
        raise BackupError(f"{archive}: no such file")
    if not _is_empty(config.data_dir):
        raise BackupError(
            f"{config.data_dir} is not empty: chat restore only fills an empty data directory"
            " (move its contents away, or set CHAT_DATA_DIR to a new one)"
        )
    database = database_path(config)
    if database.exists():
        raise BackupError(f"{database} exists: chat restore never replaces a database")
    directory = storage_directory(config)
    if directory is not None and not _is_empty(directory):
        raise BackupError(f"the file storage {directory} is not empty: restore into an empty one")
    make_private_directory(config.data_dir)


class _Reader:
    """The archive being read, and the worker threads it is read from."""

    def __init__(self, archive: Path) -> None:
        self.archive = archive
        self._limiter = trio.CapacityLimiter(1)

    async def thread(self, function: Callable[..., T], *args: Any) -> T:
        try:
            return await trio.to_thread.run_sync(function, *args, limiter=self._limiter)
        except BackupError:
            raise
        except _DAMAGED as error:
            if isinstance(error, OSError) and error.errno is not None:
                raise  # the disk, not the archive
            # tarfile's "could not be opened" lists every method it tried: the first line.
            said = (str(error).splitlines() or [type(error).__name__])[0].rstrip(":")
            raise BackupError(
                f"{self.archive} is not a complete chat backup (cut short or damaged): {said}"
            ) from None


async def _extract(archive: Path, staging: Path) -> tuple[dict[str, Any], set[str]]:
    """Extract every member into `staging`, checked; the manifest and the object keys."""
    reader = _Reader(archive)
    tar = await reader.thread(tarfile.open, str(archive), "r:*")
    try:
        seen: set[str] = set()
        keys: set[str] = set()
        while (member := await reader.thread(tar.next)) is not None:
            key = storage_key(member)
            if member.name in seen:
                raise BackupError(f"archive member {member.name!r} appears twice: refused")
            seen.add(member.name)
            if key is not None:
                keys.add(key)
            await reader.thread(_extract_member, tar, member, staging, key)
        if MANIFEST not in seen:
            raise BackupError(
                f"{archive} is not a complete chat backup: it has no {MANIFEST} (cut short?)"
            )
        manifest = await reader.thread(_read_manifest, staging / MANIFEST, archive)
        if DATABASE not in seen:
            raise BackupError(f"{archive} has no {DATABASE}")
        return manifest, keys
    finally:
        await trio.to_thread.run_sync(tar.close)


def _extract_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, staging: Path, key: str | None
) -> None:
    """Copy one checked member under `staging` (at its own name, which `storage_key`
    confined to ``files/<ab>/<key>`` or a plain name); a file's bytes must hash to the
    SHA-256 its key starts with."""
    source = tar.extractfile(member)
    assert source is not None  # a regular file, checked by `storage_key`
    target = staging / member.name
    make_private_directory(target.parent)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as writing:
        digest = _copy(source, writing)
    # A thumbnail is named after its original's bytes, not its own: not checked.
    if key is not None and not key.endswith(THUMBNAIL) and digest != sha256_of_key(key):
        raise BackupError(f"archive member {member.name!r} is damaged (its SHA-256 differs)")


def _copy(source: IO[bytes], target: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := source.read(1024 * 1024):
        digest.update(chunk)
        target.write(chunk)
    return digest.hexdigest()


def _read_manifest(path: Path, archive: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{archive} is not a chat backup this version reads ({FORMAT})")
    return manifest


def _check_database(path: Path, keys: set[str], manifest: dict[str, Any]) -> None:
    """The database is the one the manifest names, whole, and every file object it
    needs is in the archive."""
    digest = hashlib.sha256()
    with open(path, "rb") as reading:
        while chunk := reading.read(1024 * 1024):
            digest.update(chunk)
    if digest.hexdigest() != manifest.get("database_sha256"):
        raise BackupError(f"the archive's {DATABASE} is damaged (its SHA-256 differs)")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
        if problems != ["ok"]:
            raise BackupError(f"the archive's {DATABASE} fails its integrity check: {problems[0]}")
        if (
            conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                (SCHEMA_VERSION_TABLE,),
            ).fetchone()
            is None
        ):
            raise BackupError(f"the archive's {DATABASE} is not a chat database")
        needed = file_objects(conn)
    except sqlite3.DatabaseError as error:
        raise BackupError(f"the archive's {DATABASE} cannot be read: {error}") from None
    finally:
        conn.close()
    if manifest.get("files") != "directory":
        return  # the files are in S3, which a backup leaves alone
    for objects in needed:
        for key in objects.keys:
            if objects.referenced and key not in keys:
                raise BackupError(
                    f"the archive lacks {file_member(key)}, which a message refers to"
                )


def _record_restore(database: Path, entry: AuditEntry) -> None:
    """Append the restore's entry to the restored database's audit log. Closed at once:
    SQLite then folds a write-ahead log back into the file, which moves alone."""
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        if has_audit_log(conn):  # a database older than the log has no place for it
            conn.execute("BEGIN IMMEDIATE")
            append_audit(conn, entry, time.time_ns() // 1_000_000)
            conn.execute("COMMIT")
    finally:
        conn.close()


async def _put_in_place(config: Config, staging: Path, keys: set[str]) -> None:
    """Move the checked members to where `chat serve` looks for them: the file objects,
    the secret, then the database."""
    directory = storage_directory(config)
    if directory is not None:
        await trio.to_thread.run_sync(_move_objects, staging, directory, keys)
    elif keys:
        # Files are in S3 now: put the archive's objects there.
        try:
            async with open_storage(config) as storage:
                for key in sorted(keys):
                    await storage.put(key, staging / file_member(key))
        except StorageUnavailable as error:
            raise BackupError(f"cannot put the files into the storage: {error}") from None
    secret = staging / SECRET
    if await trio.to_thread.run_sync(secret.exists):
        await trio.to_thread.run_sync(os.replace, secret, config.data_dir / SECRET_FILE_NAME)
    database = database_path(config)

    def move_database() -> None:
        make_private_directory(database.parent)
        shutil.move(staging / DATABASE, database)

    await trio.to_thread.run_sync(move_database)


def _move_objects(staging: Path, directory: Path, keys: set[str]) -> None:
    for key in keys:
        target = directory / key[:2] / key
        make_private_directory(target.parent)
        shutil.move(staging / file_member(key), target)
