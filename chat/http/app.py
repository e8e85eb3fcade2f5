"""The Quart-Trio application: routes and the JSON error contract.

Every answer is JSON. Domain errors map to status codes here, once, for every route:
`InvalidInput` 400, `InvalidCredentials`/`InvalidToken`/`NotAuthenticated` 401,
`Forbidden` 403, `NotFound` 404, `Conflict` 409, `AccountErased` 410, `TooCostly` 422,
`RateLimited` 429 and `Unavailable` 503 (both with ``Retry-After``; 503 when the
database is away, and the store has logged the cause, or when the bcrypt queue or the
searches' is full). No HTTP route sends a chat message, so the writer's "the server is
shutting down" never reaches HTTP.
Anything else is a bug: it is logged with its traceback and the client gets 500
{"error": "internal error"}, never the traceback.

The app starts no tasks of its own; everything long-lived belongs to `chat.server.serving.serve`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import trio
from quart.json.provider import DefaultJSONProvider
from quart_trio import QuartTrio
from quart_trio.wrappers import TrioRequest
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from chat import __version__
from chat.app.accounts.data import AccountData
from chat.app.accounts.oidc import SingleSignOn
from chat.app.accounts.sessions import BrowserSessions
from chat.app.database_probe import DatabaseProbe
from chat.app.email.accounts import EmailAccounts
from chat.app.messages.files import FileLibrary
from chat.app.messages.link_preview_images import LinkPreviewImages
from chat.app.metrics import Metrics
from chat.app.people.avatars import MAX_AVATAR_BYTES, Avatars
from chat.app.people.statuses import Statuses
from chat.app.service import ChatService
from chat.core import incoming_webhooks as hooks
from chat.core.client_address import ClientAddresses
from chat.core.config import Config
from chat.core.errors import (
    AccountErased,
    ChatError,
    CodeNeeded,
    Conflict,
    Forbidden,
    InvalidCredentials,
    InvalidInput,
    InvalidToken,
    NotAuthenticated,
    NotFound,
    RateLimited,
    TooCostly,
    TooLarge,
    Unavailable,
)
from chat.core.host_names import HostPolicy, host_refusal
from chat.files.uploads import FORM_SLACK_BYTES
from chat.http.access_log import AccessLog, note_route
from chat.http.account_data import account_data_routes
from chat.http.accounts import accounts_routes
from chat.http.admin import admin_routes
from chat.http.api_tokens import api_token_routes
from chat.http.bots import bot_routes
from chat.http.client import add_security_headers, client_routes
from chat.http.email import email_routes
from chat.http.files import file_routes
from chat.http.health import health_routes
from chat.http.invites import invite_routes
from chat.http.lazy_rules import LazyRule
from chat.http.link_images import link_image_routes
from chat.http.messages import message_routes
from chat.http.metrics import metrics_routes
from chat.http.moderation import moderation_routes
from chat.http.notifications import notification_routes
from chat.http.oidc import oidc_routes
from chat.http.openapi_document import openapi_routes
from chat.http.passwords import password_routes
from chat.http.people import people_routes
from chat.http.pins import pin_routes
from chat.http.presence import presence_routes
from chat.http.profiles import profile_routes
from chat.http.push import push_routes
from chat.http.reports import report_routes
from chat.http.room_commands import command_routes
from chat.http.room_ends import room_end_routes
from chat.http.rooms import room_routes
from chat.http.saved import saved_routes
from chat.http.search import search_routes
from chat.http.sessions import session_routes
from chat.http.statuses import status_routes
from chat.http.support import support_routes
from chat.http.threads import thread_routes
from chat.http.two_factor import two_factor_routes
from chat.http.upload_body import StreamedBody, StreamingHttpConnection
from chat.http.webhooks import webhook_routes

log = logging.getLogger(__name__)

_STATUS: tuple[tuple[type[ChatError], int], ...] = (
    (InvalidInput, 400),
    (InvalidCredentials, 401),
    (InvalidToken, 401),
    (NotAuthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (AccountErased, 410),
    (Conflict, 409),
    (TooLarge, 413),
    (TooCostly, 422),
    (RateLimited, 429),
    (Unavailable, 503),
)


def status_for(error: ChatError) -> int:
    for error_type, status in _STATUS:
        if isinstance(error, error_type):
            return status
    return 400


class RequestGuard:
    """ASGI wrapper: refuses, with 400, what must never reach Quart.

    - A Host that is not one of the server's names (DNS rebinding; `chat.core.host_names`).
      This must run before Quart: werkzeug binds its URL map to the Host, IDNA-encoding
      it, before any hook of the app runs, and a Host such as ``a..b`` made that a 500.
    - An empty request target (``GET ? HTTP/1.1``): Quart reads the path's first
      character to build the request, another 500.
    """

    def __init__(self, app: Any, hosts: HostPolicy) -> None:
        self._app = app
        self._hosts = hosts

    @property
    def app(self) -> Any:
        """The Quart app behind the guard (its URL map: tests/test_openapi.py)."""
        return self._app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            sent = [value for name, value in scope["headers"] if name == b"host"]
            host = sent[0].decode("latin-1") if len(sent) == 1 else None
            if not self._hosts.allows(host):
                await self._refuse(send, host_refusal(host))
                return
            if not scope["path"]:
                await self._refuse(send, "the request target must be a path, like /rooms")
                return
        await self._app(scope, receive, send)

    @staticmethod
    async def _refuse(send: Any, problem: str) -> None:
        body = json.dumps({"error": problem}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 400, "headers": headers})
        await send({"type": "http.response.body", "body": body})


#: The routes whose bodies are streamed: True for files (`upload_bytes`), False for
#: avatars (`avatar_bytes`).
_STREAMED_BODIES = {("POST", "/files"): True, ("PUT", "/profile/avatar"): False}


def request_class(*, upload_bytes: int, avatar_bytes: int) -> type[TrioRequest]:
    """Quart's request, with a body limit of its own for ``POST /files``, ``PUT
    /profile/avatar`` and incoming webhooks (every other route keeps MAX_CONTENT_LENGTH):
    Quart sizes a request's body when it makes the request, before any route runs, so
    this is the one place to choose it."""

    class ChatRequest(TrioRequest):
        def __init__(self, method: str, scheme: str, path: str, *args: Any, **kwargs: Any):
            streamed = _STREAMED_BODIES.get((method, path))
            if streamed is not None:
                kwargs["max_content_length"] = upload_bytes if streamed else avatar_bytes
                # Streamed to storage no faster than it is written (chat.http.upload_body).
                self.body_class = StreamedBody
            elif path.startswith(hooks.PATH_PREFIX):
                # An incoming webhook's body, whatever CHAT_MAX_BODY says.
                kwargs["max_content_length"] = hooks.MAX_BODY_BYTES
            super().__init__(method, scheme, path, *args, **kwargs)

    return ChatRequest


def create_app(
    service: ChatService,
    *,
    hosts: HostPolicy,
    addresses: ClientAddresses,
    max_body_bytes: int,
    body_timeout: float,
    metrics: Metrics,
    metrics_token: str | None = None,
    probe: DatabaseProbe,
    draining: trio.Event,
    sessions: BrowserSessions,
    config: Config,
    files: FileLibrary,
    avatars: Avatars,
    statuses: Statuses,
    account_data: AccountData,
    link_images: LinkPreviewImages,
    sso: SingleSignOn,
    email: EmailAccounts,
    version: str = __version__,
) -> Any:
    """The app, as an ASGI callable: Quart's routes behind the Host check, inside the
    access log. /readyz asks `probe`, and `draining`, set when the shutdown begins; the
    browser's session routes use `sessions` and `config`'s session settings; /livez shows
    `version` (`chat.server.version`)."""
    # No static folder: chat.http.client serves the client's few files itself.
    app = QuartTrio("chat", static_folder=None)
    app.url_rule_class = LazyRule  # no URL builders compiled at start (chat.http.lazy_rules)
    app.request_class = request_class(
        upload_bytes=files.max_file_bytes + FORM_SLACK_BYTES,
        avatar_bytes=MAX_AVATAR_BYTES + FORM_SLACK_BYTES,
    )
    app.asgi_http_class = StreamingHttpConnection
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    # A body must arrive within this time once the headers are in (408 after it): a
    # client sending a byte every few seconds cannot hold a request open for long.
    app.config["BODY_TIMEOUT"] = body_timeout
    # Static files are revalidated (ETag) on every load, so a new release is picked up.
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = None
    # Quart's provider is the default one unless someone replaced it; the assert says so
    # to the type checker (JSONProvider, the declared type, has no sort_keys).
    assert isinstance(app.json, DefaultJSONProvider)
    app.json.sort_keys = False

    app.register_blueprint(accounts_routes(service, addresses))
    app.register_blueprint(password_routes(service, addresses))
    app.register_blueprint(two_factor_routes(service, addresses))
    app.register_blueprint(email_routes(service, email, addresses, config))
    app.register_blueprint(session_routes(service, sessions, config, hosts, addresses))
    app.register_blueprint(oidc_routes(sso, sessions, config, addresses))
    app.register_blueprint(profile_routes(service, avatars, statuses))
    app.register_blueprint(link_image_routes(link_images))
    app.register_blueprint(status_routes(service, statuses))
    app.register_blueprint(room_routes(service, statuses))
    app.register_blueprint(moderation_routes(service))
    app.register_blueprint(room_end_routes(service))
    app.register_blueprint(report_routes(service))
    app.register_blueprint(message_routes(service))
    app.register_blueprint(pin_routes(service))
    app.register_blueprint(thread_routes(service))
    app.register_blueprint(notification_routes(service))
    app.register_blueprint(push_routes(service))
    app.register_blueprint(people_routes(service))
    app.register_blueprint(search_routes(service))
    app.register_blueprint(saved_routes(service))
    app.register_blueprint(api_token_routes(service))
    app.register_blueprint(invite_routes(service, config))
    app.register_blueprint(bot_routes(service))
    app.register_blueprint(
        admin_routes(service, config=config, version=version, metrics=metrics, links=email)
    )
    app.register_blueprint(webhook_routes(service, config))
    app.register_blueprint(command_routes(service))
    app.register_blueprint(presence_routes(service, statuses))
    app.register_blueprint(support_routes(service, addresses))
    app.register_blueprint(file_routes(service, files, sessions, hosts))
    app.register_blueprint(
        account_data_routes(service, account_data, sessions, hosts, addresses, config)
    )
    app.register_blueprint(client_routes(service))
    app.register_blueprint(openapi_routes())
    app.register_blueprint(metrics_routes(metrics, metrics_token))
    app.register_blueprint(health_routes(probe, draining, version))
    app.before_request(note_route)
    app.after_request(add_security_headers)

    @app.errorhandler(ChatError)
    async def chat_error(error: ChatError) -> Any:
        headers = {}
        if error.retry_after is not None:
            headers["Retry-After"] = str(error.retry_after)
        body: dict[str, Any] = {"error": str(error)}
        if isinstance(error, CodeNeeded):
            body["NeedsCode"] = True  # the client asks for the code and tries again
        return body, status_for(error), headers

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Any:
        message = (error.name or "error").lower()
        headers = {}
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            headers["Allow"] = ", ".join(error.valid_methods)
        return {"error": message}, error.code or 500, headers

    @app.errorhandler(Exception)
    async def internal_error(error: Exception) -> Any:
        log.error("unhandled error in an HTTP request", exc_info=error)
        return {"error": "internal error"}, 500

    return AccessLog(RequestGuard(app, hosts), addresses, observe=metrics.observe_request)
