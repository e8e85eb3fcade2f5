"""The Quart-Trio application: routes and the JSON error contract.

Every answer is JSON. Domain errors map to status codes here, once, for every route:
`InvalidInput` 400, `InvalidCredentials`/`InvalidToken`/`NotAuthenticated` 401,
`Forbidden` 403, `NotFound` 404, `Conflict` 409, `Unavailable` 503. Anything else is a
bug: it is logged with its traceback and the client gets 500 {"error": "internal
error"}, never the traceback.

The app starts no tasks of its own; everything long-lived belongs to `chat.server.serve`.
"""

from __future__ import annotations

import logging
from typing import Any

import trio
from quart import Quart
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from ..errors import (
    ChatError,
    Conflict,
    Forbidden,
    InvalidCredentials,
    InvalidInput,
    InvalidToken,
    NotAuthenticated,
    NotFound,
    Unavailable,
)
from ..service import ChatService
from .accounts import accounts_routes
from .client import STATIC_DIR, add_security_headers, client_routes
from .passwords import password_routes
from .profiles import profile_routes
from .rooms import room_routes
from .support import support_routes

log = logging.getLogger(__name__)

_STATUS: tuple[tuple[type[ChatError], int], ...] = (
    (InvalidInput, 400),
    (InvalidCredentials, 401),
    (InvalidToken, 401),
    (NotAuthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (Unavailable, 503),
)

HEALTH_TIMEOUT_S = 2.0


def status_for(error: ChatError) -> int:
    for error_type, status in _STATUS:
        if isinstance(error, error_type):
            return status
    return 400


def create_app(service: ChatService, *, max_body_bytes: int) -> Quart:
    app = QuartTrio("chat", static_folder=str(STATIC_DIR), static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    # Static files are revalidated (ETag) on every load, so a new release is picked up.
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = None
    app.json.sort_keys = False  # type: ignore[attr-defined]

    app.register_blueprint(accounts_routes(service))
    app.register_blueprint(password_routes(service))
    app.register_blueprint(profile_routes(service))
    app.register_blueprint(room_routes(service))
    app.register_blueprint(support_routes(service))
    app.register_blueprint(client_routes(app))
    app.after_request(add_security_headers)

    @app.get("/healthz")
    async def healthz() -> Any:
        try:
            with trio.fail_after(HEALTH_TIMEOUT_S):
                await service.store.ping()
        except (trio.TooSlowError, Unavailable) as error:
            log.warning("health check failed: %s", error or "database did not answer in time")
            return {"status": "unavailable", "error": "database unavailable"}, 503
        return {"status": "ok"}

    @app.errorhandler(ChatError)
    async def chat_error(error: ChatError) -> Any:
        return {"error": str(error)}, status_for(error)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Any:
        message = (error.name or "error").lower()
        headers = {}
        if error.code == 405 and error.valid_methods:  # type: ignore[attr-defined]
            headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
        return {"error": message}, error.code or 500, headers

    @app.errorhandler(Exception)
    async def internal_error(error: Exception) -> Any:
        log.error("unhandled error in an HTTP request", exc_info=error)
        return {"error": "internal error"}, 500

    return app
