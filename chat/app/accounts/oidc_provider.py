"""One OpenID Provider as the server talks to it (`ProviderClient`): its discovery
document, its signing keys (JWKS), the code exchanged for tokens, and the ID token
checked.

Everything goes through `chat.net.outbound.OutboundHttp` (one deadline per request,
bounded bodies; the issuers' own ``host:port`` are on its allow-list). Nothing here
blocks Trio's thread: PyJWT only builds keys and checks signatures, in memory.

The keys: fetched once, kept, and fetched again when a token names a key id (``kid``)
the set does not hold (the provider rotated its keys), at most once per
`KEY_REFETCH_S` seconds, so tokens naming made-up key ids cannot make the server fetch
in a loop. Tasks that need the keys at the same moment share one fetch (the lock).
"""

from __future__ import annotations

import base64
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import jwt
import trio

from chat.core.oidc import OidcProvider, SignInFailed
from chat.net.outbound import OutboundError, OutboundHttp

#: The longest answer read from a provider (discovery, keys, tokens, user info).
MAX_ANSWER_BYTES = 256 * 1024
#: How long the discovery document is kept before it is read again (seconds).
METADATA_TTL_S = 3600
#: The shortest time between two fetches of the keys for unknown key ids (seconds).
KEY_REFETCH_S = 3.0
#: Clock skew allowed between the provider and this server (seconds).
LEEWAY_S = 30
#: The asymmetric signatures an ID token may carry (never "none", never HMAC).
ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_JSON = ("application/json", "application/jwk-set+json")


@dataclass(frozen=True, slots=True)
class Metadata:
    """What discovery said: the endpoints, and how the client authenticates."""

    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    secret_post: bool


def _endpoint(document: dict[str, Any], key: str, issuer: str) -> str:
    value = document.get(key)
    if not isinstance(value, str):
        raise SignInFailed(f"the provider's discovery document has no {key}")
    parts, own = urlsplit(value), urlsplit(issuer)
    if parts.scheme != "https" and not (parts.scheme == own.scheme == "http"):
        raise SignInFailed(f"the provider's {key} is not an https:// URL")
    return value


def _error_code(answer_body: bytes) -> str:
    """The OAuth ``error`` of a refusal, safe to show (letters and ``_`` only)."""
    try:
        error = json.loads(answer_body).get("error")
    except (ValueError, AttributeError):
        return "no error code"
    if not isinstance(error, str):
        return "no error code"
    return "".join(ch for ch in error[:40] if ch.isalpha() or ch == "_") or "no error code"


class ProviderClient:
    """The server's side of one provider: discovery, keys, the token exchange and the ID
    token's checks. Holds caches only: any instance can finish any sign-in."""

    def __init__(
        self,
        provider: OidcProvider,
        http: OutboundHttp,
        *,
        clock: Callable[[], float] = time.monotonic,
        key_refetch_s: float = KEY_REFETCH_S,
    ) -> None:
        self.provider = provider
        self._http = http
        self._clock = clock
        self._key_refetch_s = key_refetch_s
        self._metadata: tuple[float, Metadata] | None = None
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._keys_fetched_at: float | None = None
        self._lock = trio.Lock()

    async def _get_json(self, url: str, headers: list[tuple[str, str]] | None = None) -> Any:
        try:
            answer = await self._http.request(
                "GET",
                url,
                headers=headers or [("Accept", "application/json")],
                max_bytes=MAX_ANSWER_BYTES,
            )
        except OutboundError as error:
            raise SignInFailed(f"the provider could not be reached: {error}") from None
        if answer.status != 200:
            raise SignInFailed(f"the provider answered {answer.status} to {urlsplit(url).path}")
        try:
            return json.loads(answer.body)
        except ValueError:
            raise SignInFailed(f"the provider's {urlsplit(url).path} is not JSON") from None

    async def metadata(self) -> Metadata:
        """The discovery document's endpoints (read again after `METADATA_TTL_S`); its
        ``issuer`` must be exactly the configured one (OpenID Connect Discovery 4.3)."""
        cached = self._metadata
        if cached is not None and self._clock() - cached[0] < METADATA_TTL_S:
            return cached[1]
        issuer = self.provider.issuer
        document = await self._get_json(f"{issuer}/.well-known/openid-configuration")
        if not isinstance(document, dict) or document.get("issuer") != issuer:
            raise SignInFailed("the provider's discovery document names another issuer")
        methods = document.get("token_endpoint_auth_methods_supported")
        basic = not isinstance(methods, list) or "client_secret_basic" in methods
        userinfo = document.get("userinfo_endpoint")
        metadata = Metadata(
            authorization_endpoint=_endpoint(document, "authorization_endpoint", issuer),
            token_endpoint=_endpoint(document, "token_endpoint", issuer),
            jwks_uri=_endpoint(document, "jwks_uri", issuer),
            userinfo_endpoint=(
                _endpoint(document, "userinfo_endpoint", issuer) if userinfo else None
            ),
            secret_post=not basic and isinstance(methods, list) and "client_secret_post" in methods,
        )
        self._metadata = (self._clock(), metadata)
        return metadata

    async def authorization_url(
        self, *, redirect_uri: str, state: str, nonce: str, challenge: str
    ) -> str:
        """Where the browser is sent to sign in: the code flow, with PKCE (S256)."""
        metadata = await self.metadata()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.provider.client_id,
                "redirect_uri": redirect_uri,
                "scope": "openid profile email",
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        separator = "&" if urlsplit(metadata.authorization_endpoint).query else "?"
        return f"{metadata.authorization_endpoint}{separator}{query}"

    async def exchange(self, code: str, *, verifier: str, redirect_uri: str) -> dict[str, Any]:
        """The token endpoint's answer for `code` (with the PKCE verifier), the client
        authenticated by its secret (``client_secret_basic``, or ``_post`` when the
        provider supports only that)."""
        metadata = await self.metadata()
        provider = self.provider
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        headers = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/json"),
        ]
        if metadata.secret_post:
            form |= {"client_id": provider.client_id, "client_secret": provider.client_secret}
        else:
            # RFC 6749 2.3.1: each part form-encoded before the Basic encoding.
            pair = f"{quote(provider.client_id, safe='')}:{quote(provider.client_secret, safe='')}"
            basic = base64.b64encode(pair.encode("utf-8")).decode("ascii")
            headers.append(("Authorization", f"Basic {basic}"))
        try:
            answer = await self._http.request(
                "POST",
                metadata.token_endpoint,
                headers=headers,
                body=urlencode(form).encode("ascii"),
                max_bytes=MAX_ANSWER_BYTES,
            )
        except OutboundError as error:
            raise SignInFailed(f"the provider could not be reached: {error}") from None
        if answer.status != 200:
            raise SignInFailed(
                f"the provider refused the sign-in's code ({_error_code(answer.body)})"
            )
        try:
            tokens = json.loads(answer.body)
        except ValueError:
            raise SignInFailed("the provider's token answer is not JSON") from None
        if not isinstance(tokens, dict) or not isinstance(tokens.get("id_token"), str):
            raise SignInFailed("the provider sent no ID token")
        return tokens

    async def _fetch_keys(self) -> None:
        metadata = await self.metadata()
        document = await self._get_json(
            metadata.jwks_uri, [("Accept", "application/jwk-set+json, application/json")]
        )
        self._keys_fetched_at = self._clock()
        keys: dict[str | None, jwt.PyJWK] = {}
        for entry in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(entry)
            except (jwt.PyJWKError, jwt.InvalidKeyError):
                continue  # a key of a type this server does not use
            keys[key.key_id] = key
        self._keys = keys

    async def _key(self, kid: str | None) -> jwt.PyJWK:
        """The provider's key `kid` names (with no kid: its only key), fetching the keys
        again if it is unknown and the last fetch is `KEY_REFETCH_S` old."""
        found = self._known(kid)
        if found is not None:
            return found
        async with self._lock:
            # Another task may have fetched them while this one waited.
            found = self._known(kid)
            if found is not None:
                return found
            fetched = self._keys_fetched_at
            if fetched is None or self._clock() - fetched >= self._key_refetch_s:
                await self._fetch_keys()
                found = self._known(kid)
        if found is None:
            raise SignInFailed("the ID token is signed with a key the provider does not publish")
        return found

    def _known(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    async def check_id_token(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        """The ID token's claims, once its signature (the provider's published key),
        issuer, audience (this client; ``azp`` too when there are several), expiry and
        nonce (the one this sign-in sent) are right; `SignInFailed` saying which is not."""
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.InvalidTokenError:
            raise SignInFailed("the provider's ID token is not a JWT") from None
        algorithm = header.get("alg")
        kid = header.get("kid")
        if algorithm not in ALGORITHMS:
            raise SignInFailed(f"the ID token's algorithm is not accepted ({algorithm!s:.20})")
        if kid is not None and not isinstance(kid, str):
            raise SignInFailed("the ID token's key id is not a string")
        key = await self._key(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                algorithms=[algorithm],
                audience=self.provider.client_id,
                issuer=self.provider.issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise SignInFailed("the provider's ID token has expired") from None
        except jwt.InvalidAudienceError:
            raise SignInFailed("the ID token was issued to another client (audience)") from None
        except jwt.InvalidIssuerError:
            raise SignInFailed("the ID token comes from another issuer") from None
        except jwt.InvalidSignatureError:
            raise SignInFailed("the ID token's signature does not verify") from None
        except jwt.InvalidTokenError as error:
            raise SignInFailed(f"the ID token is not valid ({type(error).__name__})") from None
        audience = claims["aud"]
        several = isinstance(audience, list) and len(audience) > 1
        if several and claims.get("azp") != self.provider.client_id:
            raise SignInFailed("the ID token was issued to another client (azp)")
        sent = claims.get("nonce")
        if not isinstance(sent, str) or not hmac.compare_digest(
            sent.encode("utf-8"), nonce.encode("utf-8")
        ):
            raise SignInFailed("the ID token's nonce is not this sign-in's (a replay?)")
        subject = claims["sub"]
        if not isinstance(subject, str) or not 0 < len(subject) <= 255:
            raise SignInFailed("the ID token's subject is not 1 to 255 characters")
        return claims

    async def user_info(self, access_token: object, subject: str) -> dict[str, Any]:
        """The user info endpoint's claims (for a user name the ID token lacks), if the
        provider has one and they are of the same `subject`; else none."""
        metadata = await self.metadata()
        if metadata.userinfo_endpoint is None or not isinstance(access_token, str):
            return {}
        headers = [("Authorization", f"Bearer {access_token}"), ("Accept", "application/json")]
        info = await self._get_json(metadata.userinfo_endpoint, headers)
        if not isinstance(info, dict) or info.get("sub") != subject:
            return {}
        return info
