"""The signed requests to slash commands' and outgoing webhooks' receivers, each run as a
task of this service's nursery, so that no sender's connection waits for a receiver.

A request (`send`) POSTs the JSON payload with ``X-Chat-Timestamp`` and
``X-Chat-Signature`` (chat/core/room_commands.py says how it is signed) through the
instance's guarded client (`chat.net.outbound`: the resolved address is checked when
connecting, private ones refused unless listed in `CHAT_WEBHOOK_HOSTS`, redirects never
followed). Each attempt has `CHAT_WEBHOOK_TIMEOUT` seconds; an answer is at most
`MAX_ANSWER_BYTES`. A 5xx answer or a connection that fails is tried again, `ATTEMPTS`
times in all, after `BACKOFF_S` then twice that; a timeout, a refused address and a 4xx
are not (each would fail again, or make a slow receiver slower). What fails is
`CallFailed`, in words safe to show the caller (never the secret, never the URL's query).

Resource handling: at most `AT_ONCE` requests run at once (a `trio.CapacityLimiter`);
at most `MAX_QUEUED` jobs are held, running or waiting for the limiter: past it `start`
refuses at once (the caller hears so), so a burst of commands costs bounded memory.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import trio

from chat.core.room_commands import MAX_ANSWER_BYTES, signature
from chat.net.outbound import Answer, OutboundError, OutboundHttp, RefusedAddress

log = logging.getLogger(__name__)

#: Requests to receivers running at once, per instance.
AT_ONCE = 16
#: Jobs held at once (running or waiting), per instance.
MAX_QUEUED = 256
#: Attempts of one request, and the wait before the second (doubled before the third).
ATTEMPTS = 3
BACKOFF_S = 0.5


class CallFailed(Exception):
    """A receiver gave no answer to use; says why, in words safe to show the caller."""


class CommandCalls:
    """Runs the jobs that call receivers, bounded, in its own nursery."""

    def __init__(self, http: OutboundHttp, *, timeout_s: float) -> None:
        self._http = http
        self.timeout_s = timeout_s
        self._limiter = trio.CapacityLimiter(AT_ONCE)
        self._nursery: trio.Nursery | None = None
        #: Jobs started and not yet finished.
        self.held = 0

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Hold the jobs' nursery. Runs until cancelled."""
        # Holds one task per job `start` accepted; cancelled with the server, which
        # cancels the jobs in flight (a command's caller then hears nothing more).
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                self._nursery = None
        raise AssertionError("sleep_forever returned")

    def start(self, job: Callable[[], Awaitable[None]]) -> bool:
        """Run `job` in the nursery, once one of the `AT_ONCE` slots is free; False when
        `MAX_QUEUED` jobs are held already, or the service is not running."""
        if self._nursery is None or self.held >= MAX_QUEUED:
            return False
        self.held += 1
        self._nursery.start_soon(self._run_job, job)
        return True

    async def _run_job(self, job: Callable[[], Awaitable[None]]) -> None:
        try:
            async with self._limiter:
                await job()
        except Exception:
            # One job's failure must not end the others, nor the server: logged.
            log.exception("a slash command or outgoing webhook job failed")
        finally:
            self.held -= 1

    async def send(self, url: str, secret: str, payload: dict[str, Any]) -> Answer:
        """POST `payload`, signed, to `url`: the 2xx answer, or `CallFailed` once the
        attempts are spent (see the module's docstring for which failures are retried)."""
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        problem = "it gave no answer"
        for attempt in range(ATTEMPTS):
            if attempt:
                await trio.sleep(BACKOFF_S * 2 ** (attempt - 1))
            timestamp = str(int(time.time()))
            headers = [
                ("Content-Type", "application/json"),
                ("X-Chat-Timestamp", timestamp),
                ("X-Chat-Signature", signature(secret, timestamp, body)),
            ]
            with trio.move_on_after(self.timeout_s) as deadline:
                try:
                    answer = await self._http.request(
                        "POST", url, headers=headers, body=body, max_bytes=MAX_ANSWER_BYTES
                    )
                except RefusedAddress as error:
                    raise CallFailed(str(error)) from None
                except OutboundError as error:
                    problem = str(error)
                    continue
            if deadline.cancelled_caught:
                raise CallFailed(f"no answer within {self.timeout_s:g} s")
            if 200 <= answer.status < 300:
                return answer
            problem = f"it answered HTTP {answer.status}"
            if answer.status < 500:
                raise CallFailed(problem)
        raise CallFailed(f"{problem} ({ATTEMPTS} attempts)")
