"""Asking whether the database answers, for /readyz: one question at a time, each answered
within a bound however the database fails.

A load balancer asks every few seconds, several of them, on every instance. Pinging the
database from each request has two problems when the database hangs (a frozen machine, a
network partition): a cancelled PostgreSQL query is cancelled on the server too, which
waits for a server that answers nothing, so the request took the store's own timeouts
(about 17 s) instead of the health check's 2; and every such request held a pool
connection meanwhile. So one task, `DatabaseProbe.run`, asks the database; a caller
waits for the question under way (or starts one), and stops waiting after its timeout,
which is instant: it only waits on an event.
"""

from __future__ import annotations

import logging
from typing import NoReturn

import trio

from chat.core.errors import Unavailable
from chat.store import Operations

log = logging.getLogger(__name__)

#: How long a health check waits for the database's answer.
HEALTH_TIMEOUT_S = 2.0
#: How long the probe waits for one ping before it gives up on it (see `run`).
PING_TIMEOUT_S = 2 * HEALTH_TIMEOUT_S


class _Question:
    """One ping of the database, and every caller waiting for its answer."""

    __slots__ = ("answered", "ok")

    def __init__(self) -> None:
        self.answered = trio.Event()
        self.ok = False


class DatabaseProbe:
    """Pings the database on behalf of health checks, one ping at a time."""

    def __init__(self, store: Operations, *, timeout: float = HEALTH_TIMEOUT_S) -> None:
        self._store = store
        self._timeout = timeout
        # The probe object holds the send end (`database_answers`); `run` the receive end.
        # One question is outstanding at most, so the channel is never full.
        self._questions_send, self._questions_receive = trio.open_memory_channel[_Question](1)
        self._pending: _Question | None = None

    async def database_answers(self) -> bool:
        """True if the database answers within the probe's timeout. Joins the ping under
        way, if any, else asks for one."""
        question = self._pending
        if question is None:
            question = self._pending = _Question()
            self._questions_send.send_nowait(question)
        with trio.move_on_after(self._timeout):
            await question.answered.wait()
        return question.ok

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Answer the questions, one ping each, in order. Runs until cancelled."""
        async with self._questions_receive:
            task_status.started()
            async for question in self._questions_receive:
                try:
                    # Bounded here too, though the callers have stopped waiting long
                    # before (`database_answers`): a ping whose reply a partition lost
                    # is answered only at TCP's next retransmission, seconds after the
                    # network heals. Given up, its connection is dropped (the store's
                    # `CANCEL_GRACE_S`), and the next question goes on a fresh one.
                    with trio.move_on_after(PING_TIMEOUT_S):
                        await self._store.ping()
                        question.ok = True
                    if not question.ok:
                        log.warning("readiness check: no answer within %g s", PING_TIMEOUT_S)
                except Unavailable as error:
                    log.warning("readiness check: %s", error)
                finally:
                    # Before the event: a caller that comes after the answer asks anew.
                    self._pending = None
                    question.answered.set()
        raise AssertionError("the probe owns the send end, which is never closed")
