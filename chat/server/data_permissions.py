"""An installation's data made private at start-up: what an earlier release created by the
umask (the database, its ``-wal`` and ``-shm``, the files directory, 0644 and 0755 under
the usual umask of 022) loses group and others' permissions before the server opens any
of it, and the log says so once.

What is tightened: the data directory, the JWT secret, the uploads directory, the SQLite
database with its ``-wal``, ``-shm``, ``-journal`` and serving lock (wherever
`CHAT_DATABASE_URL` puts it), and the files directory with each of its two-letter
buckets (wherever `CHAT_FILES_URL` puts it). The objects inside the buckets are not
visited one by one (a large installation holds millions): a bucket of mode 0700 lets
nobody else reach them, and new ones are written 0600 (`chat.store.private_paths`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import trio

from chat.app.accounts.auth import SECRET_FILE_NAME
from chat.core.config import Config
from chat.files.opening import storage_directory
from chat.server.backups.making import database_path
from chat.store.private_paths import tighten
from chat.store.sqlite import serving_lock_path

log = logging.getLogger(__name__)

#: The files SQLite keeps beside a database, by suffix.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
#: How many tightened paths the log line names (the count says how many there were).
NAMED_IN_LOG = 5


def data_paths(config: Config) -> list[Path]:
    """The paths of `config`'s data that must be private (those that exist or not)."""
    paths = [config.data_dir, config.data_dir / SECRET_FILE_NAME, config.data_dir / "uploads"]
    if not config.is_postgres:
        database = database_path(config)
        paths.append(database)
        paths.extend(database.with_name(database.name + s) for s in SQLITE_COMPANIONS)
        paths.append(serving_lock_path(database))
    files = storage_directory(config)
    if files is not None and files.is_dir():
        paths.append(files)
        paths.extend(sorted(b for b in files.iterdir() if b.is_dir() and len(b.name) == 2))
    return paths


def tighten_data(config: Config) -> list[Path]:
    """Tighten every path of `data_paths`; those that were readable by others. Blocking."""
    return [path for path in data_paths(config) if tighten(path)]


async def make_data_private(config: Config) -> None:
    """Tighten the data's permissions (in a worker thread), and log once what was loose.
    A path the server cannot change (another owner) is logged, and start-up goes on."""
    try:
        tightened = await trio.to_thread.run_sync(tighten_data, config)
    except OSError as error:
        log.warning("could not make %s private: %s", error.filename, error.strerror)
        return
    if tightened:
        named = ", ".join(str(path) for path in tightened[:NAMED_IN_LOG])
        more = len(tightened) - NAMED_IN_LOG
        log.warning(
            "%d data paths were open to other users; group and others' permissions are"
            " now removed: %s%s",
            len(tightened),
            named,
            f" and {more} more" if more > 0 else "",
        )
