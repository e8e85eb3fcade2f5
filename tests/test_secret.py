"""The JWT signing key: configured; or, unset, generated once into the data directory
(SQLite) or into the database, for the whole cluster (PostgreSQL)."""

from __future__ import annotations

import logging
import secrets
import stat
from pathlib import Path

import pytest
import trio
from cluster import open_cluster
from support import (
    Server,
    account,
    http_client,
    open_clients,
    register,
    select_rows,
    server_config,
    start_server,
    throwaway_postgres_schema,
)

from chat.app.accounts.auth import SECRET_FILE_NAME
from chat.core.config import Config


async def test_a_generated_secret_is_private_and_survives_a_restart(tmp_path: Path) -> None:
    config = server_config(tmp_path, None).replace(jwt_secret=None)
    async with trio.open_nursery() as first_run:
        server = await start_server(first_run, config)
        token = await register(server, "alice")
        first_run.cancel_scope.cancel()

    secret_file = config.data_dir / SECRET_FILE_NAME
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert len(secret_file.read_text().strip()) >= 32

    async with trio.open_nursery() as second_run:
        server = await start_server(second_run, config)
        async with open_clients(server) as clients:
            client = await clients.talker()
            reply = await client.auth(token)  # the old token still verifies
            assert reply["message"] == "authorized as alice"
        second_run.cancel_scope.cancel()


async def test_a_configured_secret_is_used_and_nothing_is_written(
    nursery: trio.Nursery, config: Config
) -> None:
    server: Server = await start_server(nursery, config)
    async with http_client(server) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    assert not (config.data_dir / SECRET_FILE_NAME).exists()


async def _accepted(server: Server, token: str) -> bool:
    async with http_client(server) as client:
        response = await client.get("/rooms", headers={"Authorization": f"Bearer {token}"})
    return response.status_code == 200


async def test_a_cluster_without_a_secret_signs_with_one_key_kept_in_the_database(
    tmp_path: Path,
) -> None:
    async with (
        throwaway_postgres_schema() as url,
        open_cluster(tmp_path, url, 2, jwt_secret=None) as (first, second),
    ):
        alice = await account(first.server, "alice")
        assert await _accepted(second.server, alice.token)
        bob = await account(second.server, "bob")
        assert await _accepted(first.server, bob.token)
        rows = await select_rows(first.config, "SELECT name FROM server_secrets")
    assert rows == [("jwt",)]
    assert not (tmp_path / "instance-1" / SECRET_FILE_NAME).exists()
    assert not (tmp_path / "instance-2" / SECRET_FILE_NAME).exists()


async def test_a_data_directory_secret_file_seeds_the_database_key(
    nursery: trio.Nursery, postgres_config: Config
) -> None:
    # An instance that generated its key into a file before keeps its tokens valid.
    file_secret = secrets.token_urlsafe(48)
    postgres_config.data_dir.mkdir(parents=True, exist_ok=True)
    (postgres_config.data_dir / SECRET_FILE_NAME).write_text(file_secret + "\n")
    server = await start_server(nursery, postgres_config.replace(jwt_secret=None))
    await register(server, "alice")
    rows = await select_rows(postgres_config, "SELECT value FROM server_secrets")
    assert rows == [(file_secret,)]


async def _start_once_without_a_secret(config: Config) -> None:
    """Start and stop a server without CHAT_JWT_SECRET: the database keeps a key after."""
    async with trio.open_nursery() as first_run:
        await start_server(first_run, config.replace(jwt_secret=None))
        first_run.cancel_scope.cancel()


async def test_a_configured_secret_unlike_the_database_key_is_warned_about(
    nursery: trio.Nursery, postgres_config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    await _start_once_without_a_secret(postgres_config)
    with caplog.at_level(logging.WARNING, logger="chat.app.accounts.signing_key"):
        await start_server(nursery, postgres_config)  # TEST_SECRET, not the stored key
    assert any("CHAT_JWT_SECRET differs" in record.getMessage() for record in caplog.records)


async def test_a_configured_secret_equal_to_the_database_key_is_not_warned_about(
    nursery: trio.Nursery, postgres_config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    await _start_once_without_a_secret(postgres_config)
    [(stored,)] = await select_rows(postgres_config, "SELECT value FROM server_secrets")
    with caplog.at_level(logging.WARNING, logger="chat.app.accounts.signing_key"):
        await start_server(nursery, postgres_config.replace(jwt_secret=stored))
    assert not any("CHAT_JWT_SECRET" in record.getMessage() for record in caplog.records)
