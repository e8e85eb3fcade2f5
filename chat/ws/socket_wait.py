"""Waiting for a socket to become readable, three coroutine frames shallower than Trio.

An idle WebSocket connection's task waits for its socket for as long as the connection
is open, and every coroutine frame it waits in lives that long. `trio.lowlevel.
wait_readable` waits three calls deep (the generated `wait_readable`, the I/O manager's
`wait_readable` and its `_epoll_wait`), with a closure of four cells to abort the wait:
about 1 KiB on each of 100,000 idle connections. `readable` does what
`_epoll_wait` does, in a plain function that returns Trio's own
`wait_task_rescheduled`, so the task waits directly in that, and its abort is a small
slotted object instead of a closure.

Private parts of Trio used (its epoll I/O manager, Linux; anywhere else, or if the run's
I/O manager is another, `readable` is `trio.lowlevel.wait_readable`): the runner's
`io_manager`, `EpollIOManager._registered` (a `defaultdict` of `EpollWaiters` by file
descriptor), `EpollWaiters.read_task` and `EpollIOManager._update_registrations`.

`wake` ends a task's wait in `readable` early: what Trio's own abort does (the
registration taken back), then `trio.lowlevel.reschedule`, with `WOKEN` for an answer.
An idle session's task waits there outside any nursery, and is woken this way when it
must open one to start a task (`chat.ws.session.client_session`): cheaper than a cancel scope around
the wait, which every idle connection would keep (about 600 bytes).
pyproject.toml pins Trio's range; tests/test_socket_wait.py fails by name if the
installed Trio's `_epoll_wait`, `_update_registrations` or `EpollWaiters` differ from
the ones this was written from, and runs the waits it must do (woken by data, cancelled,
woken by a close, refused while another task waits, woken by `wake`).

Resource handling: between registering the task and the task waiting there is no
checkpoint (the caller awaits what `readable` returns at once), as in `_epoll_wait`;
a wait that is cancelled takes its registration back (`_Abort`), as Trio's does.
"""

from __future__ import annotations

from collections.abc import Awaitable

import outcome
import trio
from trio._core._io_epoll import EpollIOManager, EpollWaiters
from trio._core._run import GLOBAL_RUN_CONTEXT


class _Abort:
    """Trio's abort function for a read wait (`_epoll_wait`'s `abort` closure, as an
    object of three slots): the task no longer waits, and epoll stops watching for it."""

    __slots__ = ("_fd", "_io", "_waiters")

    def __init__(self, io: EpollIOManager, waiters: EpollWaiters, fd: int) -> None:
        self._io = io
        self._waiters = waiters
        self._fd = fd

    def __call__(self, _raise_cancel: object) -> trio.lowlevel.Abort:
        _let_go(self._io, self._waiters, self._fd)
        return trio.lowlevel.Abort.SUCCEEDED


def _let_go(io: EpollIOManager, waiters: EpollWaiters, fd: int) -> None:
    """No task waits to read `fd` any more: epoll stops watching for one (a cancelled
    wait's abort, and `wake`)."""
    waiters.read_task = None
    io._update_registrations(fd)


def readable(sock: trio.socket.SocketType) -> Awaitable[object]:
    """Something to await at once: it returns when `sock` is readable (what
    `trio.lowlevel.wait_readable(sock)` does, with its errors: `trio.BusyResourceError`
    if another task already waits to read it, `trio.ClosedResourceError` if it is
    closed meanwhile, `trio.Cancelled`), or `WOKEN` when `wake` ended the wait."""
    io = GLOBAL_RUN_CONTEXT.runner.io_manager
    if not isinstance(io, EpollIOManager):
        return trio.lowlevel.wait_readable(sock)  # noqa: ASYNC105 (awaited by the caller)
    fd = sock.fileno()
    waiters = io._registered[fd]
    if waiters.read_task is not None:
        raise trio.BusyResourceError("another task is already reading / writing this fd")
    waiters.read_task = trio.lowlevel.current_task()
    io._update_registrations(fd)
    # Awaited by the caller at once: the task waits in Trio's own frame, not in ours.
    return trio.lowlevel.wait_task_rescheduled(_Abort(io, waiters, fd))  # noqa: ASYNC105


def can_wake() -> bool:
    """Whether `wake` can end a wait in `readable` in this run (its I/O manager is
    Trio's epoll one): elsewhere `readable` is Trio's own wait, which nothing but data,
    a close or a cancellation ends."""
    return isinstance(GLOBAL_RUN_CONTEXT.runner.io_manager, EpollIOManager)


#: What `readable` returns when `wake` ended its wait (None: the socket is readable).
WOKEN = object()


def wake(sock: trio.socket.SocketType) -> bool:
    """End the wait of the task waiting in `readable(sock)`: it returns `WOKEN`. False if
    no task waits for `sock` to be readable (it has been woken already, by data or by
    this). Only for a socket whose reads wait in `readable`: a task waiting for it inside
    Trio would just wait again."""
    io = GLOBAL_RUN_CONTEXT.runner.io_manager
    if not isinstance(io, EpollIOManager):
        return False
    fd = sock.fileno()
    waiters = io._registered.get(fd)
    if waiters is None or waiters.read_task is None:
        return False
    task = waiters.read_task
    _let_go(io, waiters, fd)
    trio.lowlevel.reschedule(task, outcome.Value(WOKEN))
    return True
