"""Logs: `CHAT_LOG_FORMAT` (text or JSON lines), a line per HTTP request and per WebSocket
connection opened and closed, and never a token or a password.

Each test runs a real ``chat serve`` process and reads what it wrote to standard error.
Logging touches no database, so these run on SQLite, except the full session that
must leave no secret in the log, which runs on both backends.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
from support import (
    PASSWORD,
    STEP,
    Clients,
    Server,
    account,
    chat_environ,
    http_client,
    open_clients,
    raw_upgrade,
    run_chat,
    server_config,
    start_server,
    status_of,
)
from trio_websocket import ConnectionClosed

from chat.core.config import Config
from chat.core.logs import JsonFormatter, TextFormatter

_LISTENING = re.compile(rb"listening on http://127\.0\.0\.1:(\d+)")


class ServeProcess:
    """A running ``chat serve``: its address, and what it logged once `stop`ped."""

    def __init__(self, process: trio.Process, config: Config) -> None:
        self.process = process
        self.config = config
        self.server: Server | None = None
        self._log = b""
        self.stopped = False

    async def until_listening(self) -> Server:
        with trio.fail_after(STEP):
            while (match := _LISTENING.search(self._log)) is None:
                chunk = await self.process.stderr.receive_some()
                assert chunk, f"chat serve exited early: {self._log.decode()}"
                self._log += chunk
        self.server = Server("127.0.0.1", int(match.group(1)), self.config)
        return self.server

    async def stop(self) -> str:
        """SIGTERM it (a graceful shutdown); everything it logged, once it exited."""
        if not self.stopped:
            self.stopped = True
            self.process.send_signal(signal.SIGTERM)
            with trio.fail_after(STEP):
                while chunk := await self.process.stderr.receive_some():
                    self._log += chunk
                await self.process.wait()
            assert self.process.returncode == 0, self._log.decode()
        return self._log.decode()


@asynccontextmanager
async def chat_serve(config: Config) -> AsyncIterator[tuple[Server, ServeProcess]]:
    """``chat serve`` with `config` (its log format and level included), stopped at the end."""
    command = [sys.executable, "-m", "chat", "serve"]
    # Holds the process; it ends when the process exits (SIGTERM in `stop`).
    async with trio.open_nursery() as nursery:
        process: trio.Process = await nursery.start(
            partial(
                trio.run_process,
                command,
                env=chat_environ(config),
                stderr=subprocess.PIPE,
                check=False,
            )
        )
        served = ServeProcess(process, config)
        try:
            yield await served.until_listening(), served
        finally:
            if not served.stopped:
                served.process.kill()  # the test failed before `stop`


def json_lines(log: str) -> list[dict[str, Any]]:
    """Every line of the log, parsed (the test fails on a line that is not JSON)."""
    return [json.loads(line) for line in log.splitlines()]


def entries(log: str, logger: str, message: str) -> list[dict[str, Any]]:
    return [e for e in json_lines(log) if e["logger"] == logger and e["message"] == message]


@pytest.fixture
def sqlite_config(tmp_path: Path) -> Config:
    return server_config(tmp_path, None, log_format="json")


# --- the JSON format ---


async def test_in_json_format_every_line_is_an_object_with_time_level_logger_and_message(
    sqlite_config: Config,
) -> None:
    async with chat_serve(sqlite_config) as (server, served):
        async with http_client(server) as client:
            await client.get("/livez")
        log = await served.stop()
    lines = json_lines(log)
    assert len(lines) >= 3  # listening, the request, shutting down, stopped
    for line in lines:
        assert list(line)[:4] == ["time", "level", "logger", "message"]
        when = datetime.datetime.fromisoformat(line["time"].replace("Z", "+00:00"))
        assert when.utcoffset() == datetime.timedelta(0)
        assert line["time"].endswith("Z")
        assert line["level"] in {"DEBUG", "INFO", "WARNING", "ERROR"}
    assert any(line["message"].startswith("listening on http://") for line in lines)


async def test_an_http_request_is_logged_with_its_route_status_and_milliseconds(
    sqlite_config: Config,
) -> None:
    async with chat_serve(sqlite_config) as (server, served):
        alice = await account(server, "alice")
        async with http_client(server) as client:
            lobby = (await client.get("/rooms", headers=alice.auth)).json()[0]
            response = await client.get(f"/messages/{lobby}?last_id=0", headers=alice.auth)
            missing = await client.get("/no/such/page")
        log = await served.stop()
    assert response.status_code == 200 and missing.status_code == 404
    history, not_found = [
        e
        for e in entries(log, "chat.access.http", "request")
        if e["path"] in (f"/messages/{lobby}", "/no/such/page")
    ]
    assert history["method"] == "GET"
    assert history["route"] == "/messages/<room_id>"
    assert history["status"] == 200
    assert isinstance(history["ms"], float) and 0 < history["ms"] < STEP * 1000
    assert history["address"] == "127.0.0.1"
    assert (not_found["route"], not_found["status"]) == (None, 404)


async def test_a_websocket_connection_closed_by_its_client_is_logged_with_1000(
    sqlite_config: Config,
) -> None:
    async with chat_serve(sqlite_config) as (server, served):
        alice = await account(server, "alice")
        async with open_clients(server) as clients:
            ws = await clients.json("/ws", token=alice.token)
            await trio.sleep(0.2)  # a connection that lasts, so its duration shows
            await ws.ws.aclose()
        log = await served.stop()
    [opened] = entries(log, "chat.access.ws", "WebSocket opened")
    [closed] = entries(log, "chat.access.ws", "WebSocket closed")
    expected = {"address": "127.0.0.1", "path": "/ws", "user": "alice", "user_id": alice.uid}
    assert expected.items() <= opened.items()
    assert expected.items() <= closed.items()
    assert closed["client"] == opened["client"]
    assert closed["code"] == 1000
    assert 200 <= closed["ms"] < STEP * 1000


async def test_a_websocket_connection_closed_by_the_shutdown_is_logged_with_1001(
    sqlite_config: Config,
) -> None:
    async with chat_serve(sqlite_config) as (server, served), open_clients(server) as clients:
        await clients.talker()
        log = await served.stop()
    [opened] = entries(log, "chat.access.ws", "WebSocket opened")
    [closed] = entries(log, "chat.access.ws", "WebSocket closed")
    assert (closed["path"], closed["code"]) == ("/", 1001)
    assert "user" not in opened and "user" not in closed  # it never authenticated


async def test_a_websocket_connection_closed_by_a_revocation_is_logged_with_1008(
    server: Server, clients: Clients, caplog: pytest.LogCaptureFixture
) -> None:
    # In-process (the `server` fixture, both backends): the records themselves are read.
    caplog.set_level(logging.INFO, logger="chat.access")
    alice = await account(server, "alice")
    ws = await clients.json("/ws", token=alice.token)
    async with http_client(server) as client:
        revoked = await client.post("/logout-everywhere", headers=alice.auth)
    assert revoked.status_code == 200
    with pytest.raises(ConnectionClosed), trio.fail_after(STEP):
        await ws.receive()  # the error frame, maybe; then the close
        await ws.receive()
    [record] = await until_logged(caplog, "chat.access.ws", "WebSocket closed")
    assert (record.user, record.code, record.path) == ("alice", 1008, "/ws")


async def until_logged(
    caplog: pytest.LogCaptureFixture, logger: str, message: str
) -> list[logging.LogRecord]:
    """The records of `logger` saying `message`, once there is one: the server logs a
    request or a connection once its side is done, which may be after the client's."""
    with trio.fail_after(STEP):
        # Polling the records: logging tells nobody when it has written one.
        while True:
            found = [r for r in caplog.records if r.name == logger and r.getMessage() == message]
            if found:
                return found
            await trio.sleep(0.01)


async def test_a_user_who_authenticates_on_the_connection_is_named_when_it_closes(
    sqlite_config: Config,
) -> None:
    async with chat_serve(sqlite_config) as (server, served):
        alice = await account(server, "alice")
        async with open_clients(server) as clients:
            await clients.talker(token=alice.token)  # "auth <token>", after the handshake
        log = await served.stop()
    [closed] = entries(log, "chat.access.ws", "WebSocket closed")
    assert (closed["user"], closed["user_id"], closed["code"]) == ("alice", alice.uid, 1000)


async def test_a_refused_websocket_handshake_is_logged_with_its_status(
    sqlite_config: Config,
) -> None:
    async with chat_serve(sqlite_config) as (server, served):
        response = await raw_upgrade(server, "/ws?token=not-a-token")
        log = await served.stop()
    assert status_of(response) == b"401"
    [refused] = entries(log, "chat.access.ws", "WebSocket refused")
    assert (refused["path"], refused["status"], refused["address"]) == ("/ws", 401, "127.0.0.1")
    assert entries(log, "chat.access.ws", "WebSocket opened") == []


async def test_upgrades_turned_away_are_logged_as_counts_not_a_line_each(
    sqlite_config: Config,
) -> None:
    async with chat_serve(sqlite_config.replace(max_handshakes=1)) as (server, served):
        token = (await account(server, "alice")).token
        answers: list[bytes] = []

        async def upgrade() -> None:
            answers.append(status_of(await raw_upgrade(server, f"/ws?token={token}")))

        for _ in range(10):  # crowds until one finds the one slot taken
            async with trio.open_nursery() as crowd:
                for _ in range(20):
                    crowd.start_soon(upgrade)
            if b"503" in answers:
                break
        log = await served.stop()
    assert b"503" in answers
    lines = entries(log, "chat.access.ws", "WebSocket upgrades turned away")
    assert sum(line["count"] for line in lines) == answers.count(b"503")
    assert {(line["status"], line["bound"]) for line in lines} == {(503, 1)}
    assert all(line["retry_after"] >= 1 for line in lines)
    assert entries(log, "chat.access.ws", "WebSocket refused") == []
    assert len(entries(log, "chat.access.ws", "WebSocket opened")) == answers.count(b"101")


# --- the client's address behind a trusted proxy ---


@pytest.fixture
async def proxied(nursery: trio.Nursery, tmp_path: Path) -> Server:
    """A server (in-process) that trusts X-Forwarded-For from 127.0.0.1, as behind nginx."""
    config = server_config(tmp_path, None, trusted_proxies=("127.0.0.1",))
    return await start_server(nursery, config)


async def test_an_http_request_is_logged_with_the_address_a_trusted_proxy_names(
    proxied: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chat.access")
    async with http_client(proxied) as client:
        await client.get("/livez", headers={"X-Forwarded-For": "203.0.113.9"})
    [record] = await until_logged(caplog, "chat.access.http", "request")
    assert record.address == "203.0.113.9"


async def test_a_websocket_connection_is_logged_with_the_address_a_trusted_proxy_names(
    proxied: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chat.access")
    response = await raw_upgrade(proxied, "/", "X-Forwarded-For: 203.0.113.9\r\n")
    assert status_of(response) == b"101"
    [opened] = await until_logged(caplog, "chat.access.ws", "WebSocket opened")
    assert opened.address == "203.0.113.9"


# --- the text format ---


async def test_the_text_format_shows_the_same_fields_readably(tmp_path: Path) -> None:
    config = server_config(tmp_path, None, log_format="text")
    async with chat_serve(config) as (server, served):
        alice = await account(server, "alice")
        async with open_clients(server) as clients:
            await clients.json("/ws", token=alice.token)
        log = await served.stop()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO    "
    assert re.search(
        stamp + r"chat\.access\.http: request method=PUT route=/login path=/login status=200 "
        r"ms=[\d.]+ address=127\.0\.0\.1$",
        log,
        re.MULTILINE,
    ), log
    user = rf"user=alice user_id={alice.uid}"
    assert re.search(
        stamp + rf"chat\.access\.ws: WebSocket opened client=(\d+) address=127\.0\.0\.1 "
        rf"path=/ws {user}$",
        log,
        re.MULTILINE,
    ), log
    assert re.search(
        stamp + rf"chat\.access\.ws: WebSocket closed client=(\d+) address=127\.0\.0\.1 "
        rf"path=/ws {user} code=1000 ms=[\d.]+$",
        log,
        re.MULTILINE,
    ), log


def test_a_text_field_that_is_not_one_plain_word_is_quoted() -> None:
    record = logging.makeLogRecord(
        {"msg": "request", "levelname": "INFO", "name": "chat.access.http"}
    )
    record.path = "/a b\nfake=1"
    line = TextFormatter().format(record)
    assert "\n" not in line
    assert line.endswith(r'path="/a b\nfake=1"')


# --- settings ---


async def test_a_bad_log_format_stops_the_server_naming_the_setting(tmp_path: Path) -> None:
    env = chat_environ(server_config(tmp_path, None), CHAT_LOG_FORMAT="yaml")
    result = await run_chat("serve", env=env)
    assert result.returncode == 2
    assert b"CHAT_LOG_FORMAT" in result.stderr and b"text or json" in result.stderr


# --- what a JSON line carries besides the message ---


def test_a_json_line_carries_the_worker_and_the_exception() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        problem = sys.exc_info()
    record = logging.LogRecord("chat", logging.ERROR, __file__, 1, "failed", None, problem)
    entry = json.loads(JsonFormatter(worker=3).format(record))
    assert entry["worker"] == 3
    assert entry["message"] == "failed"
    assert "Traceback" in entry["exception"] and "ValueError: boom" in entry["exception"]


def test_a_json_field_cannot_overwrite_the_lines_own_keys() -> None:
    record = logging.makeLogRecord({"msg": "hello", "levelname": "INFO", "name": "chat"})
    record.level = "forged"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "INFO"
    assert entry["field_level"] == "forged"


# --- no secrets ---


@pytest.mark.parametrize("log_format", ["json", "text"])
async def test_no_token_or_password_is_ever_logged(config: Config, log_format: str) -> None:
    # At DEBUG, the most the server ever logs. Every way a token or a password reaches
    # the server: HTTP bodies, the Authorization header, ?token= on an upgrade (and on
    # an HTTP URL, which no route reads), TokenTalker's "auth" frame.
    config = config.replace(log_format=log_format, log_level="DEBUG")
    async with chat_serve(config) as (server, served):
        alice = await account(server, "alice")
        async with http_client(server) as client:
            registered = await client.post(
                "/api/reg", json={"username": "bob", "password": PASSWORD}
            )
            bob_token = registered.json()["token"]
            await client.post("/api/login", json={"username": "bob", "password": PASSWORD})
            await client.get(f"/rooms?token={alice.token}", headers=alice.auth)
            await client.get("/rooms", headers={"Authorization": bob_token})
        headed = await raw_upgrade(server, "/ws", f"Authorization: Bearer {bob_token}\r\n")
        assert status_of(headed) == b"101"
        async with open_clients(server) as clients:
            await clients.json("/ws", token=alice.token)
            talker = await clients.talker(token=bob_token, name="bob")
            await talker.say("hello")
            await talker.stored()
        log = await served.stop()
    assert "WebSocket closed" in log and "/api/login" in log  # the session was logged
    if log_format == "json":
        json_lines(log)  # every line, DEBUG ones from every library included
    for secret in (alice.token, bob_token, PASSWORD):
        assert secret not in log
        assert secret.split(".")[-1] not in log  # not even a token's signature
