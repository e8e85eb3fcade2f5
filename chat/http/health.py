"""Health checks, for load balancers, orchestrators and monitors.

- ``GET /livez``  -> 200 {"status": "ok", "version": "0.3.0+g98a7ab7"}: the process
  answers, and which code it runs (`chat.server.version`). Touches nothing else, so a
  database outage never gets a healthy server restarted.
- ``GET /readyz`` -> 200 {"status": "ok"} when the database answers within
  `HEALTH_TIMEOUT_S` and the server is not draining; otherwise 503 {"status":
  "unavailable", "error": why} with ``Retry-After``: send new clients elsewhere. The
  database is asked by `chat.app.database_probe`, so the answer comes within the timeout
  even when the database hangs, and a crowd of checks costs one query.
- ``GET /healthz`` -> 200 or 503 on the database alone (the older check, kept for the
  monitors that use it; it asks the same probe, so it too answers within the timeout).

"Draining" is the server's shutdown: from the moment `chat.server.serving.serve` is cancelled
until it returns. The HTTP server sets the `draining` event when its drain begins
(`chat.http.server.HttpServer`); the shutdown itself stays a cancellation, and the event
only lets a request that is still being answered say so.
"""

from __future__ import annotations

from typing import Any

import trio
from quart import Blueprint

from chat.app.database_probe import DatabaseProbe
from chat.core.errors import DATABASE_UNAVAILABLE, RETRY_AFTER_S
from chat.http.openapi import STRING, Answer, describe, exact_object

SHUTTING_DOWN = "the server is shutting down"

_RETRY_LATER = {"Retry-After": str(RETRY_AFTER_S)}


def _unavailable(problem: str) -> Any:
    return {"status": "unavailable", "error": problem}, 503, _RETRY_LATER


_OK = Answer("yes", exact_object({"status": {"const": "ok"}}))
_ALIVE = Answer(
    "yes, and which code answers: the release, and the git commit when it runs from a"
    " checkout (as `chat --version` shows it)",
    exact_object({"status": {"const": "ok"}, "version": STRING}),
)


def _not_ready(why: str) -> Answer:
    body = exact_object({"status": {"const": "unavailable"}, "error": STRING})
    return Answer(why, body, retry_after=True)


def health_routes(probe: DatabaseProbe, draining: trio.Event, version: str) -> Blueprint:
    """/livez, /readyz and /healthz; `draining` is set once the server's shutdown began,
    `version` is what /livez says the code is."""
    routes = Blueprint("health", __name__)

    @routes.get("/livez")
    @describe(
        "Whether the process answers (touches nothing else), and its version",
        answers={200: _ALIVE},
    )
    async def livez() -> Any:
        return {"status": "ok", "version": version}

    @routes.get("/readyz")
    @describe(
        "Whether to send new clients here: the database answers and the server is not"
        " shutting down",
        answers={
            200: _OK,
            503: _not_ready("the database does not answer in time, or the server is shutting down"),
        },
    )
    async def readyz() -> Any:
        if draining.is_set():
            return _unavailable(SHUTTING_DOWN)
        answers = await probe.database_answers()
        # Checked again: the drain may have begun while the database was asked (it also
        # cancels the probe, so the shutdown is the reason to give).
        if draining.is_set():
            return _unavailable(SHUTTING_DOWN)
        if not answers:
            return _unavailable(DATABASE_UNAVAILABLE)
        return {"status": "ok"}

    @routes.get("/healthz")
    @describe(
        "Whether the database answers (the older check; /readyz also knows about shutdown)",
        answers={200: _OK, 503: _not_ready("the database does not answer in time")},
    )
    async def healthz() -> Any:
        if not await probe.database_answers():
            return _unavailable(DATABASE_UNAVAILABLE)
        return {"status": "ok"}

    return routes
