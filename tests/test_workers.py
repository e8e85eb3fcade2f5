"""`chat serve --workers N`: several processes on one port, one chat, one supervisor;
and SQLite's refusal to be served by more than one process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from cluster import (
    Workers,
    free_port,
    instance_config,
    open_workers,
    require_program,
    start_process,
    wait_for_log,
)
from support import (
    STEP,
    TEST_SECRET,
    account,
    chat_environ,
    http_client,
    open_clients,
    run_chat,
    throwaway_postgres_schema,
)
from trio_websocket import ConnectionClosed

from chat.core.config import Config


@pytest.fixture
async def workers(tmp_path: Path) -> AsyncIterator[Workers]:
    async with throwaway_postgres_schema() as url, open_workers(tmp_path, url) as running:
        yield running


def _connection_owners(port: int) -> set[int]:
    """The pids of the processes holding established connections accepted on `port`."""
    ss = require_program("ss")
    listing = subprocess.run(
        [ss, "-tnpH", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {int(pid) for pid in re.findall(r"pid=(\d+)", listing)}


async def test_workers_share_the_port_as_one_chat(workers: Workers) -> None:
    server = workers.server
    alice = await account(server, "alice")
    async with open_clients(server) as clients:
        # Enough connections that the kernel hands some to each worker.
        talkers = [await clients.talker(token=alice.token, name="alice") for _ in range(16)]
        assert _connection_owners(server.port) == set(workers.pids().values())
        await talkers[0].say("to everyone, on every worker")
        for talker in talkers[1:]:
            heard = await talker.receive()
            assert heard["message"] == "to everyone, on every worker"


async def test_sigterm_drains_every_worker_and_exits_0(workers: Workers) -> None:
    alice = await account(workers.server, "alice")
    async with open_clients(workers.server) as clients:
        connected = [await clients.json("/ws", token=alice.token) for _ in range(6)]
        workers.supervisor.process.send_signal(signal.SIGTERM)
        for ws in connected:
            with pytest.raises(ConnectionClosed) as closed, trio.fail_after(STEP):
                await ws.ws.get_message()
            assert closed.value.reason.code == 1001
        with trio.fail_after(STEP):
            assert await workers.supervisor.process.wait() == 0
    log = workers.supervisor.log
    assert "SIGTERM received: shutting down" in log
    assert "stopped (2 workers)" in log
    assert not any(pid_alive(pid) for pid in workers.pids().values())


async def test_sigint_to_the_supervisor_also_drains_and_exits_0(workers: Workers) -> None:
    workers.supervisor.process.send_signal(signal.SIGINT)
    with trio.fail_after(STEP):
        assert await workers.supervisor.process.wait() == 0
    assert "SIGINT received: shutting down" in workers.supervisor.log


async def test_a_worker_that_dies_is_logged_and_restarted(workers: Workers) -> None:
    first = workers.pids()
    os.kill(first[1], signal.SIGKILL)
    log = workers.supervisor
    await wait_for_log(
        log, re.compile(rb"worker 1 exited with signal SIGKILL; restarting"), "the log"
    )
    await wait_for_log(
        log, re.compile(rb"worker 1 started \(pid (?!%d\))" % first[1]), "a new worker 1"
    )
    restarted = workers.pids()
    assert restarted[1] != first[1] and restarted[2] == first[2]
    # The new worker serves: every connection, whichever worker takes it, is answered.
    alice = await account(workers.server, "alice")
    async with open_clients(workers.server) as clients:
        with trio.fail_after(STEP):
            while _connection_owners(workers.server.port) != set(restarted.values()):
                await clients.talker(token=alice.token)


async def test_workers_shut_down_by_themselves_when_the_supervisor_is_killed(
    workers: Workers,
) -> None:
    pids = workers.pids()
    workers.supervisor.process.kill()
    await workers.supervisor.process.wait()
    with trio.fail_after(STEP):
        # Polling the kernel: the workers are not our children.
        while any(pid_alive(pid) for pid in pids.values()):  # noqa: ASYNC110
            await trio.sleep(0.05)
    assert "the supervisor is gone: shutting down" in workers.supervisor.log


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_workers_that_cannot_start_stop_the_supervisor_with_their_reason(
    tmp_path: Path,
) -> None:
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    config = instance_config(tmp_path, unreachable, 1, workers=2)
    with trio.fail_after(STEP * 3):
        result = await run_chat("serve", env=chat_environ(config))
    assert result.returncode == 1
    assert b"cannot connect to PostgreSQL" in result.stderr  # the worker's own reason
    assert b"exited with code 1 before it was ready" in result.stderr
    assert b"Traceback" not in result.stderr


# --- SQLite serves one instance ---


async def test_workers_on_sqlite_refuse_to_start_with_exit_code_2(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path / "data", port=0, jwt_secret=TEST_SECRET)
    result = await run_chat("serve", "--workers", "2", env=chat_environ(config))
    assert result.returncode == 2
    assert b"SQLite serves one instance; PostgreSQL serves several" in result.stderr
    assert b"Traceback" not in result.stderr


async def test_a_second_server_on_the_same_sqlite_file_refuses_to_start_with_exit_code_2(
    tmp_path: Path,
) -> None:
    config = Config(host="127.0.0.2", data_dir=tmp_path / "data", port=0, jwt_secret=TEST_SECRET)
    first = await start_process(
        [sys.executable, "-m", "chat", "serve"], tmp_path / "first.log", env=chat_environ(config)
    )
    try:
        await wait_for_log(first, re.compile(rb"listening on"), "the first server")
        second = await run_chat("serve", "--host", "127.0.0.3", env=chat_environ(config))
        assert second.returncode == 2
        assert f"served by another chat process (pid {first.process.pid})".encode() in second.stderr
        assert b"SQLite serves one instance; PostgreSQL serves several" in second.stderr
        assert b"Traceback" not in second.stderr
        # The tools that do not serve still work beside the running server.
        migrated = await run_chat("migrate", env=chat_environ(config))
        assert migrated.returncode == 0, migrated.stderr
    finally:
        with trio.CancelScope(shield=True):
            assert await first.stop() == 0
    # Once the first one has stopped, the file may be served again.
    again = await start_process(
        [sys.executable, "-m", "chat", "serve"], tmp_path / "again.log", env=chat_environ(config)
    )
    try:
        await wait_for_log(again, re.compile(rb"listening on"), "the next server")
    finally:
        with trio.CancelScope(shield=True):
            await again.stop()


def test_the_worker_plumbing_is_not_in_the_help() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "chat", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--workers" in shown
    assert "--ready-fd" not in shown and "--lifeline-fd" not in shown and "--worker " not in shown


async def test_workers_without_a_secret_all_accept_one_token(tmp_path: Path) -> None:
    # Each worker reads the key the database keeps; each request below is a new
    # connection, which the kernel hands to either worker.
    async with (
        throwaway_postgres_schema() as url,
        open_workers(tmp_path, url, jwt_secret=None) as running,
    ):
        alice = await account(running.server, "alice")
        for _ in range(16):
            async with http_client(running.server) as client:
                response = await client.get("/rooms", headers=alice.auth)
            assert response.status_code == 200, response.text
