"""Storage, an adapter: role protocols by concern (`roles`: `Accounts`, `Rooms`, `Support`,
`Messages`, `History`, `Changes`, `Search`, `Operations` and more; `Store` is all of them),
one module per concern written once for both engines over a small connection interface
(`database`, `dialect`: what differs), and the engines that run them (`sqlite/`,
`postgres/`, which do not know each other). The records they hand out and take in are
the core's (`chat.core.records`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from chat.core.config import Config
from chat.store.roles import (
    AccountData,
    Accounts,
    Changes,
    Files,
    History,
    Messages,
    Moderation,
    Operations,
    Push,
    Reports,
    Retention,
    Rooms,
    Search,
    Sessions,
    Store,
    Support,
)

__all__ = [
    "AccountData",
    "Accounts",
    "Changes",
    "Files",
    "History",
    "Messages",
    "Moderation",
    "Operations",
    "Push",
    "Reports",
    "Retention",
    "Rooms",
    "Search",
    "Sessions",
    "Store",
    "Support",
    "describe_database",
    "open_store",
]


def describe_database(config: Config) -> str:
    """Where the data lives, for log lines (never includes a password)."""
    url = config.database_url
    if url is None:
        return f"SQLite at {config.sqlite_path}"
    if url.startswith("sqlite:///"):
        return f"SQLite at {url.removeprefix('sqlite:///')}"
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or "local socket"
    port = f":{parts.port}" if parts.port else ""
    return f"PostgreSQL at {host}{port}{parts.path}"


@asynccontextmanager
async def open_store(
    config: Config, *, serving: bool = False, create_schema: bool = False
) -> AsyncIterator[Store]:
    """Open and migrate the configured database for the duration of the block.

    `serving` is for `chat serve`: a SQLite database then belongs to this process alone
    (`chat.store.sqlite.serving_lock`), and a second server on it raises
    `chat.core.errors.AlreadyServed`. Raises `chat.core.errors.Unavailable` if the database cannot
    be reached. `create_schema` is for `chat migrate --create-schema` (PostgreSQL).
    """
    url = config.database_url
    if config.is_postgres:
        assert url is not None
        from chat.store.postgres import open_postgres_store

        async with open_postgres_store(
            url, pool_size=config.db_pool_size, create_schema=create_schema
        ) as pg_store:
            yield pg_store
        return

    from chat.store.sqlite import open_sqlite_store, serving_lock, sqlite_path_from_url

    path = config.sqlite_path if url is None else sqlite_path_from_url(url)
    with serving_lock(path) if serving else contextlib.nullcontext():
        async with open_sqlite_store(path, connections=config.db_pool_size) as sqlite_store:
            yield sqlite_store
