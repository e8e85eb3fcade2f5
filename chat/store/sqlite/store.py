"""`SQLiteStore`: every role on one SQLite file, one concern per mixin."""

from __future__ import annotations

from chat.store.files import StoredFiles
from chat.store.sessions import StoredSessions
from chat.store.sqlite.account_data import SQLiteAccountData
from chat.store.sqlite.accounts import SQLiteAccounts
from chat.store.sqlite.changes import SQLiteChanges
from chat.store.sqlite.messages import SQLiteMessages
from chat.store.sqlite.moderation import SQLiteModeration
from chat.store.sqlite.push import SQLitePush
from chat.store.sqlite.reports import SQLiteReports
from chat.store.sqlite.retention import SQLiteRetention
from chat.store.sqlite.rooms import SQLiteRooms
from chat.store.sqlite.search import SQLiteSearch
from chat.store.sqlite.support import SQLiteSupport


class SQLiteStore(
    SQLiteAccounts,
    SQLiteAccountData,
    StoredSessions,
    SQLiteRooms,
    SQLiteSupport,
    SQLiteMessages,
    SQLiteChanges,
    SQLiteSearch,
    SQLitePush,
    StoredFiles,
    SQLiteRetention,
    SQLiteModeration,
    SQLiteReports,
):
    """`Store` on a SQLite file. Create it with `open_sqlite_store`."""
