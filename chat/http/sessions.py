"""Browser sessions over HTTP (`chat.app.accounts.sessions`): the cookie, and the routes that use
it.

- ``POST /session``         {"Username", "Password", "Code"?, "Remember"?} -> 200 {"token",
  "UID", "Username", "Remember", "ExpiresIn"} and the session cookie; 401 with
  ``"NeedsCode": true`` when the account's second factor is missing or wrong
- ``POST /session/refresh`` (cookie) -> 200, the same shape; a new cookie (rotated); 204
  without a cookie
- ``POST /logout``          (cookie) -> 200 {"status": "ok"}; the cookie cleared
- ``POST /logout-everywhere`` (token or cookie) -> 200 {"status": "ok"}: every session of
  the user's ends and every token they were issued is revoked (their WebSockets close, on
  every instance: `chat.app.accounts.revocations`); the cookie cleared
- ``GET /sessions``          (token or cookie) -> 200 [{"SessionID", "Device", "LastSeen",
  "Current"}]: the caller's sessions that have not ended, most recently used first
- ``DELETE /sessions/{SessionID}`` (token or cookie) -> 204: that session ends; the
  WebSockets it opened close at once, on every instance (its tokens, minutes long, run
  out by themselves)

The cookie: ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's page
sends it), ``Path=/``; over HTTPS ``Secure`` and named ``__Host-chat_session``. Whether the
request came over HTTPS: its own scheme, ``CHAT_PUBLIC_URL``'s, or ``X-Forwarded-Proto``
from a trusted proxy (``CHAT_TRUSTED_PROXIES``). With "Remember" it has a Max-Age
(``CHAT_SESSION_REMEMBER``) and outlives the browser; without, it ends with the browser.

CSRF: a request the cookie authenticates must come from this site's own pages: a
same-origin ``Origin`` header (`HostPolicy.same_origin`), or ``Sec-Fetch-Site:
same-origin`` when a browser sends no Origin. Anything else is refused with 403 before the
cookie is read. SameSite=Strict is the second layer. ``POST /session`` itself (a login
CSRF) is refused the same way when it carries a foreign Origin.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from quart import Blueprint, Request, Response, jsonify, request

from chat.app.accounts.auth import bearer_token
from chat.app.accounts.sessions import (
    MAX_DEVICE_CHARS,
    PLAIN_COOKIE,
    SECURE_COOKIE,
    BrowserSessions,
    Granted,
)
from chat.app.service import ChatService
from chat.core import shapes, validation
from chat.core.client_address import ClientAddresses
from chat.core.config import Config
from chat.core.errors import Forbidden, InvalidToken, NotAuthenticated, NotFound
from chat.core.host_names import HostPolicy
from chat.core.records import Identity
from chat.core.session_records import SessionRecord
from chat.core.two_factor import optional_code
from chat.http.bodies import json_object
from chat.http.identity import caller_address, token_identity
from chat.http.openapi import (
    BOOLEAN,
    ERROR,
    ID,
    INVALID,
    SECOND_FACTOR,
    STRING,
    TIMESTAMP,
    WRONG_CREDENTIALS,
    Answer,
    Token,
    body_fields,
    describe,
    exact_object,
)

#: A session id is 22 characters (`chat.app.accounts.sessions`); longer is nobody's.
MAX_SESSION_ID_CHARS = 64

#: The 403's error for a cookie-authenticated request from another site (or from nowhere).
CROSS_SITE = (
    "a request signed in by the session cookie must come from this site's pages"
    " (a same-origin Origin header)"
)

_GRANTED = exact_object(
    {
        "token": STRING,
        "UID": ID,
        "Username": STRING,
        "Remember": BOOLEAN,
        "ExpiresIn": {"type": "integer", "minimum": 1},
    }
)
_NO_SESSION = Answer("the cookie's session has ended (the cookie is cleared)", ERROR)
_CROSS_SITE = Answer("the request did not come from this site's pages (CSRF)", ERROR)


def session_cookie(request: Request) -> str | None:
    """The session cookie's value, under either of its names."""
    return request.cookies.get(SECURE_COOKIE) or request.cookies.get(PLAIN_COOKIE)


def same_site(request: Request, hosts: HostPolicy) -> bool:
    """True if the request comes from this site's own pages (CSRF check)."""
    origin = request.headers.get("Origin")
    if origin is not None:
        return hosts.same_origin(origin, request.headers.get("Host"))
    return request.headers.get("Sec-Fetch-Site", "").strip().lower() == "same-origin"


def require_same_site(request: Request, hosts: HostPolicy) -> None:
    if not same_site(request, hosts):
        raise Forbidden(CROSS_SITE)


class CookieJar:
    """Sets and clears the session cookie in answers."""

    def __init__(self, config: Config, addresses: ClientAddresses) -> None:
        self._public_https = (config.public_url or "").lower().startswith("https:")
        self._addresses = addresses

    def https(self, request: Request) -> bool:
        """Whether `request` came over HTTPS (its cookies are then Secure)."""
        if self._public_https or request.scheme in ("https", "wss"):
            return True
        peer = request.scope.get("client")
        if peer is None or not self._addresses.is_trusted(str(peer[0])):
            return False
        # The proxy nearest to us appended last: its word is the one we trust.
        protos = ",".join(request.headers.getlist("X-Forwarded-Proto")).split(",")
        return protos[-1].strip().lower() == "https"

    def set(self, request: Request, response: Response, granted: Granted) -> None:
        if granted.cookie is None:
            return
        secure = self.https(request)
        response.set_cookie(
            SECURE_COOKIE if secure else PLAIN_COOKIE,
            granted.cookie,
            max_age=granted.max_age,
            path="/",
            secure=secure,
            httponly=True,
            samesite="Strict",
        )

    def clear(self, request: Request, response: Response) -> None:
        secure = self.https(request)
        response.delete_cookie(
            SECURE_COOKIE if secure else PLAIN_COOKIE,
            path="/",
            secure=secure,
            httponly=True,
            samesite="Strict",
        )


def _answer(granted: Granted, ttl: int) -> dict[str, Any]:
    return {
        "token": granted.token,
        "UID": granted.user.id,
        "Username": granted.user.name,
        "Remember": granted.remember,
        "ExpiresIn": ttl,
    }


_SESSION = exact_object(
    {
        "SessionID": STRING,
        "Device": {"type": ["string", "null"], "maxLength": MAX_DEVICE_CHARS},
        "LastSeen": TIMESTAMP,
        "Current": BOOLEAN,
    }
)


def _listed(record: SessionRecord, current: str | None) -> dict[str, Any]:
    return {
        "SessionID": record.id,
        "Device": record.device,
        "LastSeen": shapes.timestamp(datetime.fromtimestamp(record.last_used_at, UTC)),
        "Current": record.id == current,
    }


def session_routes(
    service: ChatService,
    sessions: BrowserSessions,
    config: Config,
    hosts: HostPolicy,
    addresses: ClientAddresses,
) -> Blueprint:
    routes = Blueprint("sessions", __name__)
    jar = CookieJar(config, addresses)
    ttl = config.session_token_ttl

    def granted_response(granted: Granted) -> Response:
        """The answer to a login or a refresh: the token, and the new cookie if any."""
        response = jsonify(_answer(granted, ttl))
        jar.set(request, response, granted)
        return response

    @routes.post("/session")
    @describe(
        "Log in and start a browser session (a cookie; see chat/app/accounts/sessions.py)",
        description=(
            "Sets the session cookie (HttpOnly, SameSite=Strict; Secure over HTTPS); with "
            "Remember it lasts CHAT_SESSION_REMEMBER unused, across browser restarts, else "
            "it ends with the browser. The token is short-lived (ExpiresIn seconds): ask "
            "POST /session/refresh for the next one."
        ),
        body=body_fields(
            {"Username": STRING, "Password": STRING},
            {"Code": SECOND_FACTOR, "Remember": BOOLEAN},
        ),
        example={"Username": "alice", "Password": "wonderland", "Remember": True},
        answers={
            200: Answer(
                "signed in: the cookie, and a token for the Authorization header", _GRANTED
            ),
            400: INVALID,
            401: WRONG_CREDENTIALS,
            403: _CROSS_SITE,
        },
    )
    async def start() -> Any:
        if request.headers.get("Origin") is not None:
            require_same_site(request, hosts)
        body = await json_object(request)
        name = validation.require_str(body, "Username")
        password = validation.require_str(body, "Password")
        remember = validation.require_bool(body, "Remember") if "Remember" in body else False
        code = optional_code(body, "Code")
        user = await service.login(
            name, password, address=caller_address(request, addresses), code=code
        )
        device = request.headers.get("User-Agent")
        return granted_response(await sessions.start(user, remember=remember, device=device))

    @routes.post("/session/refresh")
    @describe(
        "A new token for the browser session; rotates the cookie",
        description=(
            "The cookie's secret is replaced (a new cookie). The secret just replaced still "
            "works for 30 seconds (two tabs refreshing at once), without rotating again; any "
            "older one ends the session (a copied cookie)."
        ),
        cookie=True,
        answers={
            200: Answer("the session goes on: a token (and usually a new cookie)", _GRANTED),
            204: Answer("no session cookie: nothing to refresh (sign in)"),
            401: _NO_SESSION,
            403: _CROSS_SITE,
        },
    )
    async def refresh() -> Any:
        require_same_site(request, hosts)
        cookie = session_cookie(request)
        if cookie is None:
            # Not an error: a page opening asks whether this browser has a session (its
            # script cannot see the cookie), and a 401 would be logged in its console.
            return "", 204
        try:
            granted = await sessions.refresh(cookie)
        except InvalidToken as error:
            response = jsonify({"error": str(error)})
            response.status_code = 401
            jar.clear(request, response)
            return response
        return granted_response(granted)

    @routes.post("/logout")
    @describe(
        "End the browser session (the cookie's); the cookie is cleared",
        description="Tokens already handed out stay good until they expire (minutes).",
        cookie=True,
        answers={200: Answer("done", exact_object({"status": {"const": "ok"}})), 403: _CROSS_SITE},
    )
    async def logout() -> Any:
        require_same_site(request, hosts)
        await sessions.end(session_cookie(request))
        response = jsonify({"status": "ok"})
        jar.clear(request, response)
        return response

    async def caller() -> Identity:
        """The token's user, or else the session cookie's (from this site's pages)."""
        return await token_or_cookie(service, sessions, hosts, site_only=True)

    @routes.get("/sessions")
    @describe(
        "The caller's browser sessions that have not ended, most recently used first",
        description=(
            "Device is the browser's User-Agent when the session began (null: none was"
            " sent); LastSeen the last time it refreshed its token; Current marks the"
            " session of the caller's own token or cookie. At most 100."
        ),
        token=Token.REQUIRED,
        cookie=True,
        answers={
            200: Answer("the sessions", {"type": "array", "items": _SESSION, "maxItems": 100}),
            401: Answer("no token and no session cookie, or a bad one", ERROR),
            403: _CROSS_SITE,
        },
    )
    async def list_sessions() -> Any:
        identity = await caller()
        records = await sessions.sessions(identity)
        return jsonify([_listed(record, identity.session_id) for record in records])

    @routes.delete("/sessions/<session_id>")
    @describe(
        "End one of the caller's browser sessions (log it out)",
        description=(
            "Its cookie is refused from then on, and the WebSockets it opened close at"
            " once (1008), on every instance; the access tokens it was handed run out"
            " by themselves (CHAT_SESSION_TOKEN_TTL). Ending the caller's own session"
            " clears the cookie."
        ),
        path={"session_id": STRING},
        token=Token.REQUIRED,
        cookie=True,
        answers={
            204: Answer("ended"),
            401: Answer("no token and no session cookie, or a bad one", ERROR),
            403: _CROSS_SITE,
            404: Answer("the caller has no such session that has not ended", ERROR),
        },
    )
    async def end_session(session_id: str) -> Any:
        identity = await caller()
        if len(session_id) > MAX_SESSION_ID_CHARS:
            raise NotFound(f"you have no session {session_id[:MAX_SESSION_ID_CHARS]}...")
        await sessions.end_one(identity, session_id)
        response = Response(b"", 204)
        if session_id == identity.session_id:
            jar.clear(request, response)
        return response

    @routes.post("/logout-everywhere")
    @describe(
        "End every browser session and revoke every token the account was issued, the one "
        "in use included",
        token=Token.REQUIRED,
        cookie=True,
        answers={200: Answer("done", exact_object({"status": {"const": "ok"}})), 403: _CROSS_SITE},
    )
    async def logout_everywhere() -> Any:
        await sessions.end_all(await caller())
        response = jsonify({"status": "ok"})
        jar.clear(request, response)
        return response

    return routes


async def token_or_cookie(
    service: ChatService, sessions: BrowserSessions, hosts: HostPolicy, *, site_only: bool
) -> Identity:
    """The request's user: its token's (Authorization header), or else its session
    cookie's, which must come from this site's pages when `site_only` (a change, or
    what lists the caller's sessions)."""
    token = bearer_token(request.headers.get("Authorization"))
    if token is not None:
        return await token_identity(service, request, token)
    cookie = session_cookie(request)
    if cookie is None:
        raise NotAuthenticated(
            "missing token: send it in the Authorization header (raw or as "
            "'Bearer <token>'), or the session cookie"
        )
    if site_only:
        require_same_site(request, hosts)
    return await sessions.identify(cookie)
