"""`PostgresStore`: every role on one PostgreSQL database, one concern per mixin."""

from __future__ import annotations

from chat.store.account_data import StoredAccountData
from chat.store.accounts import StoredAccounts
from chat.store.files import StoredFiles
from chat.store.login_addresses import StoredLoginAddresses
from chat.store.moderation import StoredModeration
from chat.store.postgres.changes import PostgresChanges
from chat.store.postgres.messages import PostgresMessages
from chat.store.push import StoredPush
from chat.store.reports import StoredReports
from chat.store.retention import StoredRetention
from chat.store.rooms import StoredRooms
from chat.store.search import StoredSearch
from chat.store.secrets import StoredSecrets
from chat.store.sessions import StoredSessions
from chat.store.support import StoredSupport


class PostgresStore(
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
    StoredSecrets,
    PostgresMessages,
    PostgresChanges,
):
    """`Store` on PostgreSQL. Create it with `open_postgres_store`."""
