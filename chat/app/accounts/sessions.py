"""Browser sessions: a cookie that keeps a user signed in, so no token is ever in a URL.

The browser logs in once (``POST /session``) and gets a cookie holding a session's id and
a secret (``<id>.<secret>``, both random: 16 and 32 bytes). The page keeps no token in
storage: it asks ``POST /session/refresh`` for a short-lived access token
(``CHAT_SESSION_TOKEN_TTL``, kept in memory only, sent as ``Authorization: Bearer`` as
before), and its WebSocket authenticates with the cookie itself (`chat.ws.server`). A new
tab, or a browser restarted with a "keep me signed in" cookie, refreshes and is signed in.

The secret is stored as its SHA-256 only: it is 32 random bytes, so a slow hash adds
nothing, and a stolen database holds no usable cookie. Every refresh rotates it (a new
cookie), and `judge` decides what a presented secret is worth:

- the current secret: good (a refresh rotates it);
- the one just before it, within `GRACE_S` of the rotation: good, not rotated again. Two
  tabs that refresh at the same moment send the same cookie; one rotates, and the other
  must not sign the user out. It gets an access token and no new cookie, so the cookie
  jar keeps the winner's;
- anything else presented with a valid session id: a rotated secret used again, so the
  cookie was copied. The session is revoked (both holders must log in again) and the
  reuse is logged as a warning. Nobody else can know a session id: it is as random as a
  secret, and only ever in the cookie.

A session lasts `CHAT_SESSION_IDLE` unused (24 h: the cookie also ends with the browser),
or `CHAT_SESSION_REMEMBER` with "keep me signed in" (30 days, a persistent cookie); each
refresh starts the period again. It is good only while its user's token version is the
one it was made with: a password change or ``POST /logout-everywhere`` ends every session
(on every instance: the table is the truth, and the revocation sweep closes the
WebSockets, `chat.app.accounts.revocations`). ``POST /logout`` ends one.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from chat.core.errors import ACCOUNT_DEACTIVATED, InvalidToken, NotFound
from chat.core.session_records import SessionRecord

if TYPE_CHECKING:
    from chat.app.accounts.auth import Tokens
    from chat.core.records import Identity, User
    from chat.store import Accounts, Sessions

log = logging.getLogger(__name__)

#: How long the secret before the current one stays good after a rotation (seconds).
GRACE_S = 30
#: The cookie's names: with the ``__Host-`` prefix over HTTPS (the browser then insists
#: on Secure, Path=/ and no Domain, so no subdomain can set or shadow it), plain over
#: HTTP (where a browser refuses the prefix).
SECURE_COOKIE = "__Host-chat_session"
PLAIN_COOKIE = "chat_session"
#: ``<id>.<secret>``: base64url, 16 and 32 random bytes.
_COOKIE_VALUE = re.compile(r"([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})")

#: How many sessions `BrowserSessions.sessions` lists at most, and how much of a
#: User-Agent is kept as a session's device.
MAX_LISTED = 100
MAX_DEVICE_CHARS = 200

#: Why a session cookie was refused (the 401's error, a WebSocket refusal's).
NO_SESSION = "not signed in: no session (log in)"
SESSION_ENDED = "the session has ended: log in again"


class LogoutService(Protocol):
    """What sessions need of `chat.app.service.ChatService`: ending every token of a
    user, and closing the WebSockets of one session."""

    async def logout_everywhere(self, identity: Identity) -> None: ...

    async def session_ended(self, user_id: int, session_id: str) -> None: ...

    async def require_enrolled(self, user: User | None) -> None:
        """`Forbidden` for a person without a second factor when the server requires one."""


class Verdict(enum.Enum):
    """What a presented secret is worth (`judge`)."""

    CURRENT = "current"
    GRACE = "previous, within the grace period"
    REUSED = "rotated already: the cookie was copied"
    ENDED = "ended"


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def judge(record: SessionRecord, presented_hash: str, now: int, *, grace: int = GRACE_S) -> Verdict:
    """What `presented_hash` (a secret's `secret_hash`) is worth for the session `record`
    at `now` (Unix seconds). The token version is the caller's to check."""
    if record.revoked_at is not None or record.expires_at <= now:
        return Verdict.ENDED
    if hmac.compare_digest(record.secret_hash, presented_hash):
        return Verdict.CURRENT
    previous = record.previous_hash
    just_before = previous is not None and hmac.compare_digest(previous, presented_hash)
    if just_before and now - record.rotated_at <= grace:
        return Verdict.GRACE
    return Verdict.REUSED


def parse_cookie(value: str | None) -> tuple[str, str] | None:
    """The (session id, secret) in a cookie value, or None if it is not one."""
    if value is None:
        return None
    match = _COOKIE_VALUE.fullmatch(value.strip())
    return (match[1], match[2]) if match else None


@dataclass(frozen=True, slots=True)
class Granted:
    """What a login or a refresh hands the browser."""

    user: User
    #: A short-lived access token, for the Authorization header (and nothing else).
    token: str
    #: The new cookie value, or None when the cookie stays as it is (a grace refresh).
    cookie: str | None
    remember: bool
    #: The cookie's Max-Age: None for a cookie that ends with the browser.
    max_age: int | None


if TYPE_CHECKING:

    class SessionStore(Sessions, Accounts, Protocol):
        """The roles `BrowserSessions` uses."""


class BrowserSessions:
    """Starts, refreshes, checks and ends browser sessions. Holds no state of its own:
    every instance reads the same table, so a session made on one works on all."""

    def __init__(
        self,
        store: SessionStore,
        tokens: Tokens,
        service: LogoutService,
        *,
        token_ttl: int,
        idle: int,
        remember: int,
        grace: int = GRACE_S,
    ) -> None:
        self._store = store
        self._tokens = tokens
        self._service = service
        self._token_ttl = token_ttl
        self._idle = idle
        self._remember = remember
        self._grace = grace

    def _lifetime(self, remember: bool) -> int:
        return self._remember if remember else self._idle

    def _granted(self, user: User, session_id: str, cookie: str | None, remember: bool) -> Granted:
        token = self._tokens.issue(
            user.id, user.name, user.token_version, ttl=self._token_ttl, session_id=session_id
        )
        return Granted(user, token, cookie, remember, self._remember if remember else None)

    async def start(self, user: User, *, remember: bool, device: str | None = None) -> Granted:
        """A new session for `user`, who just proved who they are, from `device` (the
        browser's User-Agent: kept cut short, printable characters only)."""
        session_id = secrets.token_urlsafe(16)
        secret = secrets.token_urlsafe(32)
        now = int(time.time())
        await self._store.create_session(
            SessionRecord(
                id=session_id,
                user_id=user.id,
                secret_hash=secret_hash(secret),
                previous_hash=None,
                generation=0,
                token_version=user.token_version,
                remember=remember,
                created_at=now,
                rotated_at=now,
                last_used_at=now,
                expires_at=now + self._lifetime(remember),
                revoked_at=None,
                device=device_name(device),
            )
        )
        return self._granted(user, session_id, f"{session_id}.{secret}", remember)

    async def _check(self, cookie: str | None) -> tuple[SessionRecord, User, Verdict, str]:
        """The session a cookie names, its user, what the cookie's secret is worth (never
        `ENDED`) and the secret's hash; `InvalidToken` if it names none, or one that has
        ended. A reused secret revokes the session first."""
        parsed = parse_cookie(cookie)
        if parsed is None:
            raise InvalidToken(NO_SESSION)
        session_id, secret = parsed
        record = await self._store.session(session_id)
        if record is None:
            raise InvalidToken(SESSION_ENDED)
        presented = secret_hash(secret)
        now = int(time.time())
        verdict = judge(record, presented, now, grace=self._grace)
        if verdict is Verdict.REUSED:
            await self._store.revoke_session(record.id, now=now)
            # (Nothing of the cookie in the line: the user and the generation only.)
            log.warning(
                "a session of user %d revoked: a rotated secret was presented again"
                " (generation %d is current)",
                record.user_id,
                record.generation,
            )
            raise InvalidToken(SESSION_ENDED)
        if verdict is Verdict.ENDED:
            raise InvalidToken(SESSION_ENDED)
        user = await self._store.user_by_id(record.user_id)
        if user is None or user.token_version != record.token_version:
            raise InvalidToken(SESSION_ENDED)
        if not user.active:
            raise InvalidToken(ACCOUNT_DEACTIVATED)
        return record, user, verdict, presented

    async def refresh(self, cookie: str | None) -> Granted:
        """A new access token for the session the cookie names, and a new cookie (the
        secret rotated) unless the cookie's secret is the previous one, within the grace
        period. `InvalidToken` if the session has ended (or just ended: a reused secret)."""
        record, user, verdict, presented = await self._check(cookie)
        if verdict is Verdict.GRACE:
            return self._granted(user, record.id, None, record.remember)
        secret = secrets.token_urlsafe(32)
        now = int(time.time())
        rotated = await self._store.rotate_session(
            record.id,
            presented,
            secret_hash(secret),
            now=now,
            expires_at=now + self._lifetime(record.remember),
        )
        if not rotated:
            # Another refresh of the same secret won the compare-and-swap (here or on
            # another instance) a moment ago: judged again, this one is in its grace.
            return await self.refresh(cookie)
        return self._granted(user, record.id, f"{record.id}.{secret}", record.remember)

    async def identify(self, cookie: str | None) -> Identity:
        """Who the cookie's session belongs to, without rotating anything (a WebSocket's
        upgrade request: it cannot take a new cookie). `InvalidToken` as `refresh`;
        `Forbidden` for a person without a second factor when the server requires one."""
        from chat.core.records import Identity

        record, user, _, _ = await self._check(cookie)
        await self._service.require_enrolled(user)
        return Identity(user.id, user.name, user.is_admin, user.token_version, record.id)

    async def end(self, cookie: str | None) -> None:
        """End the cookie's session (``POST /logout``); nothing if it has none, or one
        that ended already."""
        try:
            record, _, _, _ = await self._check(cookie)
        except InvalidToken:
            return
        await self._store.revoke_session(record.id, now=int(time.time()))

    async def end_all(self, identity: Identity) -> None:
        """End every session of the user's and revoke every token they were issued
        (``POST /logout-everywhere``): their WebSockets close, on every instance."""
        await self._store.revoke_user_sessions(identity.user_id, now=int(time.time()))
        await self._service.logout_everywhere(identity)

    async def sessions(self, identity: Identity) -> list[SessionRecord]:
        """The caller's sessions that have not ended, most recently used first (at most
        `MAX_LISTED`)."""
        return await self._store.user_sessions(
            identity.user_id,
            now=int(time.time()),
            token_version=identity.token_version,
            limit=MAX_LISTED,
        )

    async def end_one(self, identity: Identity, session_id: str) -> None:
        """End one of the caller's sessions (``DELETE /sessions/{id}``): its cookie is
        refused from now on, and the WebSockets it opened close, on every instance.
        `NotFound` if the caller has no such session that has not ended."""
        if not await self._store.revoke_own_session(
            session_id, identity.user_id, now=int(time.time())
        ):
            raise NotFound(f"you have no session {session_id} that has not ended")
        await self._service.session_ended(identity.user_id, session_id)


def device_name(user_agent: str | None) -> str | None:
    """What a session's list shows of the browser it was started from: its User-Agent,
    printable ASCII only, at most `MAX_DEVICE_CHARS` (None: none was sent)."""
    if user_agent is None:
        return None
    printable = "".join(ch for ch in user_agent if " " <= ch <= "~").strip()
    return printable[:MAX_DEVICE_CHARS] or None
