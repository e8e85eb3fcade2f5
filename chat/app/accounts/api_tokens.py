"""Personal access tokens (``POST/GET/DELETE /tokens``): making, listing and revoking
them, and who one proves (`ApiTokenService.identify`, asked by `ChatService.identify` for
a token of their form, chat/core/api_tokens.py).

A token is made with a login (a password's token or a browser session), never with
another token, and shown once. It acts as its user with its scopes until it expires or
is revoked; a password change or logging out everywhere leaves it standing (a CI job's
token should not stop with its owner's password), so each is revoked on its own.
Revoking one deletes its row: every request after it is refused on every instance (each
reads the row), and the WebSockets it opened are closed by `Revocations` (at once here,
as soon as the others hear, and at their next sweep anyway).
"""

from __future__ import annotations

import time
import unicodedata
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from chat.core.api_tokens import (
    MAX_NAME_CHARS,
    MAX_TOKENS_PER_USER,
    SCOPES,
    ApiToken,
    new_secret,
    parse,
    secret_hash,
    secret_matches,
)
from chat.core.errors import (
    ACCOUNT_DEACTIVATED,
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidToken,
    NotFound,
)
from chat.core.records import Identity, User
from chat.store import Accounts, ApiTokens, Bots

if TYPE_CHECKING:
    from chat.app.accounts.bots import BotService
    from chat.app.accounts.revocations import Revocations


class ApiTokenStore(ApiTokens, Bots, Accounts, Protocol):
    """The tokens, and the users they act as."""


#: Why a token is refused (401): the same answer for one unknown, revoked or forged.
UNKNOWN_TOKEN = "unknown or revoked token"


class ApiTokenService:
    """Making, listing and revoking tokens, and identifying their bearers."""

    def __init__(self, store: ApiTokenStore, revocations: Revocations, bots: BotService) -> None:
        self._store = store
        self._revocations = revocations
        self._bots = bots

    async def create(
        self,
        identity: Identity,
        name: object,
        scopes: object,
        *,
        expires_at: datetime | None = None,
        for_user: int | None = None,
    ) -> tuple[ApiToken, str]:
        """A new token of the caller's, and its one showing (`name` and `scopes` as a
        client sent them: checked here); `for_user`: the id of a bot of the caller's, the
        token's user instead."""
        if identity.token_id is not None:
            raise Forbidden("a token is made with a login, not with another token")
        name = _name(name)
        chosen = _scopes(scopes)
        now = int(time.time())
        expires = None
        if expires_at is not None:
            expires = int(expires_at.timestamp())
            if expires <= now:
                raise InvalidInput('"ExpiresAt" must be in the future')
        token_id, secret, token = new_secret()
        user_id = identity.user_id
        if for_user is not None and for_user != identity.user_id:
            user_id = (await self._bots.owned(identity, for_user)).id
        record = ApiToken(token_id, user_id, name, chosen, now, expires)
        stored = replace(record, secret_hash=secret_hash(secret))
        if not await self._store.add_api_token(stored, most=MAX_TOKENS_PER_USER):
            raise Conflict(f"you hold {MAX_TOKENS_PER_USER} tokens: revoke one first")
        return record, token

    async def tokens(self, identity: Identity) -> list[ApiToken]:
        """The caller's tokens and their bots', the newest first, without secrets."""
        tokens = await self._store.api_tokens_of(await self._users_of(identity))
        return [replace(token, secret_hash="") for token in tokens]

    async def revoke(self, identity: Identity, token_id: str) -> None:
        """Revoke a token of the caller's or their bots' (`NotFound` if none such)."""
        whose = await self._store.delete_api_token(token_id, await self._users_of(identity))
        if whose is None:
            raise NotFound(f"no token {token_id!r} of yours")
        await self._revocations.token_revoked(whose, token_id)

    async def _users_of(self, identity: Identity) -> list[int]:
        """The caller, and their bots."""
        bots = await self._store.bots(identity.user_id)
        return [identity.user_id, *(bot.id for bot in bots)]

    async def identify(self, token: str) -> Identity:
        """Who `token` (of the personal access tokens' form) proves, or `InvalidToken`."""
        parsed = parse(token)
        if parsed is None:
            raise InvalidToken(UNKNOWN_TOKEN)
        token_id, secret = parsed
        record = await self._store.api_token(token_id)
        if record is None or not secret_matches(secret, record.secret_hash):
            raise InvalidToken(UNKNOWN_TOKEN)
        if record.expired(time.time()):
            raise InvalidToken("token has expired")
        user = await self._store.user_by_id(record.user_id)
        if user is None:
            raise InvalidToken("token names an unknown user")
        if not user.active or not await self._owner_active(user):
            raise InvalidToken(ACCOUNT_DEACTIVATED)
        return Identity(
            user.id,
            user.name,
            user.is_admin and "admin" in record.scopes,
            user.token_version,
            token_id=record.token_id,
            scopes=record.scopes,
        )

    async def _owner_active(self, user: User) -> bool:
        """Whether a bot's owner is active (a person has no owner: True). A deactivated
        owner's bots stop with them."""
        if user.owner_id is None:
            return True
        owner = await self._store.user_by_id(user.owner_id)
        return owner is not None and owner.active


def _name(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput('"Name" must be a string')
    value = value.strip()
    if not value or len(value) > MAX_NAME_CHARS:
        raise InvalidInput(f'"Name" must be 1-{MAX_NAME_CHARS} characters')
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise InvalidInput('"Name" must not contain control characters')
    return value


def _scopes(values: object) -> frozenset[str]:
    if not isinstance(values, list) or not values:
        raise InvalidInput(f'"Scopes" must be a non-empty list of {", ".join(SCOPES)}')
    unknown = [v for v in values if v not in SCOPES]
    if unknown:
        raise InvalidInput(f"unknown scope {unknown[0]!r}: the scopes are {', '.join(SCOPES)}")
    return frozenset(values)
