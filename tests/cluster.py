"""Test helpers for several instances: `chat serve` processes on loopback addresses
(127.0.0.2, 127.0.0.3, ...), a Redis of the test's own, nginx in front of them.

Every process is started by the test that uses it, logs to a file in the test's temporary
directory (shown when something fails), and is stopped (SIGTERM, then SIGKILL) when the
test ends.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio
from support import NO_PUSH_SERVICE, TEST_SECRET, Server, chat_environ, in_ci

from chat.core.config import Config

#: How long a process may take to start listening.
START_TIMEOUT = 30.0
#: How long a process gets to stop after SIGTERM before it is killed.
STOP_TIMEOUT = 15.0

LISTENING = re.compile(rb"listening on http://(\S+?):(\d+) ")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def require_program(name: str, package: str | None = None) -> str:
    """The path of an installed program; skips (fails under CI=true) if it is missing.
    `package`: Debian's package that has it, if not named after it."""
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
    )
    if path is None:
        message = f"{name} is not installed (apt-get install {package or name})"
        if in_ci():
            pytest.fail(message + " (CI=true: these tests must run)")
        pytest.skip(message)
    return path


@dataclass
class Process:
    """A process of the test's, logging to `log_path`."""

    process: trio.Process
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    async def stop(self, sig: int = signal.SIGTERM, grace: float = STOP_TIMEOUT) -> int:
        """Signal the process and wait for it (killing it after `grace` s); its exit code."""
        if self.process.returncode is None:
            self.process.send_signal(sig)
            with trio.move_on_after(grace):
                return await self.process.wait()
            self.process.kill()
        return await self.process.wait()


async def start_process(
    command: list[str], log_path: Path, *, env: dict[str, str] | None = None
) -> Process:
    log_file = log_path.open("wb")
    try:
        process = await trio.lowlevel.open_process(
            command, env=env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file
        )
    finally:
        log_file.close()  # the child has its own descriptor
    return Process(process, log_path)


@dataclass
class Instance(Process):
    """One `chat serve` of a cluster, and where it listens."""

    host: str = ""
    port: int = 0
    config: Config = field(default_factory=Config)

    @property
    def server(self) -> Server:
        return Server(self.host, self.port, self.config)


async def wait_for_log(process: Process, pattern: re.Pattern[bytes], what: str) -> re.Match[bytes]:
    """Wait until `process`'s log matches `pattern`; fail with the log if it exits first."""
    with trio.move_on_after(START_TIMEOUT):
        while True:
            match = pattern.search(process.log_path.read_bytes())
            if match is not None:
                return match
            if not process.running:
                break
            await trio.sleep(0.05)
    pytest.fail(f"{what} did not start (exit code {process.process.returncode}):\n{process.log}")


async def start_instance(config: Config, log_path: Path, *args: str) -> Instance:
    """Start `chat serve` with `config` (its port may be 0) and wait until it listens."""
    started = await start_process(
        [sys.executable, "-m", "chat", "serve", *args], log_path, env=chat_environ(config)
    )
    instance = Instance(started.process, log_path, config=config)
    match = await wait_for_log(instance, LISTENING, f"chat serve ({log_path.name})")
    instance.host, instance.port = match.group(1).decode(), int(match.group(2))
    return instance


def instance_config(tmp_path: Path, database_url: str, number: int, **changes: object) -> Config:
    """The configuration of instance `number` of a test cluster: its own loopback address
    (127.0.0.<number + 1>) and data directory; the shared database and secret."""
    return Config(
        host=f"127.0.0.{number + 1}",
        port=0,
        database_url=database_url,
        data_dir=tmp_path / f"instance-{number}",
        jwt_secret=TEST_SECRET,
        bcrypt_cost=4,
        close_timeout=2.0,
        shutdown_timeout=2.0,
        log_level="INFO",
        rate_limits=False,  # as in tests/conftest.py: many users from one address
        # Web Push only ever to loopback (a test's own push service; port 9 refuses):
        # never to the browsers' push services.
        push_hosts=(NO_PUSH_SERVICE,),
    ).replace(**changes)


@asynccontextmanager
async def open_cluster(
    tmp_path: Path,
    database_url: str,
    count: int,
    *,
    bus_url: str | None = None,
    **changes: object,
) -> AsyncIterator[list[Instance]]:
    """`count` instances on one database (and bus), started together; stopped at the end.
    `changes` are settings every instance gets (`instance_config`)."""
    instances: list[Instance | None] = [None] * count

    async def start(number: int) -> None:
        config = instance_config(tmp_path, database_url, number, bus_url=bus_url, **changes)
        log_path = tmp_path / f"instance-{number}.log"
        instances[number - 1] = await start_instance(config, log_path)

    try:
        async with trio.open_nursery() as starting:
            for number in range(1, count + 1):
                starting.start_soon(start, number)
        yield [instance for instance in instances if instance is not None]
    finally:
        with trio.CancelScope(shield=True):
            for instance in instances:
                if instance is not None and instance.running:
                    await instance.stop()
    # Reached only when the test passed: every instance still running then must also
    # have shut down cleanly (SIGTERM drains, exit code 0).
    for instance in instances:
        if instance is not None and instance.process.returncode not in (0, -9):
            pytest.fail(
                f"{instance.log_path.name} exited with {instance.process.returncode}:\n"
                + instance.log
            )


@dataclass
class RedisServer(Process):
    """A redis-server of the test's own, on a spare port (restartable)."""

    port: int = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


async def start_redis(
    tmp_path: Path, port: int | None = None, *, bind: tuple[str, ...] = ("127.0.0.1",)
) -> RedisServer:
    """Start a redis-server on `port` (a free one if None) and the addresses `bind`,
    keeping nothing on disk."""
    program = require_program("redis-server")
    port = port or free_port()
    log_path = tmp_path / f"redis-{port}.log"
    started = await start_process(
        [
            program,
            "--port",
            str(port),
            "--bind",
            *bind,
            # Beyond loopback only on the test's own links (tests/network_faults.py),
            # where nobody else is: no password needed there.
            *(["--protected-mode", "no"] if bind != ("127.0.0.1",) else []),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        log_path,
    )
    server = RedisServer(started.process, log_path, port=port)
    await wait_for_log(server, re.compile(rb"Ready to accept connections"), "redis-server")
    return server


@asynccontextmanager
async def running_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = await start_redis(tmp_path)
    try:
        yield server
    finally:
        with trio.CancelScope(shield=True):
            await server.stop()


ROOT = Path(__file__).resolve().parent.parent
#: The nginx configuration the repository ships (docs/DEPLOYMENT.md): the site, and the
#: main configuration that includes it.
NGINX_SITE = ROOT / "deploy" / "nginx" / "chat.conf"
NGINX_MAIN = ROOT / "deploy" / "nginx" / "nginx.conf"


def upstream_keepalive_s() -> float:
    """How long the shipped site's nginx keeps an idle connection to an instance (its
    upstream's ``keepalive_timeout``): a drain must outlast it (docs/DEPLOYMENT.md)."""
    found = re.findall(r"^    keepalive_timeout (\d+)s;$", NGINX_SITE.read_text(), flags=re.M)
    assert len(found) == 1, "deploy/nginx/chat.conf's upstream has no keepalive_timeout"
    return float(found[0])


@dataclass
class Nginx(Process):
    """Debian's nginx, running the repository's site file in front of test instances."""

    port: int = 0

    @property
    def server(self) -> Server:
        return Server("127.0.0.1", self.port, Config())


def nginx_site(upstreams: list[tuple[str, int]], port: int, access_log: Path | None = None) -> str:
    """deploy/nginx/chat.conf with the test's instances, listening port and access log
    (if given) in it."""
    site = NGINX_SITE.read_text()
    servers = re.findall(r"^    server 127\.0\.0\.1:\d+ (.*);$", site, flags=re.MULTILINE)
    assert servers, "deploy/nginx/chat.conf lists no upstream servers"
    options = servers[0]
    listed = "".join(f"    server {host}:{p} {options};\n" for host, p in upstreams)
    site, replaced = re.subn(
        r"(?:^    server 127\.0\.0\.1:\d+ .*;\n)+", listed, site, count=1, flags=re.MULTILINE
    )
    assert replaced == 1
    site, replaced = re.subn(r"^    listen 80;$", f"    listen 127.0.0.1:{port};", site, flags=re.M)
    assert replaced == 1, "deploy/nginx/chat.conf does not listen on port 80"
    # IPv6 too in production; a test machine may have no IPv6 at all.
    site, replaced = re.subn(r"^    listen \[::\]:80;\n", "", site, flags=re.M)
    assert replaced == 1, "deploy/nginx/chat.conf does not listen on IPv6"
    if access_log is not None:
        site, replaced = re.subn(
            r"^    access_log /var/log/nginx/access\.log ",
            f"    access_log {access_log} ",
            site,
            flags=re.M,
        )
        assert replaced == 1, "deploy/nginx/chat.conf does not write /var/log/nginx/access.log"
    return site


def nginx_main(home: Path, site: Path) -> str:
    """deploy/nginx/nginx.conf with everything it writes in `home` (pid, logs, temporary
    files) and `site` as its only site."""
    main = NGINX_MAIN.read_text()
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp_paths = "".join(
        f"    {kind}_temp_path {home / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    replacements = [
        (r"^user www-data;\n", user),
        (r"^pid /run/nginx\.pid;$", f"pid {home / 'nginx.pid'};"),
        (r"^error_log /var/log/nginx/error\.log;$", f"error_log {home / 'error.log'} info;"),
        (r"/var/log/nginx/access\.log", str(home / "http-access.log")),
        (r"^    include /etc/nginx/conf\.d/\*\.conf;$", f"{temp_paths}    include {site};"),
    ]
    for pattern, replacement in replacements:
        main, replaced = re.subn(pattern, replacement.replace("\\", "\\\\"), main, flags=re.M)
        assert replaced == 1, f"deploy/nginx/nginx.conf has no {pattern}"
    return main


async def start_nginx(tmp_path: Path, upstreams: list[tuple[str, int]]) -> Nginx:
    """nginx on a free port of 127.0.0.1 in front of `upstreams`, with the shipped main
    configuration and site, everything it writes kept in `tmp_path`."""
    program = require_program("nginx")
    home = tmp_path / "nginx"
    home.mkdir()
    port = free_port()
    (home / "chat.conf").write_text(nginx_site(upstreams, port, home / "access.log"))
    (home / "nginx.conf").write_text(nginx_main(home, home / "chat.conf"))
    started = await start_process(
        [program, "-p", str(home), "-c", str(home / "nginx.conf"), "-g", "daemon off;"],
        tmp_path / "nginx.log",
    )
    nginx = Nginx(started.process, started.log_path, port=port)
    with trio.move_on_after(START_TIMEOUT):
        while nginx.running:
            try:
                stream = await trio.open_tcp_stream("127.0.0.1", port)
            except OSError:
                await trio.sleep(0.05)
                continue
            await stream.aclose()
            return nginx
    error_log = (home / "error.log").read_text() if (home / "error.log").exists() else ""
    pytest.fail(f"nginx did not start:\n{nginx.log}\n{error_log}")


_ALL_LISTENING = re.compile(rb"listening on http://(\S+?):(\d+) and \S+ with (\d+) workers")
_WORKER_STARTED = re.compile(rb"worker (\d+) started \(pid (\d+)\)")


class Workers:
    """A running `chat serve --workers N` and what its log says."""

    def __init__(self, supervisor: Process, server: Server) -> None:
        self.supervisor = supervisor
        self.server = server

    def pids(self) -> dict[int, int]:
        """The newest pid of each worker, by worker number."""
        return {
            int(number): int(pid)
            for number, pid in _WORKER_STARTED.findall(self.supervisor.log_path.read_bytes())
        }


@asynccontextmanager
async def open_workers(
    tmp_path: Path, database_url: str, count: int = 2, **changes: object
) -> AsyncIterator[Workers]:
    """`chat serve --workers count` on `database_url`, with `changes` to the settings of
    a test instance (`instance_config`); stopped at the end."""
    config = instance_config(tmp_path, database_url, 1, workers=count, **changes)
    supervisor = await start_process(
        [sys.executable, "-m", "chat", "serve"],
        tmp_path / "supervisor.log",
        env=chat_environ(config),
    )
    try:
        match = await wait_for_log(supervisor, _ALL_LISTENING, f"chat serve --workers {count}")
        assert int(match.group(3)) == count
        server = Server(match.group(1).decode(), int(match.group(2)), config)
        yield Workers(supervisor, server)
    finally:
        with trio.CancelScope(shield=True):
            await supervisor.stop()
