"""Graceful shutdown: by cancellation in-process, and by SIGTERM/SIGINT for `chat serve`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path

import bcrypt
import pytest
import trio
from support import PASSWORD, STEP, Server, http_client, open_clients, register, start_server
from trio_websocket import ConnectionClosed

from chat.core.config import Config


async def test_cancelling_the_server_closes_websocket_clients_with_1001(config: Config) -> None:
    async with await_stopped(config) as (server, stop), open_clients(server) as clients:
        client = await clients.talker()
        elapsed = await stop()
        with pytest.raises(ConnectionClosed) as closed, trio.fail_after(STEP):
            await client.ws.get_message()
    assert closed.value.reason.code == 1001
    assert closed.value.reason.reason == "server shutting down"
    assert elapsed < config.close_timeout + 1


async def test_an_idle_keep_alive_connection_does_not_delay_shutdown(config: Config) -> None:
    config = config.replace(shutdown_timeout=30.0)
    async with await_stopped(config) as (server, stop):
        stream = await trio.open_tcp_stream(server.host, server.port)
        async with stream:
            await stream.send_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert (await stream.receive_some()).startswith(b"HTTP/1.1 200")
            # The connection is now idle and kept alive.
            elapsed = await stop()
    assert elapsed < 5.0, f"shutdown took {elapsed:.1f} s with an idle keep-alive connection"


async def test_an_http_request_in_flight_is_answered_during_shutdown(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # bcrypt at cost 13 makes a login take a good fraction of a second; the real check
    # runs, and tells this test when it has begun.
    config = config.replace(bcrypt_cost=13, shutdown_timeout=30.0)
    checking = trio.Event()
    trio_token = trio.lowlevel.current_trio_token()
    real_checkpw = bcrypt.checkpw

    def checkpw(password: bytes, hashed: bytes) -> bool:
        trio.from_thread.run_sync(checking.set, trio_token=trio_token)
        return real_checkpw(password, hashed)

    async with await_stopped(config) as (server, stop):
        await register(server, "alice", PASSWORD)
        monkeypatch.setattr(bcrypt, "checkpw", checkpw)
        response = None

        async def login() -> None:
            nonlocal response
            async with http_client(server) as client:
                response = await client.post("/auth", json={"name": "alice", "password": PASSWORD})

        async with trio.open_nursery() as nursery:
            nursery.start_soon(login)
            await checking.wait()  # the request is in flight: its password is being checked
            await stop()
    assert response is not None and response.status_code == 200


class await_stopped:
    """Start a server; `stop()` cancels it and returns how long it took to finish."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._nursery_manager = trio.open_nursery()
        self._done = trio.Event()

    async def __aenter__(self):
        self._outer = await self._nursery_manager.__aenter__()
        self._scope = trio.CancelScope()
        server_ready = trio.Event()
        address: list[Server] = []

        async def run() -> None:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    address.append(await start_server(nursery, self._config))
                    server_ready.set()
            self._done.set()

        self._outer.start_soon(run)
        await server_ready.wait()
        return address[0], self.stop

    async def stop(self) -> float:
        started = trio.current_time()
        self._scope.cancel()
        with trio.fail_after(60):
            await self._done.wait()
        return trio.current_time() - started

    async def __aexit__(self, *exc_info):
        self._scope.cancel()
        return await self._nursery_manager.__aexit__(*exc_info)


# --- the real command, real signals ---

_LISTENING = re.compile(rb"listening on http://127\.0\.0\.1:(\d+)")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_closes_clients_with_1001_and_exits_0(
    tmp_path: Path, config: Config, signum: signal.Signals
) -> None:
    env = dict(os.environ, CHAT_BCRYPT_COST="4", CHAT_DATA_DIR=str(tmp_path / "data"))
    if config.database_url is not None:
        env["CHAT_DATABASE_URL"] = config.database_url
    command = [sys.executable, "-m", "chat", "serve", "--port", "0"]
    async with trio.open_nursery() as nursery:
        process: trio.Process = await nursery.start(
            partial(trio.run_process, command, env=env, stderr=subprocess.PIPE, check=False)
        )
        log = b""
        with trio.fail_after(STEP):
            while (match := _LISTENING.search(log)) is None:
                chunk = await process.stderr.receive_some()
                assert chunk, f"chat serve exited early: {log.decode()}"
                log += chunk
        server = Server("127.0.0.1", int(match.group(1)), config)

        async with open_clients(server) as clients:
            client = await clients.talker()
            process.send_signal(signum)
            with pytest.raises(ConnectionClosed) as closed, trio.fail_after(STEP):
                await client.ws.get_message()
        assert closed.value.reason.code == 1001

        with trio.fail_after(STEP):
            while chunk := await process.stderr.receive_some():
                log += chunk
            await process.wait()
    assert process.returncode == 0, log.decode()
    assert b"shutting down" in log and b"stopped" in log


async def test_messages_accepted_before_shutdown_are_all_stored(config: Config) -> None:
    # Chat messages are committed in batches while the client goes on sending; the ones
    # still queued when the server is cancelled must be committed on the way out.
    async with await_stopped(config) as (server, stop), open_clients(server) as clients:
        alice = await clients.talker(token=await register(server, "alice"))
        texts = [f"last words {i}" for i in range(50)]
        for text in texts:
            await alice.say(text)
        await alice.sync()  # the server has taken every one of them
        await stop()
    async with await_stopped(config) as (server, stop), open_clients(server) as clients:
        async with http_client(server) as client:
            login = await client.post("/auth", json={"name": "alice", "password": PASSWORD})
        reader = await clients.talker(token=login.json()["token"])
        await reader.say("history 50")
        assert [(await reader.receive())["message"] for _ in texts] == texts
        await stop()
