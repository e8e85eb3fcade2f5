"""`SQLiteStore`: every role on one SQLite file, one concern per mixin."""

from __future__ import annotations

from chat.store.account_data import StoredAccountData
from chat.store.accounts import StoredAccounts
from chat.store.files import StoredFiles
from chat.store.login_addresses import StoredLoginAddresses
from chat.store.sessions import StoredSessions
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
    StoredAccounts,
    StoredLoginAddresses,
    StoredAccountData,
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
