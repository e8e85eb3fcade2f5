"""``chat backup FILE`` and ``chat restore FILE`` (`chat.server.backups`): their flags, and one
line of output each."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import trio

from chat.core.config import DATABASE_SETTINGS, Config, add_flags
from chat.server.backups.making import make_backup
from chat.server.backups.restoring import restore_backup

#: The settings both commands use: where the database, the secret and the files are.
BACKUP_SETTINGS = DATABASE_SETTINGS | {"files_url"}


def add_backup_parsers(commands: Any) -> None:
    backup = commands.add_parser(
        "backup",
        help="write a backup of a SQLite server (running or not) to one archive",
        description="Write the database (copied with SQLite's online backup API, while the"
        " server runs or not), the files directory and the JWT secret to one tar archive."
        " On PostgreSQL use pg_dump (docs/DEPLOYMENT.md, Backups).",
    )
    add_flags(backup, only=BACKUP_SETTINGS)
    backup.add_argument("file", type=Path, metavar="FILE", help="the archive to write")
    backup.add_argument("--force", action="store_true", help="replace FILE if it exists")
    backup.set_defaults(run=run_backup)

    restore = commands.add_parser(
        "restore",
        help="put a backup archive back into an empty data directory",
        description="Check a chat backup archive (every member, the database's integrity)"
        " and put it into an empty data directory, for chat serve.",
    )
    add_flags(restore, only=BACKUP_SETTINGS)
    restore.add_argument("file", type=Path, metavar="FILE", help="the archive to restore")
    restore.set_defaults(run=run_restore)


def run_backup(config: Config, args: argparse.Namespace) -> None:
    summary = trio.run(lambda: make_backup(config, args.file, force=args.force))
    print(summary.describe())


def run_restore(config: Config, args: argparse.Namespace) -> None:
    summary = trio.run(restore_backup, config, args.file)
    print(summary.describe())
