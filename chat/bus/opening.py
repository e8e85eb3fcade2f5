"""Which bus the configuration names, opened: the one place that knows all three."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from chat.bus.interface import Bus
from chat.core.errors import ChatError

if TYPE_CHECKING:
    from chat.core.config import Config
    from chat.store import Store


def open_bus(config: Config, store: Store, instance_id: str) -> Bus:
    """The bus the configuration asks for: Redis if ``CHAT_BUS_URL`` is set, PostgreSQL's
    own notifications on PostgreSQL, none on SQLite."""
    if config.bus_url is not None:
        from chat.bus.redis import RedisBus
        from chat.store.postgres import PostgresStore

        if importlib.util.find_spec("coredis") is None:
            raise ChatError(
                "CHAT_BUS_URL is a Redis URL, but the Redis client is not installed: "
                "pip install 'chat[redis]' (coredis)"
            )
        assert isinstance(store, PostgresStore), "config validation: a bus needs PostgreSQL"
        return RedisBus(config.bus_url, store.cluster_id, instance_id)
    if config.is_postgres:
        from chat.bus.postgres import PostgresBus
        from chat.store.postgres import PostgresStore

        assert isinstance(store, PostgresStore)
        return PostgresBus(store, instance_id)
    from chat.bus.local import LocalBus

    return LocalBus()
