"""The e-mail components one server runs (`email_parts`): the mailer and the digests,
each a task for serve()'s root nursery, and the links' service, which has none."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from chat.app.accounts.auth import Passwords
from chat.app.email.accounts import EmailAccounts, EmailStore
from chat.app.email.digest import Digests
from chat.app.email.mailer import Mailer, mail_sender
from chat.app.limits.rate_limits import RateLimits
from chat.core.config import Config
from chat.core.task_failures import TaskFailures


@dataclass(frozen=True, slots=True)
class EmailParts:
    mailer: Mailer
    accounts: EmailAccounts
    digests: Digests


def email_parts(
    config: Config,
    store: EmailStore,
    passwords: Passwords,
    revoked: Callable[[int], Awaitable[None]],
    rate_limits: RateLimits,
    failures: TaskFailures,
) -> EmailParts:
    """E-mail as `config` says (``CHAT_SMTP_URL`` unset: the mailer is off, the mailing
    routes answer 503, the digests wait)."""
    mailer = Mailer(config.smtp_url, mail_sender(config))

    async def hash_password(password: str, address: str) -> str:
        return await passwords.hash(password, address=address)

    accounts = EmailAccounts(
        store, mailer, hash_password=hash_password, revoked=revoked, rate_limits=rate_limits
    )
    digests = Digests(
        store,
        mailer,
        quiet_seconds=config.email_digest_seconds,
        public_url=config.public_url,
        failures=failures,
    )
    return EmailParts(mailer, accounts, digests)
