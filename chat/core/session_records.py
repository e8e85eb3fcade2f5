"""A browser session as the store keeps it (`chat.app.accounts.sessions` decides), and what
decides whether a user's tokens still stand (`TokenState`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A browser session as stored (sql/*/00NN_sessions.sql; `chat.app.accounts.sessions`
    decides)."""

    id: str
    user_id: int
    #: SHA-256 (hex) of the current secret, and of the one before it (None before the
    #: first rotation).
    secret_hash: str
    previous_hash: str | None
    #: How many times the secret was rotated.
    generation: int
    #: The user's token version when the session was made: good only while it is current.
    token_version: int
    remember: bool
    #: Unix seconds.
    created_at: int
    rotated_at: int
    last_used_at: int
    expires_at: int
    revoked_at: int | None
    #: The browser it was started from (its User-Agent, cut short; None: not known).
    device: str | None = None


@dataclass(frozen=True, slots=True)
class TokenState:
    """What decides whether a user's tokens still stand: their current token version,
    and whether the account is active (`chat.app.accounts.revocations`)."""

    version: int
    active: bool
