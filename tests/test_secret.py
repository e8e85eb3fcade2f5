"""The JWT signing key: configured, or generated once into the data directory."""

from __future__ import annotations

import stat

import trio
from support import Server, http_client, open_clients, register, start_server

from chat.auth import SECRET_FILE_NAME
from chat.config import Config


async def test_a_generated_secret_is_private_and_survives_a_restart(config: Config) -> None:
    config = config.replace(jwt_secret=None)
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
