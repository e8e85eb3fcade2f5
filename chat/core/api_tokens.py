"""Personal access tokens: what one is, and the form of its secret.

A token reads ``chat_pat_<TokenID>_<secret>``: the id finds its row, the secret (32
random bytes, URL-safe base64) proves it. Only the secret's SHA-256 is stored (a secret
of 256 random bits needs no slow hash: nothing about it can be guessed), compared in
constant time. A token acts as its user with its scopes: ``read`` (read only: anything
that sends or changes is refused, 403), ``write``, and ``admin`` (an operator's powers,
worth nothing to a user who is not one).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from chat.core.errors import Forbidden
from chat.core.records import Identity

#: What every token starts with: a log scanner or a secret scanner can tell one.
PREFIX = "chat_pat_"
#: The scopes a token may have.
SCOPES = ("read", "write", "admin")
#: The most tokens one user may hold at once.
MAX_TOKENS_PER_USER = 50
#: The longest name a token may have.
MAX_NAME_CHARS = 100


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token as stored, without its secret. Times are Unix seconds."""

    token_id: str
    user_id: int
    name: str
    scopes: frozenset[str]
    created_at: int
    expires_at: int | None
    secret_hash: str = ""

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def new_secret() -> tuple[str, str, str]:
    """A new token's id, its secret, and the token a client is given once."""
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return token_id, secret, f"{PREFIX}{token_id}_{secret}"


def secret_hash(secret: str) -> str:
    """What is stored of a secret: its SHA-256, in hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse(token: str) -> tuple[str, str] | None:
    """(token id, secret) of a token of this form; None for anything else (a JWT)."""
    if not token.startswith(PREFIX):
        return None
    token_id, _, secret = token[len(PREFIX) :].partition("_")
    if len(token_id) != 16 or not secret or len(secret) > 100:
        return None
    return token_id, secret


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(secret_hash(secret), stored_hash)


def require_write(identity: Identity) -> None:
    """`Forbidden` for a read-only token (one without ``write``), whichever front door,
    dialect or operation asks to send or change something."""
    if not identity.may_write:
        raise Forbidden("this token may only read (its scopes lack write)")
