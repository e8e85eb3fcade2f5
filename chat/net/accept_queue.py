"""The connections waiting in a listener's backlog, taken without waiting.

Trio's `SocketListener.accept` takes one connection a call, and each call is a pass of
the scheduler. Under a storm of reconnections a pass runs thousands of tasks, so the
connections would wait in the kernel's backlog, where nothing can answer them: clients
time out there (and the handshake each then sends again is work done twice) while the
bound on handshakes (`chat.net.admission`) has room to answer the excess at once with
503 and Retry-After. `AcceptQueue.take` accepts what the kernel holds without waiting,
through a non-blocking duplicate of the listening socket (Trio's accept has no
non-blocking form).
"""

from __future__ import annotations

import errno
import logging
import os
import socket

import trio

log = logging.getLogger(__name__)

#: What `accept` fails with when the process or the system is out of file descriptors or
#: memory: the listener is fine (the accept loop logs it, waits and goes on).
ACCEPT_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
#: Errors that end one connection in the backlog, not the taking: the next is taken.
#: (Trio's own accept passes over the same ones.)
_GONE_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ("ECONNABORTED", "EPERM", "EPROTO", "ECONNRESET", "ETIMEDOUT")
    if hasattr(errno, name)
)


class AcceptQueue:
    """A listener's backlog, to take without waiting. Owned by the listener's accept
    loop, and closed with the listener, in the same step: the listening socket closes
    only when its last descriptor does, and this one's duplicate is one."""

    def __init__(self, listener: trio.SocketListener) -> None:
        self._listening = listener.socket
        self._duplicate: socket.socket | None = None
        self._closed = False

    def take(self, at_most: int | None = None) -> list[trio.SocketStream]:
        """The connections waiting now, at most `at_most` of them (None: all), each as a
        stream; none if the process is out of descriptors (the accept loop's next
        `accept` meets that error and waits it out)."""
        duplicate = self._open()
        streams: list[trio.SocketStream] = []
        while duplicate is not None and (at_most is None or len(streams) < at_most):
            try:
                accepted, _address = duplicate.accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError as error:
                if error.errno in _GONE_ERRNOS:
                    continue
                if error.errno in ACCEPT_CAPACITY_ERRNOS:
                    break  # left waiting: the accept loop's own accept logs and waits it out
                log.error("could not take a waiting connection: %s", os.strerror(error.errno or 0))
                break
            streams.append(trio.SocketStream(trio.socket.from_stdlib_socket(accepted)))
        return streams

    def close(self) -> None:
        """Close the duplicate (the listener closes its own descriptor). Idempotent."""
        self._closed = True
        if self._duplicate is not None:
            self._duplicate.close()
            self._duplicate = None

    def _open(self) -> socket.socket | None:
        """The duplicate, made on first use (and again after a failure: out of
        descriptors now need not mean out of them later)."""
        if self._duplicate is None and not self._closed:
            listening = self._listening
            try:
                duplicate = socket.fromfd(listening.fileno(), listening.family, listening.type)
            except OSError as error:
                reason = os.strerror(error.errno or 0)
                log.error("could not take the waiting connections: %s", reason)
                return None
            duplicate.setblocking(False)
            self._duplicate = duplicate
        return self._duplicate
