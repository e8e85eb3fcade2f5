"""`SQLiteStore`: every role on one SQLite file, one concern per mixin."""

from __future__ import annotations

from chat.store.account_data import StoredAccountData
from chat.store.accounts import StoredAccounts
from chat.store.files import StoredFiles
from chat.store.login_addresses import StoredLoginAddresses
from chat.store.moderation import StoredModeration
from chat.store.push import StoredPush
from chat.store.reports import StoredReports
from chat.store.retention import StoredRetention
from chat.store.rooms import StoredRooms
from chat.store.search import StoredSearch
from chat.store.sessions import StoredSessions
from chat.store.sqlite.changes import SQLiteChanges
from chat.store.sqlite.messages import SQLiteMessages
from chat.store.support import StoredSupport


class SQLiteStore(
    StoredAccountData,
    StoredAccounts,
    StoredLoginAddresses,
    StoredSessions,
    StoredRooms,
    StoredSupport,
    StoredModeration,
    StoredReports,
    StoredSearch,
    StoredPush,
    StoredFiles,
    StoredRetention,
    SQLiteMessages,
    SQLiteChanges,
):
    """`Store` on a SQLite file. Create it with `open_sqlite_store`."""
