"""`StoreBase`: what every concern's module builds on: the engine's `Database`, and the
`Operations` role on it. Each concern (`chat.store.accounts`, `chat.store.rooms`, ...)
is a mixin over it whose methods run operations written once for both engines;
`chat.store.stores.DatabaseStore` is all of them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chat.core.records import PoolUsage
from chat.store.dialect import Dialect

if TYPE_CHECKING:
    from chat.core.observer import Observer
    from chat.store.database import Database

# The health check reads a real table, so it fails when the schema is unreadable.
_PING = "SELECT id FROM rooms WHERE kind = 'lobby'"


class StoreBase:
    """A store's database and what it learnt when it opened it."""

    def __init__(self, db: Database, *, lobby_id: int, applied: list[str]) -> None:
        self.db = db
        self.dialect: Dialect = db.dialect
        self.history_seconds: Observer | None = None
        self.lobby_id = lobby_id
        #: Migrations this process applied when it opened the database.
        self.applied_migrations = applied

    def pool_usage(self) -> PoolUsage:
        return self.db.pool_usage()

    async def ping(self) -> None:
        await self.db.fetchval(_PING)
