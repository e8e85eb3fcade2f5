"""`chat serve --workers N`: N server processes on one port, under one supervisor.

One Trio process uses one core. To use more on one machine, run several: each worker is
a complete `chat serve` (its own event loop, database pool, bus connection and
broadcaster) listening on the same port with SO_REUSEPORT, so the kernel spreads new
connections across them, and PostgreSQL's bus makes them one chat exactly as separate
machines would be. That is why workers need PostgreSQL.

The supervisor serves nothing itself. It starts the workers, reports the address once
every one of them listens, restarts a worker that dies (logging how it died), and on
SIGTERM or SIGINT asks each one to drain (SIGTERM: each drains for CHAT_DRAIN_SECONDS,
`chat.server.drain`, then closes its clients with 1001 and answers its HTTP requests in flight)
and waits for them all; a second signal is passed on to them, and each stops at once.

Task tree (`Supervisor.run`):

    Supervisor.run
    └── nursery                  ends only by cancellation (or a worker failing to start)
        ├── Worker(1).run        starts worker 1 and waits for it; restarts it if it dies
        ├── ...
        └── Worker(N).run

Each `Worker.run` owns one child process at a time and two pipes to it: the child writes
"ready" into one once it listens (``--ready-fd``); it reads the other (``--lifeline-fd``),
which only the supervisor could write to and never does, so the child sees end-of-file
exactly when the supervisor is gone, however it went, and drains by itself rather than
serving on as an orphan. Children run in their own session, so a Ctrl-C in a terminal
reaches the supervisor only, which then stops them in order.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from typing import NoReturn

import trio

from chat.core.config import Config, to_environ
from chat.core.errors import ChatError
from chat.net.front_door import format_address

log = logging.getLogger(__name__)

#: A worker that dies is restarted after this long, doubling while it keeps dying soon
#: after starting, up to `RESTART_MAX_S`.
RESTART_FIRST_S = 0.5
RESTART_MAX_S = 30.0
#: A worker that ran this long before dying is restarted after `RESTART_FIRST_S` again.
HEALTHY_AFTER_S = 30.0


class WorkerFailed(ChatError):
    """A worker exited before it was ready (it logged why): the server cannot start."""


def _reserve_port(host: str) -> socket.socket:
    """A socket bound to a free port with SO_REUSEPORT, not listening: it keeps the port
    ours while the workers bind it too (for ``--port 0``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    probe = socket.socket(family, socket.SOCK_STREAM)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        probe.bind((host, 0))
    except BaseException:
        probe.close()
        raise
    return probe


class Worker:
    """One worker slot: the process in it now, and what to do when it ends."""

    def __init__(self, number: int, environ: dict[str, str], stop_timeout: float) -> None:
        self.number = number
        self._environ = environ
        self._stop_timeout = stop_timeout
        #: The exit code of the last process, once it has exited (negative: a signal).
        self.exit_code: int | None = None
        self._process: trio.Process | None = None

    def stop_at_once(self) -> None:
        """Send the running process a second SIGTERM, which stops it at once (after the
        first, it was draining: `chat.server.cli`)."""
        if self._process is not None and self._process.returncode is None:
            self._process.send_signal(signal.SIGTERM)

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Run the worker; report started once its first process listens; restart it
        whenever it dies. Raises `WorkerFailed` if the first process dies before it is
        ready. Runs until cancelled, then stops the process gracefully."""
        delay = RESTART_FIRST_S
        first = True
        while True:
            began = trio.current_time()
            ready = await self._run_process(task_status if first else None)
            if first and not ready:
                raise WorkerFailed(
                    f"worker {self.number} exited with code {self.exit_code} before it was "
                    "ready (its log above says why)"
                )
            first = False
            if trio.current_time() - began >= HEALTHY_AFTER_S:
                delay = RESTART_FIRST_S
            log.error(
                "worker %d exited with %s; restarting it in %.1f s",
                self.number,
                _describe_exit(self.exit_code),
                delay,
            )
            await trio.sleep(delay)
            delay = min(delay * 2, RESTART_MAX_S)

    async def _run_process(self, task_status: trio.TaskStatus[None] | None) -> bool:
        """Run one process of this worker until it exits; True if it became ready."""
        ready_read, ready_write = os.pipe()
        lifeline_read, lifeline_write = os.pipe()
        command = [
            sys.executable,
            "-m",
            "chat",
            "serve",
            "--worker",
            str(self.number),
            "--ready-fd",
            str(ready_write),
            "--lifeline-fd",
            str(lifeline_read),
        ]
        try:
            process = await trio.lowlevel.open_process(
                command,
                env=self._environ,
                pass_fds=(ready_write, lifeline_read),
                start_new_session=True,
            )
        except BaseException:
            for fd in (ready_read, lifeline_write):
                os.close(fd)
            raise
        finally:
            # The child has its copies; ours would keep the pipes from ever reporting EOF.
            os.close(ready_write)
            os.close(lifeline_read)
        log.info("worker %d started (pid %d)", self.number, process.pid)
        self._process = process
        ready = False
        try:
            async with trio.lowlevel.FdStream(ready_read) as ready_pipe:
                ready = await _read_ready(ready_pipe)
            if ready and task_status is not None:
                task_status.started()
            self.exit_code = await process.wait()
        finally:
            # Reached on cancellation (shutdown) too: the worker must not outlive us.
            with trio.CancelScope(shield=True):
                self.exit_code = await self._stop(process)
            os.close(lifeline_write)
        return ready

    async def _stop(self, process: trio.Process) -> int:
        """Ask the process to drain (SIGTERM), give it its shutdown time, then kill it."""
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            with trio.move_on_after(self._stop_timeout):
                return await process.wait()
            log.warning(
                "worker %d did not stop in %.0f s: killing it", self.number, self._stop_timeout
            )
            process.kill()
        return await process.wait()


async def _read_ready(stream: trio.lowlevel.FdStream) -> bool:
    """True once the child wrote "ready"; False if it closed the pipe (or died) first."""
    received = b""
    while b"ready" not in received:
        chunk = await stream.receive_some(64)
        if not chunk:
            return False
        received += chunk
    return True


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


class Supervisor:
    """Runs `count` workers of the configured server and knows how they ended."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self.workers: list[Worker] = []

    def stop_at_once(self) -> None:
        """Pass a second signal on to every worker: each stops at once."""
        for worker in self.workers:
            worker.stop_at_once()

    @property
    def clean_exit(self) -> bool:
        """True if every worker's last process exited with code 0 (drained cleanly)."""
        return all(worker.exit_code == 0 for worker in self.workers)

    async def run(
        self, *, task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Start every worker, report the address once all listen, keep them running.
        Runs until cancelled, then stops them all gracefully."""
        config = self._config
        probe = _reserve_port(config.host) if config.port == 0 else None
        try:
            port = probe.getsockname()[1] if probe is not None else config.port
            # Every worker gets the same settings, fixed here: the port (even for port
            # 0), so that they are one chat. Workers run on PostgreSQL, so without
            # CHAT_JWT_SECRET they all read the one key the database keeps (signing_key).
            worker_config = config.replace(port=port, workers=1)
            environ = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
            environ.update(to_environ(worker_config))
            stop_timeout = (
                config.drain_seconds
                + config.shutdown_timeout
                + config.close_timeout
                + config.write_timeout
                + 5.0
            )
            self.workers = [
                Worker(number, environ, stop_timeout) for number in range(1, config.workers + 1)
            ]
            # Holds one task per worker; none returns, so it ends by cancellation.
            async with trio.open_nursery() as nursery:
                # Started together (each `start` returns once its worker listens); the
                # starting nursery only waits for all of them to be ready.
                async with trio.open_nursery() as starting:
                    for worker in self.workers:
                        starting.start_soon(nursery.start, worker.run)
                where = format_address((config.host, port))
                log.info(
                    "listening on http://%s and ws://%s/ with %d workers",
                    where,
                    where,
                    len(self.workers),
                )
                task_status.started((config.host, port))
        finally:
            if probe is not None:
                probe.close()
        raise AssertionError("the workers' tasks only end by cancellation")
