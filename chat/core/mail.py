"""E-mail without I/O: where the SMTP server is (`SmtpServer`, from ``CHAT_SMTP_URL``),
the one-time links' tokens (`new_link_token`, `token_hash`), and the mails' texts
(`Mail`): a verification link, a password-reset link and a digest of missed messages."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

#: How long a verification link works, and a password-reset link (seconds).
VERIFY_LINK_SECONDS = 24 * 3600
RESET_LINK_SECONDS = 3600
#: A digest quotes this many messages at most, and counts the rest.
DIGEST_QUOTED = 5
#: Characters of one message a digest quotes.
DIGEST_QUOTE_CHARS = 200


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """An SMTP server to send through: ``smtp://[user:password@]host[:port]`` (STARTTLS
    when the server offers it; port 25 by default) or ``smtps://`` (TLS from the start;
    port 465)."""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        """The server `url` names, or `ValueError` saying what is expected."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("must be smtp://[user:password@]host[:port] or smtps://...")
        try:
            port = parts.port
        except ValueError:
            raise ValueError("must name a port from 1 to 65535") from None
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=port or (465 if tls else 25),
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


@dataclass(frozen=True, slots=True)
class Mail:
    """One mail to send: to whom, its subject and its plain text."""

    to: str
    subject: str
    text: str


def new_link_token() -> str:
    """A new token for a mailed link: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the database keeps of a link's token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def verify_mail(to: str, name: str, url: str) -> Mail:
    return Mail(
        to,
        "Confirm your e-mail address",
        f"Hello {name},\n\nTo confirm that this is your address, open this link and press "
        f"Confirm:\n\n{url}\n\nThe link works once, for 24 hours. If you did not ask for it, "
        "ignore this mail.\n",
    )


def reset_mail(to: str, name: str, url: str) -> Mail:
    return Mail(
        to,
        "Reset your password",
        f"Hello {name},\n\nSomebody (you, we hope) asked to reset your password. To choose a "
        f"new one, open this link:\n\n{url}\n\nThe link works once, for an hour; using it "
        "ends every session of yours. If you did not ask for it, ignore this mail: your "
        "password stays as it is.\n",
    )


@dataclass(frozen=True, slots=True)
class Missed:
    """One message a digest tells of: where, from whom, and its text."""

    place: str
    sender: str
    text: str


def digest_mail(to: str, name: str, missed: list[Missed], count: int, url: str | None) -> Mail:
    """A digest of `count` messages quoting `missed` (at most `DIGEST_QUOTED` of them)
    and counting the rest."""
    lines = [f"Hello {name},", "", "While you were away:", ""]
    for one in missed[:DIGEST_QUOTED]:
        text = one.text
        if len(text) > DIGEST_QUOTE_CHARS:
            text = text[:DIGEST_QUOTE_CHARS] + "…"
        lines.append(f"{one.sender} in {one.place}:")
        lines.extend(f"> {line}" for line in text.splitlines() or [""])
        lines.append("")
    if (rest := count - len(missed[:DIGEST_QUOTED])) > 0:
        lines.append(f"… and {rest} more message{'s' if rest > 1 else ''}.")
        lines.append("")
    if url is not None:
        lines.extend([f"Read them: {url}", ""])
    lines.append("You can turn these mails off on your account screen.")
    subject = f"{count} message{'s' if count > 1 else ''} you missed"
    return Mail(to, subject, "\n".join(lines) + "\n")
