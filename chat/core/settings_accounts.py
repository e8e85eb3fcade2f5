"""The settings of who may register (`CHAT_REGISTRATION`, its e-mail domains, who makes
invite links): a part of `chat.core.settings.SETTINGS`, with their parsers."""

from __future__ import annotations

from chat.core import setting_values as value
from chat.core.invites import REGISTRATION_MODES
from chat.core.setting_values import Setting


def registration_mode(text: str) -> str:
    mode = text.strip().lower()
    if mode not in REGISTRATION_MODES:
        raise ValueError(f"must be one of {', '.join(REGISTRATION_MODES)}")
    return mode


def email_domains(text: str) -> tuple[str, ...]:
    """Comma-separated domains (``example.com``), lower-cased; empty: none."""
    domains = tuple(part.strip().lower().removeprefix("@") for part in text.split(","))
    domains = tuple(domain for domain in domains if domain)
    for domain in domains:
        labels = domain.split(".")
        if (
            len(domain) > 253
            or len(labels) < 2
            or not all(
                label and len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii()
                for label in labels
            )
        ):
            raise ValueError(f"must be comma-separated domains like example.com, not {domain!r}")
    return domains


REGISTRATION: tuple[Setting, ...] = (
    Setting(
        "registration",
        "CHAT_REGISTRATION",
        None,
        registration_mode,
        "Who may register, on every registration route: `open` (the default: anyone, as the "
        "specs' clients expect), `invite` (only with a valid invite code, `Invite`; "
        "`POST /invites`) or `closed` (nobody: operators add accounts with `chat user add`). "
        "Refused registrations get 403.",
    ),
    Setting(
        "registration_email_domains",
        "CHAT_REGISTRATION_EMAIL_DOMAINS",
        None,
        email_domains,
        "Comma-separated e-mail domains (`example.com` also admits its subdomains) a "
        "registration without an invite must give an address at (403 otherwise; routes "
        "without an e-mail field then need an invite). Unset: any address, or none.",
    ),
    Setting(
        "member_invites",
        "CHAT_MEMBER_INVITES",
        None,
        value.switch,
        "`on`: every member may make invite links (`POST /invites`), into rooms they may "
        "invite people to; `off` (the default): operators only.",
    ),
)
