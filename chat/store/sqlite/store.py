"""`SQLiteStore`: every role on one SQLite file, one concern per mixin."""

from __future__ import annotations

from chat.store.account_data import StoredAccountData
from chat.store.accounts import StoredAccounts
from chat.store.files import StoredFiles
from chat.store.login_addresses import StoredLoginAddresses
from chat.store.moderation import StoredModeration
from chat.store.reports import StoredReports
from chat.store.rooms import StoredRooms
from chat.store.sessions import StoredSessions
from chat.store.sqlite.changes import SQLiteChanges
from chat.store.sqlite.messages import SQLiteMessages
from chat.store.sqlite.push import SQLitePush
from chat.store.sqlite.retention import SQLiteRetention
from chat.store.sqlite.search import SQLiteSearch
from chat.store.support import StoredSupport


class SQLiteStore(
    StoredAccounts,
    StoredLoginAddresses,
    StoredAccountData,
    StoredSessions,
    StoredRooms,
    StoredSupport,
    SQLiteMessages,
    SQLiteChanges,
    SQLiteSearch,
    SQLitePush,
    StoredFiles,
    SQLiteRetention,
    StoredModeration,
    StoredReports,
):
    """`Store` on a SQLite file. Create it with `open_sqlite_store`."""
