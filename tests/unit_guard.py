"""The proof that the unit tier is what it says: no network, no database file, no process.

With CHAT_TEST_GUARD_UNIT=1 (tests/conftest.py registers `UnitGuard`), every test of the
`unit` tier is set up and run with these refused:

- a socket of the internet families (AF_INET, AF_INET6) made at all, and `bind`,
  `connect`, `connect_ex`, `listen` and `sendto` on any socket (a Unix socket pair, which
  Trio and asyncio make to wake their loops, is neither bound nor connected by name);
- `socket.getaddrinfo` and `socket.gethostbyname` (a name lookup);
- `sqlite3.connect` of anything but an in-memory database;
- a child process (`subprocess.Popen`: `subprocess.run`, `trio.run_process`... all go
  through it), whose sockets and files this process could not see.

Each refusal raises `NotInTheUnitTier` (an OSError, so that code expecting a socket error
takes its ordinary path) and is remembered: the phase in which it happened fails with the
list, even if the code under test swallowed the error. Other tiers run unguarded, and so
do teardowns: a test's teardown also tears down the wider-scoped fixtures that earlier
tests of other tiers left (the session's PostgreSQL schemas are dropped in the last one).

    CHAT_TEST_GUARD_UNIT=1 pytest -m unit -p no:cacheprovider
"""

from __future__ import annotations

import socket
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest

ENV = "CHAT_TEST_GUARD_UNIT"


class NotInTheUnitTier(OSError):
    """What a guarded unit test gets for touching the network, a database file or a process."""


_INTERNET = (socket.AF_INET, socket.AF_INET6)
_MEMORY = (":memory:", "")


def _describe(args: tuple[Any, ...]) -> str:
    return ", ".join(repr(arg) for arg in args)


class UnitGuard:
    """A pytest plugin: guards the tests marked `unit` (see the module's docstring)."""

    def __init__(self) -> None:
        self._touched: list[str] = []
        self._guarded = 0

    def _refuse(self, what: str) -> NotInTheUnitTier:
        self._touched.append(what)
        return NotInTheUnitTier(f"not in the unit tier: {what}")

    @contextmanager
    def _patched(self) -> Iterator[None]:
        guard = self

        def refusing(name: str) -> Callable[..., Any]:
            def refused(sock: socket.socket, *args: Any, **kwargs: Any) -> Any:
                raise guard._refuse(f"socket.{name}({_describe(args)})")

            return refused

        original_init = socket.socket.__init__

        def init(sock: socket.socket, family: Any = -1, *args: Any, **kwargs: Any) -> None:
            if family in _INTERNET:
                raise guard._refuse(f"an internet socket ({socket.AddressFamily(family)!r})")
            original_init(sock, family, *args, **kwargs)

        def lookup(name: str) -> Callable[..., Any]:
            def refused(*args: Any, **kwargs: Any) -> Any:
                raise guard._refuse(f"socket.{name}({_describe(args)})")

            return refused

        original_connect = sqlite3.connect

        def sqlite_connect(database: Any, *args: Any, **kwargs: Any) -> Any:
            text = str(database)
            if text in _MEMORY or (kwargs.get("uri") and "mode=memory" in text):
                return original_connect(database, *args, **kwargs)
            raise guard._refuse(f"sqlite3.connect({text!r})")

        def popen_init(popen: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
            popen._child_created = False  # type: ignore[attr-defined]  # for Popen.__del__
            raise guard._refuse(f"a child process: {args!r}")

        replaced: list[tuple[Any, str, Any]] = [
            (socket.socket, "__init__", init),
            *(
                (socket.socket, name, refusing(name))
                for name in ("bind", "connect", "connect_ex", "listen", "sendto")
            ),
            (socket, "getaddrinfo", lookup("getaddrinfo")),
            (socket, "gethostbyname", lookup("gethostbyname")),
            (sqlite3, "connect", sqlite_connect),
            (subprocess.Popen, "__init__", popen_init),
        ]
        with ExitStack() as restore:
            for owner, name, replacement in replaced:
                if name in vars(owner):
                    restore.callback(setattr, owner, name, vars(owner)[name])
                else:  # inherited (socket.socket's methods are _socket.socket's)
                    restore.callback(delattr, owner, name)
                setattr(owner, name, replacement)
            yield

    @contextmanager
    def _guarding(self, item: pytest.Item) -> Iterator[None]:
        if item.get_closest_marker("unit") is None:
            yield
        else:
            with self._patched():
                yield

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Iterator[None]:
        with self._guarding(item):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        with self._guarding(item):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report: pytest.TestReport = yield
        if self._touched:
            touched = "\n".join(f"  {what}" for what in dict.fromkeys(self._touched))
            self._touched.clear()
            report.outcome = "failed"
            report.longrepr = f"a unit test touched what the unit tier does not:\n{touched}"
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # Counted from the reports, which pytest-xdist's workers send to the controller.
        if report.when == "teardown" and "unit" in report.keywords:
            self._guarded += 1

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.write_line(
            f"{ENV}=1: {self._guarded} unit tests ran with the network, database files and"
            " child processes refused (one that tried failed)"
        )
