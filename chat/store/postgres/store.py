"""`PostgresStore`: every role on one PostgreSQL database, one concern per mixin."""

from __future__ import annotations

from .account_data import PostgresAccountData
from .accounts import PostgresAccounts
from .changes import PostgresChanges
from .files import PostgresFiles
from .messages import PostgresMessages
from .moderation import PostgresModeration
from .push import PostgresPush
from .reports import PostgresReports
from .retention import PostgresRetention
from .rooms import PostgresRooms
from .search import PostgresSearch
from .secrets import PostgresSecrets
from .sessions import PostgresSessions
from .support import PostgresSupport


class PostgresStore(
    PostgresAccounts,
    PostgresAccountData,
    PostgresSessions,
    PostgresRooms,
    PostgresSupport,
    PostgresMessages,
    PostgresChanges,
    PostgresSearch,
    PostgresPush,
    PostgresFiles,
    PostgresRetention,
    PostgresModeration,
    PostgresReports,
    PostgresSecrets,
):
    """`Store` on PostgreSQL. Create it with `open_postgres_store`."""
