"""Single sign-on with OpenID Connect (`SingleSignOn`): the authorization code flow with
PKCE, for the providers of `CHAT_OIDC_PROVIDERS`.

A sign-in is two requests, which may land on different instances of a cluster:

1. ``GET /oidc/{Name}/login`` (`begin`): a state, a nonce and a PKCE verifier, random,
   kept in the database (`OidcLinks.begin_oidc_login`) under the state's SHA-256 with
   the SHA-256 of a cookie that binds the sign-in to this browser; the browser is sent
   to the provider's authorization endpoint.
2. ``GET /oidc/{Name}/callback`` (`finish`): the state's sign-in taken back, deleted as
   it is read (one use: a callback replayed, or a nonce used again, finds none), from the
   same browser (its cookie), within `LOGIN_TTL_S`; the code exchanged (with the
   verifier and the client's secret); the ID token checked
   (`chat.app.accounts.oidc_provider`); the account found by (issuer, ``sub``), never by
   e-mail, or made through the one registration path (`register`, under its rules);
   then a browser session started, as a password login starts one.

Every failure is a `SignInFailed` with what to tell the person; the route logs it once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from typing import TYPE_CHECKING, Any, Protocol

from chat.app.accounts.oidc_provider import ProviderClient
from chat.core.errors import AccountDeactivated, ChatError, Conflict, InvalidInput, RateLimited
from chat.core.oidc import OidcProvider, PendingLogin, SignInFailed, name_candidates, pkce_challenge
from chat.net.outbound import HostAllowList, OutboundHttp
from chat.store.database import UniqueViolation

if TYPE_CHECKING:
    from collections.abc import Sequence

    from chat.app.accounts.sessions import BrowserSessions, Granted
    from chat.app.limits.rate_limits import RateLimits
    from chat.core.records import User
    from chat.store import Accounts, OidcLinks

log = logging.getLogger(__name__)

#: How long a sign-in may take at the provider (seconds).
LOGIN_TTL_S = 600
#: A request to a provider: its one deadline (seconds).
PROVIDER_TIMEOUT_S = 10
#: What a browser's sign-in cookie, a state and a code may be.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
MAX_CODE_CHARS = 2048


class Registrar(Protocol):
    """What single sign-on needs of `chat.app.service.ChatService`: the one
    registration path, for a first sign-in."""

    async def register(
        self, name: str, password: str, *, address: str | None, single_sign_on: bool
    ) -> User: ...


if TYPE_CHECKING:

    class OidcStore(OidcLinks, Accounts, Protocol):
        """The roles `SingleSignOn` uses."""


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def browser_secret(cookie: str | None) -> str:
    """The browser's sign-in cookie if it holds one already (two tabs signing in at
    once keep theirs), else a new one."""
    if cookie is not None and _TOKEN.fullmatch(cookie):
        return cookie
    return secrets.token_urlsafe(32)


class SingleSignOn:
    """Begins and finishes sign-ins with the configured providers. Holds caches only
    (each provider's discovery document and keys): the sign-ins are in the store."""

    def __init__(
        self,
        store: OidcStore,
        registrar: Registrar,
        sessions: BrowserSessions,
        rate_limits: RateLimits,
        providers: Sequence[OidcProvider],
        *,
        http: OutboundHttp | None = None,
    ) -> None:
        self._store = store
        self._registrar = registrar
        self._sessions = sessions
        self._rate_limits = rate_limits
        # The issuers' own host:port are reachable though private (an intranet's
        # provider, the tests' on loopback); nothing else private is.
        allowed = HostAllowList.of(provider.host_port for provider in providers)
        http = http or OutboundHttp(allowed, timeout_s=PROVIDER_TIMEOUT_S)
        self._clients = {p.name.lower(): ProviderClient(p, http) for p in providers}

    @property
    def names(self) -> list[str]:
        """The providers' names, in the setting's order (the login view's buttons)."""
        return [client.provider.name for client in self._clients.values()]

    def provider(self, name: str) -> OidcProvider | None:
        client = self._clients.get(name.lower())
        return None if client is None else client.provider

    def _client(self, name: str) -> ProviderClient:
        client = self._clients.get(name.lower())
        if client is None:
            raise SignInFailed("no such single sign-on provider")
        return client

    async def begin(self, name: str, *, redirect_uri: str, browser: str, address: str) -> str:
        """Begin a sign-in with provider `name` from the browser holding the cookie
        `browser` (`browser_secret`): the URL to send it to. Counted as a login attempt
        from `address` (each keeps a row for minutes)."""
        client = self._client(name)
        try:
            self._rate_limits.hit(self._rate_limits.login, address)
        except RateLimited as error:
            raise SignInFailed(str(error)) from None
        state = secrets.token_urlsafe(32)
        nonce = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)
        # The provider first: if it cannot be reached, nothing is stored.
        url = await client.authorization_url(
            redirect_uri=redirect_uri, state=state, nonce=nonce, challenge=pkce_challenge(verifier)
        )
        now = int(time.time())
        login = PendingLogin(
            state_hash=_sha256(state),
            provider=client.provider.name,
            browser_hash=_sha256(browser),
            nonce=nonce,
            verifier=verifier,
            expires_at=now + LOGIN_TTL_S,
        )
        await self._store.begin_oidc_login(login, now=now)
        return url

    async def finish(
        self,
        name: str,
        query: dict[str, str],
        *,
        browser: str | None,
        redirect_uri: str,
        address: str,
        device: str | None,
    ) -> Granted:
        """Finish the sign-in the callback's `query` (``state``, then ``code`` or the
        provider's ``error``, and ``iss`` if the provider sends it) names, from the
        browser whose sign-in cookie is `browser`: a new browser session, for the
        account linked to the provider's subject (made at its first sign-in).
        `SignInFailed` says why not."""
        client = self._client(name)
        state = query.get("state", "")
        if not _TOKEN.fullmatch(state):
            raise SignInFailed("the provider sent back no state of a sign-in begun here")
        # Taken (deleted) first, whatever follows: a state is good for one callback.
        login = await self._store.take_oidc_login(_sha256(state))
        if login is None:
            raise SignInFailed("this sign-in is unknown or finished already: start again")
        if browser is None or not hmac.compare_digest(login.browser_hash, _sha256(browser)):
            raise SignInFailed("this sign-in was begun in another browser: start again")
        if login.provider.lower() != name.lower():
            raise SignInFailed("this sign-in was begun with another provider")
        if login.expires_at <= int(time.time()):
            raise SignInFailed("this sign-in took too long: start again")
        if "iss" in query and query["iss"] != client.provider.issuer:
            # RFC 9207: the answer names who sent it; another provider's is a mix-up.
            raise SignInFailed("the answer came from another issuer than the one asked (iss)")
        if "error" in query:
            error = "".join(ch for ch in query["error"][:40] if ch.isalpha() or ch == "_")
            raise SignInFailed(f"{client.provider.name} did not sign you in ({error})")
        code = query.get("code", "")
        if not 0 < len(code) <= MAX_CODE_CHARS:
            raise SignInFailed("the provider sent back no code")
        tokens = await client.exchange(code, verifier=login.verifier, redirect_uri=redirect_uri)
        claims = await client.check_id_token(tokens["id_token"], nonce=login.nonce)
        user = await self._account(client, claims, tokens.get("access_token"), address)
        if not user.active:
            raise SignInFailed(str(AccountDeactivated()))
        return await self._sessions.start(user, remember=False, device=device)

    async def _account(
        self, client: ProviderClient, claims: dict[str, Any], access_token: object, address: str
    ) -> User:
        """The account the ID token's subject is linked to, or a new one linked to it."""
        issuer, subject = client.provider.issuer, claims["sub"]
        user = await self._store.oidc_user(issuer, subject)
        if user is not None:
            return user
        claim = client.provider.username_claim
        wanted = claims.get(claim)
        if wanted is None:
            wanted = (await client.user_info(access_token, subject)).get(claim)
        user = await self._register(name_candidates(wanted), address)
        try:
            await self._store.link_oidc(issuer, subject, user.id, now=int(time.time()))
        except UniqueViolation:
            # Another callback of the same subject linked its new account a moment
            # ago: that one is theirs (this one stays, unused, for an operator).
            linked = await self._store.oidc_user(issuer, subject)
            if linked is None:
                raise SignInFailed("the account could not be linked: try again") from None
            log.warning("user %d was made for a sign-in another one beat to it", user.id)
            return linked
        log.info("user %d made at their first sign-in with %s", user.id, client.provider.name)
        return user

    async def _register(self, candidates: list[str], address: str) -> User:
        """A new account under the first of `candidates` free (a random password nobody
        knows), through the registration path and its rules."""
        last_problem = "no name could be made from the provider's"
        for name in candidates:
            if await self._store.user_like_name(name) is not None:
                continue
            try:
                return await self._registrar.register(
                    name, secrets.token_urlsafe(32), address=address, single_sign_on=True
                )
            except (Conflict, InvalidInput) as error:
                last_problem = str(error)  # taken meanwhile, held, reserved: the next
            except ChatError as error:
                raise SignInFailed(f"no account could be made: {error}") from None
        raise SignInFailed(f"no account could be made: {last_problem}")
