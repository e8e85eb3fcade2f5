"""The settings of e-mail (`chat.app.email`): the third part of `chat.core.settings.SETTINGS`."""

from __future__ import annotations

from chat.core import setting_values as value
from chat.core.setting_values import Setting

EMAIL: tuple[Setting, ...] = (
    Setting(
        "smtp_url",
        "CHAT_SMTP_URL",
        None,
        value.smtp_url,
        "The SMTP server mail goes through: `smtp://[user:password@]host[:port]` (STARTTLS "
        "when the server offers it) or `smtps://...` (TLS from the start). Unset: no e-mail "
        "(the e-mail routes answer 503).",
    ),
    Setting(
        "smtp_from",
        "CHAT_SMTP_FROM",
        None,
        value.email_address,
        "The From address of the mails. Unset: `chat@` and the host of `CHAT_PUBLIC_URL` "
        "(`chat@localhost` without one).",
    ),
    Setting(
        "email_digest_seconds",
        "CHAT_EMAIL_DIGEST_SECONDS",
        None,
        value.non_negative_int,
        "How long a mention or direct message stays unread before a digest mails it to its "
        "reader's verified address (0: no digests).",
    ),
    Setting(
        "rate_emails",
        "CHAT_RATE_EMAILS",
        None,
        value.rate,
        "Mails asked for (verification and password-reset links) per e-mail address and per "
        "client address.",
    ),
)
