"""`PostgresStore`: every role on one PostgreSQL database, one concern per mixin."""

from __future__ import annotations

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
from .sessions import PostgresSessions
from .support import PostgresSupport


class PostgresStore(
    PostgresAccounts,
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
):
    """`Store` on PostgreSQL. Create it with `open_postgres_store`."""
