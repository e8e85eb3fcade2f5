"""Backups of a SQLite server: ``chat backup FILE`` (`chat.backups.making`) and ``chat
restore FILE`` (`chat.backups.restoring`), one tar archive between them
(`chat.backups.archive`), the database copied with SQLite's online backup API
(`chat.backups.snapshot`). PostgreSQL is backed up with pg_dump (docs/DEPLOYMENT.md,
"Backups")."""

from .archive import BackupError
from .making import BackupSummary, make_backup
from .restoring import RestoreSummary, restore_backup

__all__ = ["BackupError", "BackupSummary", "RestoreSummary", "make_backup", "restore_backup"]
