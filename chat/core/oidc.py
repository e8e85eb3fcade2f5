"""Single sign-on with OpenID Connect, the parts with no I/O: the providers an operator
configures (`CHAT_OIDC_PROVIDERS`), PKCE's challenge, and the user name an account made
at its first sign-in is given.

`OidcProvider`'s fields are the setting's keys: ``Name`` (in the routes,
``/oidc/{Name}/login``), ``Issuer`` (its discovery document is
``{Issuer}/.well-known/openid-configuration``; the ID token's ``iss`` must be exactly
it), ``ClientID`` and ``ClientSecret`` (registered at the provider, the secret sent to
its token endpoint only) and ``UsernameClaim`` (the claim a new account's name is made
from: ``preferred_username`` unless said).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import urlsplit

#: How many providers one server may name, and how long each field may be.
MAX_PROVIDERS = 10
MAX_FIELD_CHARS = 500
#: A provider's name: in URLs, on buttons.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
_CLAIM = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
_KEYS = ("Name", "Issuer", "ClientID", "ClientSecret", "UsernameClaim")
#: The user name given when the claim gives nothing usable.
FALLBACK_NAME = "user"
#: How much of the claim a name keeps (room for a ``-NN`` that makes it unique).
_NAME_CHARS = 24


class SignInFailed(Exception):
    """A single sign-on did not sign anyone in; says why, in words safe to show the
    person signing in (nothing of a token, a secret or a stack)."""


@dataclass(frozen=True, slots=True)
class OidcProvider:
    """One configured OpenID Provider (the setting's entry, checked)."""

    name: str
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    username_claim: str = "preferred_username"

    @property
    def host_port(self) -> str:
        """The issuer's ``host:port``, which the server may reach though it is private."""
        parts = urlsplit(self.issuer)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = parts.hostname or ""
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class PendingLogin:
    """A sign-in begun and not yet finished, as stored: the state's and the browser
    cookie's SHA-256 (hex), and the nonce and PKCE verifier (used once, minutes long)."""

    state_hash: str
    provider: str
    browser_hash: str
    nonce: str = field(repr=False)
    verifier: str = field(repr=False)
    expires_at: int


def parse_providers(text: str) -> tuple[OidcProvider, ...]:
    """`CHAT_OIDC_PROVIDERS`: a JSON list of objects with the keys of `OidcProvider`'s
    setting, or empty (no single sign-on). `ValueError` naming the entry and what is
    wrong with it."""
    if not text.strip():
        return ()
    try:
        entries = json.loads(text)
    except ValueError:
        raise ValueError(
            'must be a JSON list of {"Name", "Issuer", "ClientID", "ClientSecret",'
            ' "UsernameClaim"?} objects'
        ) from None
    if not isinstance(entries, list) or not entries:
        raise ValueError("must be a non-empty JSON list of provider objects")
    if len(entries) > MAX_PROVIDERS:
        raise ValueError(f"must name at most {MAX_PROVIDERS} providers")
    providers = tuple(_provider(index, entry) for index, entry in enumerate(entries))
    names = [provider.name.lower() for provider in providers]
    if len(set(names)) != len(names):
        raise ValueError("must give each provider a Name of its own")
    return providers


def _provider(index: int, entry: object) -> OidcProvider:
    where = f"entry {index}"
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be an object")
    unknown = sorted(set(entry) - set(_KEYS))
    if unknown:
        raise ValueError(f"{where} has unknown keys {unknown} (known: {', '.join(_KEYS)})")
    for key in _KEYS:
        value = entry.get(key)
        if key == "UsernameClaim" and value is None:
            continue
        if not isinstance(value, str) or not value or len(value) > MAX_FIELD_CHARS:
            raise ValueError(
                f"{where}: {key} must be a string of 1 to {MAX_FIELD_CHARS} characters"
            )
    name = entry["Name"]
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"{where}: Name must be 1 to 32 letters, digits, '-' or '_' (it is in URLs)"
        )
    issuer = entry["Issuer"]
    parts = urlsplit(issuer)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"{where} ({name}): Issuer must be an https:// URL without query")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"{where} ({name}): Issuer must be https:// (http only on loopback)")
    claim = entry.get("UsernameClaim") or "preferred_username"
    if not _CLAIM.fullmatch(claim):
        raise ValueError(f"{where} ({name}): UsernameClaim is not a claim name")
    return OidcProvider(name, issuer.rstrip("/"), entry["ClientID"], entry["ClientSecret"], claim)


def pkce_challenge(verifier: str) -> str:
    """PKCE's S256 code challenge of `verifier` (RFC 7636 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def name_candidates(claim: object, *, tries: int = 20) -> list[str]:
    """User names to try, in turn, for an account made from a provider's `claim` (its
    `UsernameClaim`): the claim cut to the letters, digits, ``.``, ``-`` and ``_`` of it
    (an e-mail address to its part before ``@``), then the same with ``-2``, ``-3``...
    so that a name taken already gives the next. `FALLBACK_NAME` when nothing is left.
    The names are checked by the registration as any other (`chat.core.names`)."""
    text = claim if isinstance(claim, str) else ""
    text = unicodedata.normalize("NFKC", text).partition("@")[0]
    kept = "".join(ch for ch in text if ch.isalnum() or ch in "._-").strip("._-")
    base = kept[:_NAME_CHARS] or FALLBACK_NAME
    return [base] + [f"{base}-{number}" for number in range(2, tries + 1)]
