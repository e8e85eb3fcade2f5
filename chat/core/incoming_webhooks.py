"""Incoming webhooks: what one is, the form of its secret address, and its bot's name.

A webhook is a room's secret address, ``/hooks/<WebhookID>/<secret>``: a POST there
posts one message in the room as the webhook's bot. The id finds its row; the secret (32
random bytes, URL-safe base64: 256 bits) proves it. Only the secret's SHA-256 is stored
and compared, in constant time, as a personal access token's (`chat.core.api_tokens`).
Rotating a webhook replaces its secret; the old one stops working at once. The path is
redacted wherever it is logged (`redacted_path`).
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

from chat.core.errors import InvalidInput

#: The path every webhook's address starts with.
PATH_PREFIX = "/hooks/"
#: The most webhooks one room may have.
MAX_PER_ROOM = 20
#: The longest name a webhook may have.
MAX_NAME_CHARS = 80
#: The largest body a POST to a webhook may carry (413 beyond: Slack's own limit is
#: lower, and no notification needs more).
MAX_BODY_BYTES = 64 * 1024
#: What an access line shows in place of a webhook's secret.
REDACTED = "[redacted]"
#: The longest bot name made from a webhook's name, before a suffix that makes it unique.
_MAX_BOT_STEM = 24
_ID_FORM = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True, slots=True)
class IncomingWebhook:
    """A webhook as stored, without its secret. Times are Unix seconds; `created_by` is
    None once its creator's account is gone."""

    webhook_id: str
    room_id: int
    bot_id: int
    name: str
    created_by: int | None
    created_at: int
    secret_hash: str = ""
    #: Names read with it (listing): its bot's and its creator's.
    bot_name: str = ""
    creator_name: str | None = None


def new_secret() -> tuple[str, str]:
    """A new webhook's id and its secret (which the caller is given once, in its URL)."""
    return secrets.token_hex(8), new_rotated_secret()


def new_rotated_secret() -> str:
    return secrets.token_urlsafe(32)


def path(webhook_id: str, secret: str) -> str:
    """A webhook's secret address, from the server's root."""
    return f"{PATH_PREFIX}{webhook_id}/{secret}"


def well_formed(webhook_id: str, secret: str) -> bool:
    """Whether a path's two parts could be a webhook's (before any look-up: a malformed
    one is refused as an unknown one is, 404)."""
    return _ID_FORM.fullmatch(webhook_id) is not None and 0 < len(secret) <= 100


def webhook_name(value: object) -> str:
    """A webhook's name as given: 1 to `MAX_NAME_CHARS` printable characters."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("Name must be a non-empty string")
    name = value.strip()
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput(f"Name must be at most {MAX_NAME_CHARS} characters")
    if not name.isprintable():
        raise InvalidInput("Name must not contain control or invisible characters")
    return name


def bot_name(webhook_name: str, attempt: int) -> str:
    """The name of a webhook's bot, the `attempt`-th try: the webhook's name in
    lower-case ASCII letters, digits and hyphens (accents dropped), ending "-hook"
    (a bot's name passes every rule of a person's, `chat.core.names`, and these
    characters always do); after the first try, with a random suffix."""
    ascii_name = unicodedata.normalize("NFKD", webhook_name).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_name.lower())
    stem = "-".join(words)[:_MAX_BOT_STEM].strip("-") or "webhook"
    return f"{stem}-hook" if attempt == 0 else f"{stem}-hook-{secrets.token_hex(2)}"


def redacted_path(path: str) -> str | None:
    """A webhook's address as a log line may show it (``/hooks/<id>/[redacted]``), for
    any path the webhook route could match (its first segment ``hooks`` in any case,
    after any empty segments); None for every other path."""
    segments = [part for part in path.split("/") if part]
    if not segments or segments[0].casefold() != "hooks":
        return None
    hook = quote(segments[1][:32], safe="") if len(segments) > 1 else ""
    return f"{PATH_PREFIX}{hook}/{REDACTED}"
