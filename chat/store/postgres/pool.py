"""The store's connections to PostgreSQL: a pool of asyncpg connections of its own.

Why not asyncpg's `Pool`: callers already queue in Trio, first come first served, for a
connection's worth of capacity (`chat.store.connection_slots`), so an operation that
reaches the asyncio loop always finds a connection free or room to open one. asyncpg's
pool would queue it again, shield each release in a task of its own and arm an idle timer
per release: about 50 us of the server's CPU a query through the bridge, a sixth of a
point read's (docs/PERFORMANCE.md, "The trio-asyncio bridge"). Here taking a connection
and giving it back are a list's pop and append.

What it keeps of asyncpg's pool: at most `size` connections, opened when a caller needs
one (so nothing reconnects in the background while the database is away); a connection
found closed (the server went away, an operator terminated it) is replaced on its next
use; one given back unclean (a statement given up on, whose cancellation may still be
under way, or a transaction left open) is reset before anyone else gets it, and
terminated if the reset fails or outlasts the grace; a connection idle for
`IDLE_LIFETIME_S` is closed as others come back, so a pool opened wide at a peak narrows
again. Idle connections are taken newest first, so the oldest are the ones that age out.

Resource handling: the pool owns every connection it opened. `close` closes the idle ones
gracefully and terminates any other (a reset under way); `terminate` ends them all at
once. Everything here runs on the asyncio loop (trio-asyncio's, on the Trio thread).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("chat.store")

#: How long a connection may sit idle before it is closed (asyncpg's pool's default).
IDLE_LIFETIME_S = 300.0


class ConnectionPool:
    """Up to `size` asyncpg connections, each lent to one operation at a time."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[Any]],
        size: int,
        *,
        reset_grace_s: float,
        idle_lifetime_s: float = IDLE_LIFETIME_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self.size = size
        self._reset_grace_s = reset_grace_s
        self._idle_lifetime_s = idle_lifetime_s
        self._clock = clock
        #: Idle connections and when each came back, the oldest on the left.
        self._idle: deque[tuple[Any, float]] = deque()
        #: Every connection open (idle, lent or being reset), and how many are opening.
        self._open: set[Any] = set()
        self._opening = 0
        #: Set when a connection or a place for one frees up, for callers that found none.
        self._freed: asyncio.Event | None = None

    @property
    def open_count(self) -> int:
        """Connections open now, idle or not."""
        return len(self._open)

    async def acquire(self) -> Any:
        """A connection for the caller alone until it gives it back (`release`): an idle
        one, else a new one. Raises what connecting raises (the database is away)."""
        while True:
            while self._idle:
                connection, _ = self._idle.pop()
                if not connection.is_closed():
                    return connection
                self._forget(connection)
            if len(self._open) + self._opening < self.size:
                return await self._open_one()
            # Every connection is lent or being reset. Callers are admitted one per
            # connection, so this happens only while a reset is under way.
            if self._freed is None:
                self._freed = asyncio.Event()
            await self._freed.wait()

    async def _open_one(self) -> Any:
        self._opening += 1
        try:
            connection = await self._connect()
        except BaseException:
            self._wake()  # the place this caller held is free again
            raise
        finally:
            self._opening -= 1
        self._open.add(connection)
        return connection

    async def release(
        self, connection: Any, *, clean: bool, before_reuse: Callable[[], None]
    ) -> None:
        """Take back `connection`. `clean`: no statement on it was given up on (it was
        neither cancelled nor timed out). `before_reuse` runs once the connection is
        done with, before anyone else can get it. Raises only a cancellation of its own:
        a connection that cannot be made clean is terminated, and the caller is already
        reporting what went wrong."""
        if clean and not connection.is_closed() and not connection.is_in_transaction():
            before_reuse()
            self._give_back(connection)
            return
        if not connection.is_closed():
            try:
                async with asyncio.timeout(self._reset_grace_s):
                    # A statement waits for a cancellation under way to finish; only then
                    # does the connection know whether a transaction is open (a COMMIT
                    # cut short may have ended it or not). ROLLBACK ends whatever is
                    # (the server merely notes it when nothing is); `reset` then clears
                    # asyncpg's own state and the session's.
                    await connection.execute("ROLLBACK")
                    await connection.reset()
            except Exception as error:
                log.info("closing a database connection that could not be reset: %r", error)
                connection.terminate()
            except asyncio.CancelledError:
                # Cancelled itself (the loop is closing): end it, free its place, go on
                # being cancelled.
                before_reuse()
                self._forget(connection)
                raise
        before_reuse()
        if connection.is_closed():
            self._forget(connection)
        else:
            self._give_back(connection)

    def _give_back(self, connection: Any) -> None:
        now = self._clock()
        self._idle.append((connection, now))
        while self._idle[0][1] < now - self._idle_lifetime_s:
            # Idle, nothing pending: no need to wait for the server to say goodbye.
            self._forget(self._idle.popleft()[0])
        self._wake()

    def _forget(self, connection: Any) -> None:
        """End `connection` (or, closed already, finish asyncpg's clean-up of it) and free
        its place."""
        connection.terminate()
        self._open.discard(connection)
        self._wake()

    def _wake(self) -> None:
        if self._freed is not None:
            self._freed.set()
            self._freed = None

    async def close(self) -> None:
        """Close the idle connections gracefully and terminate the rest. The caller
        bounds it (and calls `terminate` if it runs out)."""
        while self._idle:
            connection, _ = self._idle.popleft()
            try:
                await connection.close()
            except BaseException:
                connection.terminate()
                raise
            finally:
                self._open.discard(connection)
        self.terminate()

    def terminate(self) -> None:
        """End every connection at once."""
        self._idle.clear()
        for connection in self._open:
            connection.terminate()
        self._open.clear()
