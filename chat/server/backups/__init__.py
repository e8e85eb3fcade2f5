"""Backups of a SQLite server: ``chat backup FILE`` (`chat.server.backups.making`) and ``chat
restore FILE`` (`chat.server.backups.restoring`), one tar archive between them
(`chat.server.backups.archive`), the database copied with SQLite's online backup API
(`chat.server.backups.snapshot`). PostgreSQL is backed up with pg_dump (docs/DEPLOYMENT.md,
"Backups")."""

from chat.server.backups.archive import BackupError
from chat.server.backups.making import BackupSummary, make_backup
from chat.server.backups.restoring import RestoreSummary, restore_backup

__all__ = ["BackupError", "BackupSummary", "RestoreSummary", "make_backup", "restore_backup"]
