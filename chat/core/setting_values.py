"""How each setting's text becomes its value: the parsers `chat.core.settings` names, each
raising `ValueError` with what it expects (`chat.core.config` adds which setting said so)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chat.core.mail import SmtpServer
from chat.core.push_hosts import parse_entry

#: The longest retention, server-wide or a room's, in days (100 years).
MAX_RETENTION_DAYS = 36500


def integer(text: str, low: int, high: int | None = None) -> int:
    """`text` as an integer from `low` to `high` (no upper bound when None)."""
    expected = (
        f"an integer from {low} to {high}" if high is not None else f"an integer, {low} or more"
    )
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"must be {expected}") from None
    if value < low or (high is not None and value > high):
        raise ValueError(f"must be {expected}")
    return value


def seconds_or_unlimited(text: str) -> float | None:
    """A positive number of seconds; empty: no limit."""
    return None if not text else positive_float(text)


def retention_days(text: str) -> int | None:
    """Days to keep messages, 1 to `MAX_RETENTION_DAYS`; empty: forever."""
    return None if not text.strip() else integer(text.strip(), 1, MAX_RETENTION_DAYS)


def history_cache_mb(text: str) -> int:
    return integer(text, 0, 1 << 20)


def gather_ms(text: str) -> int | None:
    """Milliseconds from 0 to 100; empty: the default for the CPU at hand."""
    return None if not text.strip() else integer(text.strip(), 0, 100)


def positive_int(text: str) -> int:
    return integer(text, 1)


def non_negative_int(text: str) -> int:
    return integer(text, 0)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("must be a positive number") from None
    if not 0 < value < float("inf"):
        raise ValueError("must be a positive number")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("must be a number, 0 or more") from None
    if not 0 <= value < float("inf"):
        raise ValueError("must be a number, 0 or more")
    return value


def port(text: str) -> int:
    return integer(text, 0, 65535)


def bcrypt_cost(text: str) -> int:
    return integer(text, 4, 31)


def log_level(text: str) -> str:
    value = text.upper()
    if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return value


def log_format(text: str) -> str:
    value = text.strip().lower()
    if value not in {"text", "json"}:
        raise ValueError("must be text or json")
    return value


def database_url(text: str) -> str | None:
    if not text:
        return None
    if not text.startswith(("postgresql://", "postgres://", "sqlite:///")):
        raise ValueError("must start with postgresql://, postgres:// or sqlite:///")
    return text


def optional_path(text: str) -> Path | None:
    return Path(text) if text else None


def byte_size(text: str) -> int:
    """A positive number of bytes, optionally with a binary unit: 25MiB, 512KiB, 1GiB."""
    units = {"kib": 1024, "mib": 1024**2, "gib": 1024**3, "b": 1}
    lowered = text.strip().lower()
    number, factor = lowered, 1
    for unit, size in units.items():
        if lowered.endswith(unit):
            number, factor = lowered[: -len(unit)].strip(), size
            break
    try:
        value = int(number) * factor
    except ValueError:
        raise ValueError("must be a number of bytes, like 26214400 or 25MiB") from None
    if value <= 0:
        raise ValueError("must be a number of bytes, like 26214400 or 25MiB")
    return value


def files_url(text: str) -> str | None:
    if not text:
        return None
    if len(text) > 2048:
        raise ValueError("must be at most 2048 characters")
    if not text.startswith(("s3://", "file://", "/")):
        raise ValueError("must be an absolute directory, file:///dir, or s3://bucket?endpoint=...")
    return text


def origins(text: str) -> tuple[str, ...]:
    origins = tuple(part.strip().rstrip("/").lower() for part in text.split(",") if part.strip())
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ValueError(
                "must be comma-separated origins like https://chat.example.com",
                f"{origin!r} is not one",
            )
    return origins


def bus_url(text: str) -> str | None:
    if not text:
        return None
    if not text.startswith(("redis://", "rediss://")):
        raise ValueError("must start with redis:// or rediss:// (e.g. redis://127.0.0.1:6379/0)")
    return text


def public_url(text: str) -> str | None:
    if not text:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be the URL people open, like https://chat.example.com")
    return text.rstrip("/")


def push_hosts(text: str) -> tuple[str, ...]:
    return _host_entries(
        text, "must be comma-separated hosts or host:port entries like fcm.googleapis.com"
    )


def private_hosts(text: str) -> tuple[str, ...]:
    """``host:port`` entries the server may reach although their address is private."""
    return _host_entries(text, "must be comma-separated host:port entries like wiki.intranet:443")


def _host_entries(text: str, expected: str) -> tuple[str, ...]:
    entries = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    for entry in entries:
        try:
            parse_entry(entry)
        except ValueError as error:
            raise ValueError(expected, str(error)) from None
    return entries


def vapid_private_key(text: str) -> str | None:
    if not text.strip():
        return None
    from chat.core.vapid_key import load_private_key  # py-vapid, only when a key is given

    load_private_key(text)
    return text.strip()


def vapid_subject(text: str) -> str | None:
    if not text:
        return None
    parts = urlsplit(text)
    if text.startswith("mailto:") and "@" in text:
        return text
    if parts.scheme == "https" and parts.hostname:
        return text
    raise ValueError("must be a mailto: address or an https:// URL (mailto:admin@example.com)")


def host_names(text: str) -> tuple[str, ...]:
    names = tuple(part.strip().lower().rstrip(".") for part in text.split(",") if part.strip())
    for name in names:
        if any(ch in name for ch in "/@ \t") or name.count(":") == 1:
            raise ValueError(
                "must be comma-separated host names like chat.example.com (no port)",
                f"{name!r} is not one",
            )
    return names


def networks(text: str) -> tuple[str, ...]:
    networks = tuple(part.strip() for part in text.split(",") if part.strip())
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ValueError(
                "must be comma-separated IP addresses or networks like 10.0.0.0/8",
                f"{network!r} is not one",
            ) from None
    return networks


def trusted_networks(text: str) -> tuple[str, ...]:
    """``CHAT_TRUSTED_NETWORKS``: CIDR networks, canonical, at most `MAX_TRUSTED_NETWORKS`."""
    from chat.core.trusted_networks import MAX_TRUSTED_NETWORKS, parse_network

    parts = [part for part in text.split(",") if part.strip()]
    if len(parts) > MAX_TRUSTED_NETWORKS:
        raise ValueError(f"must list at most {MAX_TRUSTED_NETWORKS} networks")
    try:
        return tuple(dict.fromkeys(str(parse_network(part)) for part in parts))
    except ValueError as error:
        raise ValueError(
            "must be comma-separated networks in CIDR notation like 10.20.0.0/16", str(error)
        ) from None


def trusted_network_multiplier(text: str) -> int:
    return integer(text, 1, 1000)


def ipv6_prefix(text: str) -> int:
    return integer(text, 1, 128)


def switch(text: str) -> bool:
    value = text.strip().lower()
    if value in {"on", "true", "1", "yes"}:
        return True
    if value in {"off", "false", "0", "no"}:
        return False
    raise ValueError("must be on or off")


def rate(text: str) -> str:
    """Rate limits in the notation of the `limits` library: "10/second;120/minute"."""
    from chat.core.sliding_window import parse_limits

    try:
        parse_limits(text)
    except ValueError:
        raise ValueError(
            'must be limits like "10/second;120/minute" or "5 per 15 minutes"'
        ) from None
    return text


def frame_rate(text: str) -> str:
    """One per-connection allowance (`chat.ws.session.frame_limits`): "60/minute"."""
    from chat.core.sliding_window import parse_rate

    try:
        parse_rate(text)
    except ValueError:
        raise ValueError('must be one limit like "60/minute" or "5 per 10 seconds"') from None
    return text


def secret(text: str) -> str | None:
    if not text:
        return None
    if len(text.encode()) < 32:
        raise ValueError("must be at least 32 bytes long")
    return text


def oidc_providers(text: str) -> str:
    """`CHAT_OIDC_PROVIDERS`: checked here, kept as its text (`Config.oidc`)."""
    from chat.core.oidc import parse_providers

    parse_providers(text)
    return text.strip()


def metrics_token(text: str) -> str | None:
    if not text:
        return None
    if not text.isascii() or not text.isprintable() or " " in text:
        raise ValueError("must be printable ASCII without spaces (it is sent in a header)")
    return text


@dataclass(frozen=True, slots=True)
class Setting:
    """One configurable value: its field, flag, environment variable and documentation."""

    field: str
    env: str
    flag: str | None
    parse: Callable[[str], Any]
    help: str


def smtp_url(text: str) -> str | None:
    """``smtp://[user:password@]host[:port]`` or ``smtps://...``; empty: no e-mail."""
    if not text.strip():
        return None
    SmtpServer.parse(text.strip())
    return text.strip()


def email_address(text: str) -> str | None:
    text = text.strip()
    if not text:
        return None
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in text):
        raise ValueError("must be an e-mail address (chat@example.com)")
    return text
