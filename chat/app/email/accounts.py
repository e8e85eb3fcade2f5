"""Verified e-mail addresses and password resets by one-time links.

A link carries a random token in its fragment (``/#verify-email=...``,
``/#reset-password=...``): browsers never send a fragment to the server, so neither our
access log nor a mail scanner that fetches the link sees it, and fetching it changes
nothing. The page it opens asks the person to press a button, which POSTs the token
(``POST /email/verify``, ``POST /password-reset/{token}``). The database keeps only each
token's SHA-256; a token works once (deleted as it is used), expires (a day to verify, an
hour to reset), and a new link of the same purpose replaces the user's earlier one.

A reset request (`request_reset`) answers the same whether the address is known or not;
only a verified address of an active account is mailed. `reset_link` makes a link
without mailing it: what an operator's console hands an operator.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from chat.app.limits.rate_limits import RateLimits
from chat.core import validation
from chat.core.errors import EmailTaken, InvalidInput, NotFound, Unavailable
from chat.core.mail import (
    RESET_LINK_SECONDS,
    VERIFY_LINK_SECONDS,
    Mail,
    new_link_token,
    reset_mail,
    token_hash,
    verify_mail,
)
from chat.core.records import Identity
from chat.store import Accounts, Email

log = logging.getLogger(__name__)

VERIFY = "verify"
RESET = "reset"
#: What a link that does not work is told: unknown, used and expired alike.
LINK_NOT_VALID = "this link is not valid: it was used already, it expired, or it was replaced"
NO_EMAIL = "this server sends no e-mail (CHAT_SMTP_URL is not set)"
#: The longest token a link may carry (ours are 43 characters).
MAX_TOKEN_CHARS = 128


class EmailStore(Accounts, Email, Protocol):
    """What this module needs of the store."""


class MailQueue(Protocol):
    """What this module needs of `chat.app.email.mailer.Mailer`."""

    @property
    def enabled(self) -> bool: ...

    def send_nowait(self, mail: Mail) -> bool: ...


class EmailAccounts:
    """Addresses, verification links and reset links; starts no task."""

    def __init__(
        self,
        store: EmailStore,
        mailer: MailQueue,
        *,
        hash_password: Callable[[str, str], Awaitable[str]],
        revoked: Callable[[int], Awaitable[None]],
        rate_limits: RateLimits,
    ) -> None:
        self.store = store
        self.mailer = mailer
        self._hash = hash_password
        self._revoked = revoked
        self.rate_limits = rate_limits

    def _require_mail(self) -> None:
        if not self.mailer.enabled:
            raise Unavailable(NO_EMAIL)

    def _count_mail(self, email: str, address: str) -> None:
        # Counted before anything is looked up: the limit says nothing of the address.
        self.rate_limits.hit(self.rate_limits.emails, f"client:{address}")
        self.rate_limits.hit(self.rate_limits.emails, f"to:{email}")

    async def state(self, identity: Identity) -> dict[str, object]:
        """``GET /me/email``: the address, whether verified, the digest switch."""
        found = await self.store.email_state(identity.user_id)
        if found is None:
            raise NotFound("your account")
        _, email, verified, digest = found
        return {
            "Email": email,
            "Verified": verified,
            "Digest": digest and verified,
            "MailEnabled": self.mailer.enabled,
        }

    async def _link(self, user_id: int, purpose: str, email: str, base_url: str) -> str:
        token = new_link_token()
        now = datetime.now(UTC)
        seconds = VERIFY_LINK_SECONDS if purpose == VERIFY else RESET_LINK_SECONDS
        await self.store.add_email_token(
            token_hash(token),
            user_id,
            purpose,
            email,
            created=now,
            expires=now + timedelta(seconds=seconds),
        )
        page = "verify-email" if purpose == VERIFY else "reset-password"
        return f"{base_url.rstrip('/')}/#{page}={token}"

    def _queue(self, mail: Mail) -> None:
        if not self.mailer.send_nowait(mail):
            raise Unavailable("too many mails are waiting to be sent: try again later")

    async def request_verification(
        self, identity: Identity, email: str, *, base_url: str, address: str
    ) -> None:
        """``PUT /me/email``: mail a verification link to `email`; following it makes
        it the caller's verified address (until then the current one stays)."""
        self._require_mail()
        email = validation.email(email)
        holder = await self.store.user_by_email(email)
        if holder is not None and holder.id != identity.user_id:
            raise EmailTaken()
        self._count_mail(email, address)
        found = await self.store.email_state(identity.user_id)
        if found is None:
            raise NotFound("your account")
        url = await self._link(identity.user_id, VERIFY, email, base_url)
        self._queue(verify_mail(email, found[0], url))

    async def verify(self, token: str) -> str:
        """``POST /email/verify``: the token's address becomes its user's, verified."""
        if len(token) > MAX_TOKEN_CHARS:
            raise NotFound(LINK_NOT_VALID)
        now = datetime.now(UTC)
        taken = await self.store.take_email_token(token_hash(token), VERIFY, now)
        if taken is None or not await self.store.verify_email(*taken, now):
            raise NotFound(LINK_NOT_VALID)
        return taken[1]

    async def set_digest(self, identity: Identity, on: bool) -> None:
        if not await self.store.set_email_digest(identity.user_id, on):
            raise NotFound("your account")

    async def reset_link(self, user_id: int, *, base_url: str) -> str:
        """A new password-reset link for the user (replacing any earlier one), not
        mailed: for an operator to hand over. `NotFound` if there is no such user."""
        found = await self.store.email_state(user_id)
        if found is None:
            raise NotFound(f"no user with UID {user_id}")
        return await self._link(user_id, RESET, found[1] or "", base_url)

    async def request_reset(self, email: str, *, base_url: str, address: str) -> None:
        """``POST /password-reset``: mail a reset link if `email` is the verified
        address of an active account; otherwise nothing, and the caller cannot tell."""
        self._require_mail()
        try:
            email = validation.email(email)
        except InvalidInput:
            return  # no account has it: answered as any unknown address is
        self._count_mail(email, address)
        found = await self.store.user_by_verified_email(email)
        if found is None:
            return
        user_id, name = found
        url = await self._link(user_id, RESET, email, base_url)
        if not self.mailer.send_nowait(reset_mail(email, name, url)):
            log.warning("a password-reset mail was not queued: the queue is full")

    async def reset_password(self, token: str, password: str, *, address: str) -> str:
        """``POST /password-reset/{token}``: set the password once, and end every
        session and token of the user's on every instance. Returns the user's name."""
        validation.new_password(password)
        if len(token) > MAX_TOKEN_CHARS:
            raise NotFound(LINK_NOT_VALID)
        taken = await self.store.take_email_token(token_hash(token), RESET, datetime.now(UTC))
        if taken is None:
            raise NotFound(LINK_NOT_VALID)
        new_hash = await self._hash(password, address)
        user = await self.store.set_password(taken[0], new_hash)
        if user is None:
            raise NotFound(LINK_NOT_VALID)
        # set_password moved the user's token version: tokens and browser sessions are
        # refused from now on; this closes their open WebSockets on every instance.
        await self._revoked(user.id)
        return user.name
