"""Health checks, for load balancers, orchestrators and monitors.

- ``GET /livez``  -> 200 {"status": "ok"}: the process answers. Touches nothing else,
  so a database outage never gets a healthy server restarted.
- ``GET /readyz`` -> 200 {"status": "ok"} when the database answers within
  `HEALTH_TIMEOUT_S` and the server is not draining; otherwise 503 {"status":
  "unavailable", "error": why} with ``Retry-After``: send new clients elsewhere. The
  database is asked by `chat.database_probe`, so the answer comes within the timeout
  even when the database hangs, and a crowd of checks costs one query.
- ``GET /healthz`` -> 200 or 503 on the database alone (the older check, kept as it was:
  it asks the database itself).

"Draining" is the server's shutdown: from the moment `chat.server.serve` is cancelled
until it returns. The HTTP server sets the `draining` event when its drain begins
(`chat.http.server.HttpServer`); the shutdown itself stays a cancellation, and the event
only lets a request that is still being answered say so.
"""

from __future__ import annotations

import logging
from typing import Any

import trio
from quart import Blueprint

from ..database_probe import HEALTH_TIMEOUT_S, DatabaseProbe
from ..errors import DATABASE_UNAVAILABLE, RETRY_AFTER_S, Unavailable
from ..service import ChatService

log = logging.getLogger(__name__)

SHUTTING_DOWN = "the server is shutting down"

_RETRY_LATER = {"Retry-After": str(RETRY_AFTER_S)}


def _unavailable(problem: str) -> Any:
    return {"status": "unavailable", "error": problem}, 503, _RETRY_LATER


async def _database_problem(service: ChatService) -> str | None:
    """Why the database does not serve (logged), or None if it answered in time."""
    try:
        with trio.fail_after(HEALTH_TIMEOUT_S):
            await service.store.ping()
    except (trio.TooSlowError, Unavailable) as error:
        log.warning("health check failed: %s", error or "database did not answer in time")
        return DATABASE_UNAVAILABLE
    return None


def health_routes(service: ChatService, probe: DatabaseProbe, draining: trio.Event) -> Blueprint:
    """/livez, /readyz and /healthz; `draining` is set once the server's shutdown began."""
    routes = Blueprint("health", __name__)

    @routes.get("/livez")
    async def livez() -> Any:
        return {"status": "ok"}

    @routes.get("/readyz")
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
    async def healthz() -> Any:
        problem = await _database_problem(service)
        if problem is not None:
            return _unavailable(problem)
        return {"status": "ok"}

    return routes
