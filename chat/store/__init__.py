"""Storage, an adapter: role protocols by concern (`roles`: `Accounts`, `Rooms`, `Support`,
`Messages`, `History`, `Changes`, `Search`, `Operations` and more; `Store` is all of them),
one module per concern written once for both engines over a small connection interface
(`database`, `dialect`: what differs), and the engines that run them (`sqlite/`,
`postgres/`, which do not know each other). The records they hand out and take in are
the core's (`chat.core.records`)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import trio

from chat.core.config import Config
from chat.store.roles import (
    AccountData,
    Accounts,
    Administration,
    ApiTokens,
    Bots,
    Changes,
    DirectGroups,
    Email,
    Files,
    History,
    IncomingWebhooks,
    Invites,
    LinkPreviews,
    Messages,
    Moderation,
    OidcLinks,
    Operations,
    Pins,
    Push,
    Reports,
    Retention,
    RoomCommandRegistrations,
    RoomLifecycle,
    Rooms,
    Saved,
    Search,
    Sessions,
    Statuses,
    Store,
    Support,
    Threads,
    TwoFactor,
)

__all__ = [
    "AccountData",
    "Accounts",
    "Administration",
    "ApiTokens",
    "Bots",
    "Changes",
    "DirectGroups",
    "Email",
    "Files",
    "History",
    "IncomingWebhooks",
    "Invites",
    "LinkPreviews",
    "Messages",
    "Moderation",
    "OidcLinks",
    "Operations",
    "Pins",
    "Push",
    "Reports",
    "Retention",
    "RoomCommandRegistrations",
    "RoomLifecycle",
    "Rooms",
    "Saved",
    "Search",
    "Sessions",
    "Statuses",
    "Store",
    "Support",
    "Threads",
    "TwoFactor",
    "database_url_without_password",
    "describe_database",
    "open_store",
    "refuse_if_moved",
]

log = logging.getLogger(__name__)


def describe_database(config: Config) -> str:
    """Where the data lives, for log lines (never includes a password)."""
    url = config.database_url
    if url is None:
        return f"SQLite at {config.sqlite_path}"
    if url.startswith("sqlite:///"):
        return f"SQLite at {url.removeprefix('sqlite:///')}"
    parts = urlsplit(url)
    host = parts.hostname or "local socket"
    port = f":{parts.port}" if parts.port else ""
    return f"PostgreSQL at {host}{port}{parts.path}"


def database_url_without_password(url: str) -> str:
    """A PostgreSQL URL as it may be shown and stored: without the password, in its
    user part or its query (``?password=``)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}@{host}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k.lower() != "password"])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _sqlite_path(config: Config) -> Path:
    from chat.store.sqlite import sqlite_path_from_url

    url = config.database_url
    return config.sqlite_path if url is None else sqlite_path_from_url(url)


def refuse_if_moved(config: Config) -> None:
    """Raise `chat.core.errors.DatabaseMoved` if the configured database is a SQLite file
    `chat copy-database` has moved to PostgreSQL (`chat.store.sqlite.moved`). Blocks: for
    a command before its `trio.run`, or in a thread."""
    if config.is_postgres:
        return
    from chat.store.sqlite.moved import refuse_if_moved as refuse_moved_file

    refuse_moved_file(_sqlite_path(config))


@asynccontextmanager
async def open_store(
    config: Config,
    *,
    serving: bool = False,
    create_schema: bool = False,
    force_moved: bool = False,
) -> AsyncIterator[Store]:
    """Open and migrate the configured database for the duration of the block.

    `serving` is for `chat serve`: a SQLite database then belongs to this process alone
    (`chat.store.sqlite.serving_lock`), and a second server on it raises
    `chat.core.errors.AlreadyServed`; one `chat copy-database` moved raises
    `chat.core.errors.DatabaseMoved`, unless `force_moved`. Raises
    `chat.core.errors.Unavailable` if the database cannot be reached. `create_schema` is
    for `chat migrate --create-schema` (PostgreSQL).
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

    from chat.store.sqlite import open_sqlite_store, serving_lock
    from chat.store.sqlite.moved import moved_to

    path = _sqlite_path(config)
    with serving_lock(path) if serving else contextlib.nullcontext():
        # With the serving lock: a copy finishing meanwhile cannot be missed.
        if serving and not force_moved:
            await trio.to_thread.run_sync(refuse_if_moved, config)
        elif serving and (moved := await trio.to_thread.run_sync(moved_to, path)) is not None:
            log.warning(
                "serving %s although it was moved to %s (--force-moved)", path, moved.target
            )
        async with open_sqlite_store(path, connections=config.db_pool_size) as sqlite_store:
            yield sqlite_store
