"""`SQLiteStore`: every role on one SQLite file, one concern per mixin."""

from __future__ import annotations

from .account_data import SQLiteAccountData
from .accounts import SQLiteAccounts
from .changes import SQLiteChanges
from .files import SQLiteFiles
from .messages import SQLiteMessages
from .moderation import SQLiteModeration
from .push import SQLitePush
from .reports import SQLiteReports
from .retention import SQLiteRetention
from .rooms import SQLiteRooms
from .search import SQLiteSearch
from .sessions import SQLiteSessions
from .support import SQLiteSupport


class SQLiteStore(
    SQLiteAccounts,
    SQLiteAccountData,
    SQLiteSessions,
    SQLiteRooms,
    SQLiteSupport,
    SQLiteMessages,
    SQLiteChanges,
    SQLiteSearch,
    SQLitePush,
    SQLiteFiles,
    SQLiteRetention,
    SQLiteModeration,
    SQLiteReports,
):
    """`Store` on a SQLite file. Create it with `open_sqlite_store`."""
