"""Turning upgrade requests into client sessions: one endpoint per path.

- ``/``: TokenTalker; the token is optional (or sent later as ``auth <token>``).
- ``/ws``: the room protocol; a token is required: ``?token=``, a header, the browser
  session's cookie (`chat.app.accounts.sessions`), or, connecting to ``/ws?auth=frame``, a
  first frame ``{"Type": "auth", "Token": "..."}`` within
  `chat.ws.opening.AUTH_FRAME_TIMEOUT_S`.
- ``/v1/ws``: the support protocol; the token is optional (or sent as ``message.auth``).

Every path also takes direct messages and answers ``ping``; ``/`` also routes support
frames (those with ``"method"``). A token presented at the handshake must be valid: a
bad one is refused with 401 before the connection opens, never half-open; one that
cannot be checked because the database is away, with 503 and ``Retry-After``. The
session cookie counts only on an upgrade from this site's own pages (a same-origin
Origin, or none: not a browser); the Origin check refuses other sites with 403 first,
and a site CHAT_ALLOWED_ORIGINS lets in must bring a token of its own. Other
paths are refused with 404. Every session is in the revocation
registry for its life (`chat.app.accounts.revocations`), so it is closed (1008) if its user's
tokens are revoked, and an authenticated one counts its user as online
(`chat.app.presence.tracker`).

While the server drains before shutting down (`chat.server.drain`), upgrade requests are refused
with 503 and ``Retry-After`` before the connection opens (a load balancer tries another
instance), and `restart_sessions` closes the open sessions with 1012 ("service restart"):
their clients connect again, elsewhere, and resume.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import NoReturn
from urllib.parse import parse_qs, urlsplit

import trio
from trio_websocket import ConnectionClosed, WebSocketRequest

from chat.app.accounts.auth import bearer_token
from chat.app.accounts.revocations import Revocations
from chat.app.accounts.sessions import PLAIN_COOKIE, SECURE_COOKIE, BrowserSessions
from chat.app.messages.broadcaster import Broadcaster
from chat.app.service import ChatService
from chat.core.client_address import ClientAddresses
from chat.core.config import Config
from chat.core.errors import ChatError, Forbidden, InvalidToken, RateLimited, Unavailable
from chat.core.frames import CLOSE_SERVICE_RESTART
from chat.core.host_names import HostPolicy, host_refusal
from chat.core.logs import ACCESS_WS, loggable_path
from chat.core.records import Identity
from chat.net.admission import HandshakeGate, HandshakeSlot, busy_response
from chat.net.front_door import forwarded_for
from chat.net.raw_response import json_response
from chat.net.replay_stream import ReplayStream, close_gently, unread_bytes, write_now
from chat.ws.direct import DirectMessages, is_direct_frame
from chat.ws.dispatch import Dispatcher
from chat.ws.opening import (
    AUTH_FRAME,
    authenticated,
    first_frame_identity,
    subscribe_then_open,
    wants_auth_frame,
)
from chat.ws.rooms import RoomProtocol
from chat.ws.session.client_session import ClientSession, Registry
from chat.ws.session.frame_limits import FrameLimits
from chat.ws.session.outbox import OutboxSettings
from chat.ws.standins import forget_handshake
from chat.ws.stream import DirectWriteStream
from chat.ws.support import SupportRpc, is_rpc_frame
from chat.ws.tokentalker import TokenTalker
from chat.ws.transport import ServerConnection, read_upgrade_request

log = logging.getLogger(__name__)
#: One line per connection opened, refused and closed (`chat.core.logs`).
access_log = logging.getLogger(ACCESS_WS)


def _tokentalker_endpoint(session: ClientSession, service: ChatService) -> Dispatcher:
    direct = DirectMessages(session, service)
    support = SupportRpc(session, service, greet=False)
    return Dispatcher(
        session, TokenTalker(session, service), [(is_direct_frame, direct), (is_rpc_frame, support)]
    )


def _rooms_endpoint(session: ClientSession, service: ChatService) -> Dispatcher:
    direct = DirectMessages(session, service)
    return Dispatcher(session, RoomProtocol(session, service), ((is_direct_frame, direct),))


def _support_endpoint(session: ClientSession, service: ChatService) -> Dispatcher:
    direct = DirectMessages(session, service)
    return Dispatcher(
        session, SupportRpc(session, service, greet=True), [(is_direct_frame, direct)]
    )


@dataclass(frozen=True, slots=True)
class Endpoint:
    #: The path's default dialect, which names its connections in the metrics.
    protocol: str
    token_required: bool
    build: Callable[[ClientSession, ChatService], Dispatcher]


ENDPOINTS: dict[str, Endpoint] = {
    "/": Endpoint("tokentalker", token_required=False, build=_tokentalker_endpoint),
    "/ws": Endpoint("rooms", token_required=True, build=_rooms_endpoint),
    "/v1/ws": Endpoint("support", token_required=False, build=_support_endpoint),
}


#: Why a connection is refused, or closed, while the server drains.
RESTARTING = "the server is restarting: connect again"
#: How soon a client refused during the drain may try again (another instance answers).
RESTART_RETRY_AFTER_S = 1


class _NotOpened(Exception):
    """The connection ended during the handshake (refused, timed out, or left)."""


class _Refused(Exception):
    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def _header(request: WebSocketRequest, name: bytes) -> str | None:
    for key, value in request.headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _host(replay: ReplayStream) -> str | None:
    """The request's Host (wsproto does not pass it on; the front door kept the head);
    None unless there is exactly one."""
    hosts = replay.header_values(b"host")
    return hosts[0].decode("latin-1") if len(hosts) == 1 else None


def _handshake_token(request: WebSocketRequest) -> str | None:
    """``?token=...`` in the URL, else the Authorization header (raw or Bearer)."""
    tokens = parse_qs(urlsplit(request.path).query).get("token")
    if tokens:
        return tokens[0]
    return bearer_token(_header(request, b"authorization"))


def _session_cookie(request: WebSocketRequest) -> str | None:
    """The browser session's cookie (`chat.app.accounts.sessions`), under either of its names."""
    found: dict[str, str] = {}
    for key, value in request.headers:
        if key.lower() != b"cookie":
            continue
        for pair in value.decode("latin-1").split(";"):
            name, _, cookie = pair.strip().partition("=")
            found.setdefault(name, cookie)
    return found.get(SECURE_COOKIE) or found.get(PLAIN_COOKIE)


def _user(session: ClientSession) -> dict[str, object]:
    """Who the client is, for its access lines: nothing until it authenticated."""
    identity = session.identity
    if identity is None:
        return {}
    return {"user": identity.name, "user_id": identity.user_id}


class WebSocketServer:
    """Serves the WebSocket connections the front door hands over."""

    def __init__(
        self,
        service: ChatService,
        broadcaster: Broadcaster,
        revocations: Revocations,
        config: Config,
        hosts: HostPolicy,
        addresses: ClientAddresses,
        sessions: BrowserSessions,
        *,
        draining: trio.Event | None = None,
    ) -> None:
        self._service = service
        self._sessions = sessions
        self._broadcaster = broadcaster
        # Every session is filed in these (`chat.ws.session.contracts.Registry`); shared
        # tuples, so an idle connection pays nothing for them.
        self._registries: tuple[Registry[ClientSession], ...] = (revocations, service.presence)
        self._room_registries = (*self._registries, service.notices, service.activity)
        self._config = config
        self._hosts = hosts
        self._addresses = addresses
        # One for every session (`chat.ws.session.outbox`): a connection pays one reference.
        self._outbox_settings = OutboxSettings(
            queue_size=config.client_queue,
            write_timeout=config.write_timeout,
            close_timeout=config.close_timeout,
        )
        #: The per-connection frame limits (their refusals are read by `chat.app.metrics`).
        self.frame_limits = FrameLimits(config)
        #: Handshakes in progress, at most CHAT_MAX_HANDSHAKES (read by `chat.app.metrics`).
        self.handshakes = HandshakeGate(config.max_handshakes)
        #: Open sessions by endpoint protocol (read by `chat.app.metrics`).
        self.sessions: dict[str, int] = {e.protocol: 0 for e in ENDPOINTS.values()}
        #: Set once the server drains (`chat.server.drain`): upgrades are refused from then on.
        self._draining = draining if draining is not None else trio.Event()
        # Every open session, for `restart_sessions`.
        self._open: set[ClientSession] = set()

    def restart_sessions(self) -> None:
        """Close every open session with 1012, "service restart" (the drain's first step,
        `chat.server.drain`): each client gets the frames already queued for it, then the close
        frame, and connects again. Synchronous, like `ClientSession.close_nowait`: nothing
        to cancel half-way. A session still opening is told by `_open_session`, which
        checks the drain after its last await."""
        for session in list(self._open):
            session.close_nowait(CLOSE_SERVICE_RESTART, RESTARTING, explain=False)

    async def _admit(
        self, request: WebSocketRequest, replay: ReplayStream, address: str
    ) -> tuple[Endpoint, Identity | None]:
        """The endpoint for the request's path and who the client is (None: nobody yet,
        or, on /ws, whoever its first frame says: ``?auth=frame``); `_Refused` if not."""
        if self._draining.is_set():
            raise _Refused(503, RESTARTING, retry_after=RESTART_RETRY_AFTER_S)
        host = _host(replay)  # checked already (`_head_problem`)
        path = urlsplit(request.path).path
        endpoint = ENDPOINTS.get(path)
        if endpoint is None:
            raise _Refused(404, f"no WebSocket endpoint at {path}")
        origin = _header(request, b"origin")
        if not self._hosts.origin_allowed(origin, host):
            raise _Refused(403, "this page's origin may not open a WebSocket here")
        rate_limits = self._service.rate_limits
        try:
            # Counted by the address's key (an IPv6 client's /64), not the full address;
            # in a trusted network, against the network's ceiling, then by user.
            by_user = rate_limits.before_connection(self._addresses.key(address))
            identity = await self._identify(request, endpoint, origin, host)
            if by_user and identity is not None:
                rate_limits.user_connected(identity.user_id)
        except RateLimited as error:
            raise _Refused(429, str(error), retry_after=error.retry_after) from None
        return endpoint, identity

    async def _identify(
        self, request: WebSocketRequest, endpoint: Endpoint, origin: str | None, host: str | None
    ) -> Identity | None:
        """The token's or session cookie's user (None: nobody yet), or `_Refused`."""
        token = _handshake_token(request)
        cookie = _session_cookie(request)
        # Only this site's pages sign in with the cookie (or a client that is no browser,
        # and sends no Origin): an origin allowed for its own tokens must not ride on the
        # user's cookie.
        if (
            token is None
            and cookie is not None
            and (origin is None or self._hosts.same_origin(origin, host))
        ):
            try:
                return await self._sessions.identify(cookie)
            except InvalidToken as error:
                raise _Refused(401, str(error)) from None
            except Forbidden as error:  # a second factor the server requires, missing
                raise _Refused(403, str(error)) from None
            except Unavailable as error:
                raise _Refused(503, str(error), retry_after=error.retry_after) from None
        if token is None:
            if endpoint.token_required and not wants_auth_frame(request.path):
                raise _Refused(
                    401,
                    "missing token: connect with ?token=<token>, the session cookie, or"
                    " ?auth=frame and a first frame " + AUTH_FRAME,
                )
            return None
        try:
            return await self._service.identify(token)
        except InvalidToken as error:
            raise _Refused(401, str(error)) from None
        except Forbidden as error:  # a second factor the server requires, missing
            raise _Refused(403, str(error)) from None
        except Unavailable as error:
            raise _Refused(503, str(error), retry_after=error.retry_after) from None

    def _head_problem(self, replay: ReplayStream) -> str | None:
        """Why an upgrade request must be refused before wsproto parses it, or None.

        wsproto decodes header values as ASCII, and the Host as IDNA, and a value it
        cannot decode crashed the handshake (the connection dropped, a traceback logged).
        The Host must be one of the server's names anyway (which are all valid), and
        header values outside ASCII (obsolete in HTTP) are refused here, with 400.
        """
        host = _host(replay)
        if not self._hosts.allows(host):
            return host_refusal(host)
        head = replay.head
        end = head.find(b"\r\n\r\n")
        if not head[: end if end != -1 else len(head)].isascii():
            return "request headers must be ASCII"
        return None

    async def handle(self, replay: ReplayStream) -> None:
        """Complete the handshake and serve the client until the connection ends; close
        the connection on the way out.

        An idle connection's task waits inside this call for as long as it is open, so
        this frame keeps only what the whole session needs; the handshake's own
        objects (the request, its head) live and die in `_open_session`."""
        # Every write to this connection, trio-websocket's and ours, goes through `stream`.
        stream = DirectWriteStream(replay, opened=False)  # until answered: `chat.ws.opening`
        try:
            try:
                session, endpoint, dialects = await self._open_session(replay, stream)
            except _NotOpened:
                return
            self.sessions[endpoint.protocol] += 1
            # Filed in its registries since before the 101 (`chat.ws.opening`): the
            # revocation sweep's (`chat.app.accounts.revocations`), presence's
            # (`chat.app.presence.tracker`) and, on /ws, its user's notices' and activity's
            # (`chat.app.people.user_notices`, `chat.app.people.activity`). Unfiled however it
            # ends (and taken out of its room): the `finally` below.
            self._open.add(session)
            try:
                await session.run(dialects)
            finally:
                self._open.discard(session)
                for registry in reversed(session.registries):
                    registry.unfile(session)
                self.sessions[endpoint.protocol] -= 1
                # Also when cancelled (shutdown): `run` has closed the connection by now.
                access_log.info(
                    "WebSocket closed",
                    extra={
                        "client": session.id,
                        "address": session.address,
                        "path": session.path,
                        **_user(session),
                        "code": session.close_code,
                        "ms": round((trio.current_time() - session.opened_at) * 1000, 1),
                    },
                )
        finally:
            await trio.aclose_forcefully(stream)

    async def _open_session(
        self, replay: ReplayStream, stream: DirectWriteStream
    ) -> tuple[ClientSession, Endpoint, Dispatcher]:
        """Read the upgrade request, admit or refuse it, and open the session, subscribed
        before the client is answered (`chat.ws.opening`): the session, its endpoint and
        its dialects, or `_NotOpened` if the connection ended here (refused, timed out,
        or the client left)."""
        problem = self._head_problem(replay)
        if problem is not None:
            await self._turn_away(replay, json_response(400, problem))
        slot = self.handshakes.take()
        if slot is None:
            # Logged a line a second for all (`HandshakeGate.report`), not each.
            await self._turn_away(replay, busy_response(self.handshakes.retry_after()))
        # The slot is held to the 101 (or the refusal), not while a client of
        # ``?auth=frame`` takes its time over its first frame: `_answer` gives it back
        # once the 101 is out, the `finally` if the handshake ended before.
        try:
            ws, request, endpoint, identity, address, path = await self._admit_upgrade(
                replay, stream
            )
            session = ClientSession(
                ws,
                stream,
                self._broadcaster,
                settings=self._outbox_settings,
                limits=self.frame_limits,
                address=address,
                path=path,
            )
            ws.ping_policy = session  # pings are answered within the session's limits
            session.identity = identity
            dialects = endpoint.build(session, self._service)
            registries = self._room_registries if endpoint.protocol == "rooms" else self._registries
            answer = partial(self._answer, session, endpoint, request, slot)
            await subscribe_then_open(session, stream, dialects, registries, answer)
        finally:
            slot.give_back()
        return session, endpoint, dialects

    async def _answer(
        self,
        session: ClientSession,
        endpoint: Endpoint,
        request: WebSocketRequest,
        slot: HandshakeSlot,
    ) -> None:
        """Tell the client its connection is open, now that it is subscribed: the 101, and
        on ``?auth=frame`` the answer to its first frame (`chat.ws.opening`); `_NotOpened`
        if the connection ended here. The handshake's `slot` is given back after the 101."""
        try:
            await self._in_force(session)
            ws = await request.accept()
        except ConnectionClosed:
            raise _NotOpened from None  # the client left during the handshake
        finally:
            slot.give_back()
        # Neither is needed any more, and a connection may stay open for days.
        forget_handshake(ws)
        assert isinstance(ws, ServerConnection)  # `read_upgrade_request` made it
        if session.identity is None and endpoint.token_required:
            identity = await first_frame_identity(
                ws, self._service.identify, self._config.close_timeout
            )
            if identity is None:
                raise _NotOpened
            session.set_identity(identity)  # subscribed to the user's topics, refiled
            await self._in_force(session)
            if not await authenticated(ws, identity):
                raise _NotOpened
        access_log.info(
            "WebSocket opened",
            extra={
                "client": session.id,
                "address": session.address,
                "path": session.path,
                **_user(session),
            },
        )
        if self._draining.is_set():
            # The drain began during the awaits above, after `restart_sessions` went
            # through the open sessions: this one is told now. From here to `handle`
            # adding it to those there is no await, so no session escapes both.
            with trio.move_on_after(self._config.close_timeout):
                await ws.aclose(CLOSE_SERVICE_RESTART, RESTARTING)
            raise _NotOpened

    async def _in_force(self, session: ClientSession) -> None:
        """Wait until what `session` was filed in works for it: on /ws, its user's rooms
        indexed for activity frames (`chat.app.people.activity`, at most its
        `READY_WAIT_S`), so that it hears of every room's activity from its answer on."""
        if session.identity is not None and session.registries is self._room_registries:
            await self._service.activity.ready(session.identity.user_id)

    async def _turn_away(self, replay: ReplayStream, response: bytes) -> NoReturn:
        """Answer `response` (a whole HTTP response) before the handshake, close the
        connection, and raise `_NotOpened`."""
        # A new connection's empty send buffer takes the whole answer at once: no
        # deadline needed unless some is left (a client that never reads).
        sent = write_now(replay.transport, response)
        if sent < len(response):
            with trio.move_on_after(self._config.close_timeout):
                await replay.send_all(response[sent:])
        # A client waiting for its answer has sent nothing more: closing at once then
        # ends with our FIN after the answer, as lingering would (the front door closes).
        if unread_bytes(replay.transport):
            await close_gently(replay)
        raise _NotOpened

    async def _admit_upgrade(
        self, replay: ReplayStream, stream: DirectWriteStream
    ) -> tuple[ServerConnection, WebSocketRequest, Endpoint, Identity | None, str, str]:
        """Parse the upgrade request and admit or refuse it (the 101 waits until the
        connection is subscribed: `_answer`): the connection, the request, its endpoint,
        who the client is (so far), its address and its loggable path; `_NotOpened` if
        the connection ended here."""
        config = self._config
        address = self._addresses.resolve(replay.peer, forwarded_for(replay))
        upgrade = await read_upgrade_request(
            stream, max_message_size=config.max_frame_bytes, close_timeout=config.close_timeout
        )
        if upgrade is None:
            log.debug("WebSocket handshake timed out")
            raise _NotOpened
        ws, request = upgrade
        # Kept by the session for its log lines: one string per endpoint, not per session.
        path = sys.intern(loggable_path(request.path))
        try:
            try:
                endpoint, identity = await self._admit(request, replay, address)
            except _Refused as refusal:
                access_log.info(
                    "WebSocket refused",
                    extra={"address": address, "path": path, "status": refusal.status},
                )
                body = json.dumps({"error": str(refusal)}).encode()
                headers = [(b"content-type", b"application/json")]
                if refusal.retry_after is not None:
                    headers.append((b"retry-after", str(refusal.retry_after).encode()))
                await request.reject(refusal.status, extra_headers=headers, body=body)
                raise _NotOpened from None
        except (ConnectionClosed, ChatError):
            raise _NotOpened from None  # the client left during the handshake
        replay.forget_head()  # not needed any more, and a connection may stay open for days
        return ws, request, endpoint, identity, address, path
