"""`PostgresStore`: every role on one PostgreSQL database, one concern per mixin."""

from __future__ import annotations

from chat.store.account_data import StoredAccountData
from chat.store.accounts import StoredAccounts
from chat.store.files import StoredFiles
from chat.store.login_addresses import StoredLoginAddresses
from chat.store.moderation import StoredModeration
from chat.store.postgres.changes import PostgresChanges
from chat.store.postgres.messages import PostgresMessages
from chat.store.postgres.push import PostgresPush
from chat.store.postgres.retention import PostgresRetention
from chat.store.postgres.search import PostgresSearch
from chat.store.reports import StoredReports
from chat.store.rooms import StoredRooms
from chat.store.secrets import StoredSecrets
from chat.store.sessions import StoredSessions
from chat.store.support import StoredSupport


class PostgresStore(
    StoredAccounts,
    StoredLoginAddresses,
    StoredAccountData,
    StoredSessions,
    StoredRooms,
    StoredSupport,
    PostgresMessages,
    PostgresChanges,
    PostgresSearch,
    PostgresPush,
    StoredFiles,
    PostgresRetention,
    StoredSecrets,
    StoredModeration,
    StoredReports,
):
    """`Store` on PostgreSQL. Create it with `open_postgres_store`."""
