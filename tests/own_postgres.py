"""A PostgreSQL server of a test's own, which the test may stop, crash, pause and restart.

The shared test database (CHAT_TEST_DATABASE_URL) must never be stopped: other tests use
it at the same time. A test of database faults starts a server of its own instead: a
copy of a data directory made once per test session with ``initdb`` (`PostgresTemplate`),
on a free port, started and stopped with ``pg_ctl``, its readiness checked with
``pg_isready``.

PostgreSQL refuses to run as root. When the tests run as root, every server command runs
as the ``postgres`` user (``runuser``), in a directory that user owns. That cannot be
pytest's ``tmp_path``, which lies under a directory only root may enter (mode 0700), so
it is a temporary directory of its own, removed at the end.

Without the PostgreSQL server binaries (/usr/lib/postgresql/*/bin) the tests are skipped,
or fail under CI=true, like `support.postgres_url_or_skip`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
from support import in_ci

#: Starting, stopping or copying a server on a busy two-core machine.
SLOW_STEP = 60.0

#: Settings for a small, fast, throwaway server: TCP on loopback only, no Unix socket,
#: no fsync (a crash of the server process still loses nothing committed: the kernel has
#: the data; only a crash of the machine would).
_SETTINGS = """
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
full_page_writes = off
shared_buffers = 16MB
max_connections = 40
"""


def _bin_dir_or_skip() -> Path:
    """The newest installed PostgreSQL's bin directory; skips (fails under CI) without."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    if on_path is not None:
        return Path(on_path).parent
    _skip("the PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    raise AssertionError("unreachable")


def _skip(reason: str) -> None:
    message = f"{reason}; tests with a PostgreSQL of their own need them"
    if in_ci():
        pytest.fail(message + " (CI=true: these tests must run)")
    pytest.skip(message)


def _as_server_user() -> list[str]:
    """The prefix that runs a server command as a user PostgreSQL accepts."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        _skip("running as root, and there is no postgres user to run PostgreSQL as")
    runuser = shutil.which("runuser")
    if runuser is None:
        _skip("running as root, and runuser is missing")
    return [str(runuser), "-u", "postgres", "--"]


def _give_to_server_user(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class PostgresTemplate:
    """A data directory made by initdb, copied for every test (a copy is much faster)."""

    bin_dir: Path
    root: Path  # owned by the server user; holds the template and every test's copy
    data_dir: Path
    as_server_user: list[str]


@contextlib.contextmanager
def postgres_template() -> Iterator[PostgresTemplate]:
    """initdb into a new temporary directory; removes it (and every copy) at the end."""
    bin_dir = _bin_dir_or_skip()
    prefix = _as_server_user()
    root = Path(tempfile.mkdtemp(prefix="chat-own-postgres-"))
    try:
        _give_to_server_user(root)
        data_dir = root / "template"
        subprocess.run(
            [
                *prefix,
                str(bin_dir / "initdb"),
                "--pgdata",
                str(data_dir),
                "--username",
                "postgres",
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
            cwd=root,
            check=True,
            capture_output=True,
            timeout=SLOW_STEP,
        )
        with open(data_dir / "postgresql.conf", "a") as conf:
            conf.write(_SETTINGS)
        yield PostgresTemplate(bin_dir, root, data_dir, prefix)
    finally:
        shutil.rmtree(root, ignore_errors=True)


class OwnPostgres:
    """One test's PostgreSQL server. Create it with `own_postgres`."""

    def __init__(self, template: PostgresTemplate, data_dir: Path, port: int) -> None:
        self._template = template
        self.data_dir = data_dir
        self.port = port
        self._log = data_dir.parent / f"{data_dir.name}.log"
        self._paused: list[int] = []
        #: Where it listens: loopback, and the addresses `listen_also` adds.
        self.listen_addresses = ["127.0.0.1"]

    def url(self, user: str = "postgres", database: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    async def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        template = self._template
        with trio.fail_after(SLOW_STEP):
            return await trio.run_process(
                [*template.as_server_user, str(template.bin_dir / command[0]), *command[1:]],
                cwd=template.root,
                capture_stdout=True,
                capture_stderr=True,
                check=check,
            )

    async def _pg_ctl(self, action: str, *options: str, check: bool = True) -> None:
        await self._run("pg_ctl", action, "--pgdata", str(self.data_dir), *options, check=check)

    async def start(self) -> None:
        """Start the server and return once it accepts connections."""
        options = f"-p {self.port} -c listen_addresses={','.join(self.listen_addresses)}"
        await self._pg_ctl("start", "--no-wait", "--log", str(self._log), "-o", options)
        await self.wait_until("accepting connections")

    async def listen_also(self, addresses: list[str], clients: str) -> None:
        """Listen on `addresses` too, and trust connections from the network `clients`
        (tests/network_faults.py's links); restarts the server."""
        hba = trio.Path(self.data_dir / "pg_hba.conf")
        await hba.write_text(await hba.read_text() + f"host all all {clients} trust\n")
        self.listen_addresses += addresses
        await self.stop()
        await self.start()

    async def stop(self, mode: str = "fast") -> None:
        """Stop it and return once it has stopped: ``fast`` ends every session and shuts
        down cleanly; ``immediate`` kills everything, as a crash would (the next start
        recovers from the write-ahead log)."""
        await self._pg_ctl("stop", "--mode", mode, "--wait")

    async def begin_stop(self, mode: str = "smart") -> None:
        """Ask it to stop, without waiting. ``smart`` waits for every session to end, and
        refuses new connections meanwhile ("the database system is shutting down")."""
        await self._pg_ctl("stop", "--mode", mode, "--no-wait")

    async def status(self) -> str:
        """What pg_isready says: "accepting connections", "rejecting connections" (it
        is starting or stopping), or "no response"."""
        result = await self._run(
            "pg_isready", "--host", "127.0.0.1", "--port", str(self.port), check=False
        )
        return result.stdout.decode().partition(" - ")[2].strip()

    async def wait_until(self, status: str) -> None:
        with trio.fail_after(SLOW_STEP):
            # Polling: the server tells nobody when its state changes.
            while await self.status() != status:  # noqa: ASYNC110
                await trio.sleep(0.05)

    def pause(self) -> None:
        """Freeze every process of the server (SIGSTOP): it holds its connections and
        answers nothing, like a hung machine. `resume` thaws it."""
        postmaster = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        # The postmaster first, so that it starts no new process meanwhile.
        for pid in [postmaster, *_children(postmaster)]:
            os.kill(pid, signal.SIGSTOP)
            self._paused.append(pid)

    def resume(self) -> None:
        while self._paused:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._paused.pop(), signal.SIGCONT)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """`pause` for the block; thawed on the way out, whatever happened in it."""
        self.pause()
        try:
            yield
        finally:
            self.resume()


def _children(parent: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # "pid (comm) state ppid ...": comm may contain spaces, so split after ")".
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[1]) == parent:
                children.append(int(stat.parent.name))
    return children


@asynccontextmanager
async def own_postgres(template: PostgresTemplate) -> AsyncIterator[OwnPostgres]:
    """A running server of the test's own (a copy of `template`, on a free port); stopped
    and removed at the end, whatever state the test left it in."""
    data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=template.root))
    _give_to_server_user(data_dir)
    with trio.fail_after(SLOW_STEP):
        await trio.run_process(
            [*template.as_server_user, "cp", "-a", f"{template.data_dir}/.", str(data_dir)],
            cwd=template.root,
            capture_stderr=True,
        )
    server = OwnPostgres(template, data_dir, _free_port())
    try:
        await server.start()
        yield server
    finally:
        with trio.CancelScope(shield=True):
            server.resume()
            await server._pg_ctl("stop", "--mode", "immediate", "--wait", check=False)
            shutil.rmtree(data_dir, ignore_errors=True)
