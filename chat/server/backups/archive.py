"""What a backup archive holds, and which members `chat restore` accepts.

A backup is one tar archive (uncompressed; `chat restore` also reads it gzip-, bzip2- or
xz-compressed) of regular files only:

- ``files/<ab>/<key>``: the file storage's objects, exactly as `DirectoryStorage` keeps
  them (``<sha256>.<FileID>`` and ``<sha256>.<FileID>.thumbnail``), first;
- ``chat.sqlite3``: the database, one self-contained file (no -wal beside it);
- ``jwt-secret``: the data directory's signing key, if it has one;
- ``manifest.json``: what the archive holds, and the database's SHA-256; always last, so
  an archive cut short lacks it.

Nothing else is ever written, and `chat restore` refuses anything else: a member's name
is one of the above or the archive is refused, so no member can reach outside the data
directory (no ``..``, no absolute path, no link, no device).
"""

from __future__ import annotations

import re
import sqlite3
import tarfile
from dataclasses import dataclass

from chat.core.errors import ChatError

DATABASE = "chat.sqlite3"
SECRET = "jwt-secret"
MANIFEST = "manifest.json"
FILES = "files"
#: How a thumbnail's key ends (`StoredFile.thumbnail_key`).
THUMBNAIL = ".thumbnail"

#: The archive format `manifest.json` names; `chat restore` refuses others.
FORMAT = "chat-backup/1"

#: The largest manifest and secret `chat restore` reads (both are a few hundred bytes).
MAX_SMALL_MEMBER = 64 * 1024

#: ``files/<first two characters of the key>/<key>``; the key as `DirectoryStorage`
#: accepts it (its first 64 characters are the SHA-256 of the bytes, as hex).
_FILE_MEMBER = re.compile(
    r"files/([0-9a-f]{2})/(\1[0-9a-f]{62}\.[A-Za-z0-9_-]{1,40}(\.thumbnail)?)"
)


class BackupError(ChatError):
    """A backup cannot be made or restored; ``str()`` says why, in one line."""


def file_member(key: str) -> str:
    """The archive member holding the storage object `key`."""
    return f"{FILES}/{key[:2]}/{key}"


def storage_key(member: tarfile.TarInfo) -> str | None:
    """The storage key `member` holds, or None for the database, secret and manifest.

    Raises `BackupError` for anything `chat backup` never writes: another name (a path
    outside the data directory among them) or anything but a regular file."""
    match = _FILE_MEMBER.fullmatch(member.name)
    if match is None and member.name not in (DATABASE, SECRET, MANIFEST):
        raise BackupError(
            f"archive member {member.name[:200]!r} is not one chat backup writes: refused"
        )
    if not member.isreg():
        raise BackupError(f"archive member {member.name[:200]!r} is not a regular file: refused")
    if match is None and member.size > MAX_SMALL_MEMBER and member.name != DATABASE:
        raise BackupError(f"archive member {member.name!r} is too large: refused")
    return None if match is None else match.group(2)


def sha256_of_key(key: str) -> str:
    return key[:64]


@dataclass(frozen=True, slots=True)
class FileObjects:
    """One file record of a database: its storage objects, and whether a message refers
    to it."""

    file_id: str
    keys: tuple[str, ...]
    referenced: bool


def file_objects(conn: sqlite3.Connection) -> list[FileObjects]:
    """Every file record of the database on `conn`, with the storage objects it needs."""
    has_files = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'files'"
    ).fetchone()
    if has_files is None:  # a database from before files existed
        return []
    rows = conn.execute(
        "SELECT f.id, f.sha256, f.thumbnail_type IS NOT NULL,"
        " EXISTS (SELECT 1 FROM message_files AS mf WHERE mf.file_id = f.id)"
        " FROM files AS f ORDER BY f.id"
    ).fetchall()
    found = []
    for file_id, sha256, thumbnail, referenced in rows:
        # The names `StoredFile.storage_key` and `StoredFile.thumbnail_key` give them.
        keys = [f"{sha256}.{file_id}"] + ([f"{sha256}.{file_id}.thumbnail"] if thumbnail else [])
        found.append(FileObjects(file_id, tuple(keys), bool(referenced)))
    return found
