"""``GET /metrics`` (Prometheus's text format), and counting every HTTP request for it.

With ``CHAT_METRICS_TOKEN`` set, a scrape must present it (``Authorization: Bearer
<token>``); unset, the metrics are open to anyone who can reach the port, so an operator
whose port is public sets it or blocks ``/metrics`` at the proxy (docs/DEPLOYMENT.md).
"""

from __future__ import annotations

import secrets
from typing import Any

from quart import Blueprint, Response, request

from chat.app.metrics import CONTENT_TYPE, Metrics
from chat.http.openapi import ERROR, Answer, describe

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="metrics"'}


def metrics_routes(metrics: Metrics, token: str | None) -> Blueprint:
    routes = Blueprint("metrics", __name__)
    expected = None if token is None else token.encode()

    @routes.after_app_request
    async def count_request(response: Response) -> Response:
        # The URL rule's template (``/room/<int:room_id>/messages``), never the path a
        # client made up: one time series per route, not per URL.
        rule = request.url_rule
        metrics.count_request(None if rule is None else rule.rule, response.status_code)
        return response

    @routes.get("/metrics")
    @describe(
        "The server's metrics, in Prometheus's text format",
        description="With CHAT_METRICS_TOKEN set, send it as `Authorization: Bearer <token>`"
        " (this is not a user's token).",
        answers={
            200: Answer("the metrics (docs/DEPLOYMENT.md lists them)", media=("text/plain",)),
            401: Answer("CHAT_METRICS_TOKEN is set, and the request did not send it", ERROR),
        },
    )
    async def scrape() -> Any:
        if expected is not None:
            scheme, _, sent = request.headers.get("Authorization", "").strip().partition(" ")
            # Constant time: how long the comparison takes says nothing about the token.
            matches = secrets.compare_digest(sent.strip().encode(), expected)
            if scheme.lower() != "bearer" or not matches:
                error = "send the metrics token: Authorization: Bearer <CHAT_METRICS_TOKEN>"
                return {"error": error}, 401, _CHALLENGE
        await metrics.refresh()  # bounded: each measure bounds its own time
        return Response(metrics.exposition(), content_type=CONTENT_TYPE)

    return routes
