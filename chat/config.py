"""Configuration: one frozen `Config`, built from command-line flags and ``CHAT_*`` variables.

This is the only module that reads the environment. Every setting is declared once in
`SETTINGS`; the command-line flags, the environment variable names and the README's table
all come from that list, so they cannot drift apart. Flags win over the environment,
which wins over the defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import os
import textwrap
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .push.hosts import BROWSER_PUSH_SERVICES, parse_entry

#: The longest retention, server-wide or a room's, in days (100 years).
MAX_RETENTION_DAYS = 36500


class ConfigError(ValueError):
    """A setting has a value the server cannot use; the message names the setting."""


@dataclass(frozen=True, slots=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 9000
    database_url: str | None = None
    data_dir: Path = Path("data")
    jwt_secret: str | None = dataclasses.field(default=None, repr=False)
    token_ttl: int = 24 * 3600
    #: Browser sessions (`chat.sessions`): the access token a refresh hands out, and how
    #: long a session lasts unused, without and with "keep me signed in" (seconds).
    session_token_ttl: int = 15 * 60
    session_idle: int = 24 * 3600
    session_remember: int = 30 * 24 * 3600
    revocation_sweep: float = 5.0
    presence_timeout: float = 30.0
    bcrypt_cost: int = 12
    max_text_chars: int = 4096
    #: Seconds after sending that a message may still be edited (None: any time).
    edit_window: float | None = None
    max_frame_bytes: int = 64 * 1024
    max_body_bytes: int = 64 * 1024
    client_queue: int = 1024
    write_timeout: float = 10.0
    close_timeout: float = 2.0
    shutdown_timeout: float = 5.0
    #: Seconds an instance keeps serving after SIGTERM while it sends clients elsewhere
    #: (`chat.drain`); 0: none, the shutdown begins at once.
    drain_seconds: float = 0.0
    db_pool_size: int = 10
    allowed_origins: tuple[str, ...] = ()
    log_level: str = "INFO"
    log_format: str = "text"
    bus_url: str | None = None
    #: Whether committed messages and changes travel on the bus (issue 27); off, every
    #: instance reads every other's from the table (`chat.bus.carrier`).
    bus_carry: bool = True
    #: Whether identical resumes and history reads in flight at once are read once
    #: (`chat.shared_reads`); off, each is a query of its own (to measure what it saves).
    shared_reads: bool = True
    #: MiB the newest messages of active rooms may take in memory (`chat.history_cache`);
    #: 0: history, resumes and first pages are all read from the table.
    history_cache_mb: int = 64
    workers: int = 1
    public_url: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    ipv6_prefix: int = 64
    body_timeout: float = 10.0
    max_connections_per_address: int = 256
    #: WebSocket handshakes in progress at once (`chat.admission`); 0: no bound.
    max_handshakes: int = 512
    bcrypt_queue: int = 16
    rate_limits: bool = True
    rate_login: str = "20/minute;200/hour"
    rate_login_failures: str = "5 per 15 minutes"
    rate_account_failures: str = "50/hour"
    rate_register: str = "5/minute;20/hour"
    rate_messages: str = "10/second;120/minute"
    rate_connections: str = "60/minute"
    rate_rooms: str = "10/hour"
    rate_invites: str = "30/hour"
    rate_room_changes: str = "60/minute"
    rate_read_markers: str = "300/minute"
    rate_history: str = "60/minute"
    rate_history_bytes: int = 8 * 1024 * 1024
    rate_pings: str = "120/minute"
    metrics_token: str | None = dataclasses.field(default=None, repr=False)
    push_hosts: tuple[str, ...] = BROWSER_PUSH_SERVICES
    vapid_private_key: str | None = dataclasses.field(default=None, repr=False)
    vapid_subject: str | None = None
    #: Files (`chat.files`): where their bytes live (None: `<data_dir>/files`), the largest
    #: upload, and how many bytes of files one user may keep.
    files_url: str | None = dataclasses.field(default=None, repr=False)
    max_file_bytes: int = 25 * 1024 * 1024
    user_quota_bytes: int = 1024 * 1024 * 1024
    rate_uploads: str = "30/minute;300/hour"
    rate_searches: str = "30/minute;600/hour"
    rate_reports: str = "10/minute;100/day"
    #: A user's data (`chat.account_data`): exports per user, and how many run at once
    #: on one instance.
    rate_exports: str = "3/hour;10/day"
    exports_at_once: int = 2
    #: Retention (`chat.retention`): days messages are kept (None: forever; a room's
    #: owners may set fewer), and seconds between two passes of the task that deletes
    #: the expired ones.
    retention_days: int | None = None
    retention_period: float = 600.0
    #: Where `chat serve` writes tracemalloc snapshots when sent SIGUSR2
    #: (`chat.memory_snapshots`); None: allocations are not traced (the default).
    tracemalloc_dir: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))

    @property
    def is_postgres(self) -> bool:
        """True when the database is PostgreSQL (which serves several instances)."""
        return self.database_url is not None and self.database_url.startswith(
            ("postgresql://", "postgres://")
        )

    @property
    def push_subject(self) -> str:
        """The VAPID subject pushes are signed with (`CHAT_VAPID_SUBJECT`)."""
        if self.vapid_subject is not None:
            return self.vapid_subject
        if self.public_url is not None and self.public_url.startswith("https://"):
            return self.public_url
        return "mailto:postmaster@localhost"

    @property
    def sqlite_path(self) -> Path:
        """Where the embedded database lives when no database URL is configured."""
        return self.data_dir / "chat.sqlite3"

    def replace(self, **changes: Any) -> Config:
        """A copy with some settings changed (tests use this; values are re-validated)."""
        return _validated(dataclasses.replace(self, **changes))


@dataclass(frozen=True, slots=True)
class Setting:
    """One configurable value: its field, flag, environment variable and documentation."""

    field: str
    env: str
    flag: str | None
    parse: Callable[[str], Any]
    help: str

    @property
    def default(self) -> Any:
        return Config.__dataclass_fields__[self.field].default


def _integer(text: str, low: int, high: int | None = None) -> int:
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


def _seconds_or_unlimited(text: str) -> float | None:
    """A positive number of seconds; empty: no limit."""
    return None if not text else _positive_float(text)


def _retention_days(text: str) -> int | None:
    """Days to keep messages, 1 to `MAX_RETENTION_DAYS`; empty: forever."""
    return None if not text.strip() else _integer(text.strip(), 1, MAX_RETENTION_DAYS)


def _history_cache_mb(text: str) -> int:
    return _integer(text, 0, 1 << 20)


def _positive_int(text: str) -> int:
    return _integer(text, 1)


def _non_negative_int(text: str) -> int:
    return _integer(text, 0)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("must be a positive number") from None
    if not 0 < value < float("inf"):
        raise ValueError("must be a positive number")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("must be a number, 0 or more") from None
    if not 0 <= value < float("inf"):
        raise ValueError("must be a number, 0 or more")
    return value


def _port(text: str) -> int:
    return _integer(text, 0, 65535)


def _bcrypt_cost(text: str) -> int:
    return _integer(text, 4, 31)


def _log_level(text: str) -> str:
    value = text.upper()
    if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return value


def _log_format(text: str) -> str:
    value = text.strip().lower()
    if value not in {"text", "json"}:
        raise ValueError("must be text or json")
    return value


def _database_url(text: str) -> str | None:
    if not text:
        return None
    if not text.startswith(("postgresql://", "postgres://", "sqlite:///")):
        raise ValueError("must start with postgresql://, postgres:// or sqlite:///")
    return text


def _optional_path(text: str) -> Path | None:
    return Path(text) if text else None


def _byte_size(text: str) -> int:
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


def _files_url(text: str) -> str | None:
    if not text:
        return None
    if len(text) > 2048:
        raise ValueError("must be at most 2048 characters")
    if not text.startswith(("s3://", "file://", "/")):
        raise ValueError("must be an absolute directory, file:///dir, or s3://bucket?endpoint=...")
    return text


def _origins(text: str) -> tuple[str, ...]:
    origins = tuple(part.strip().rstrip("/").lower() for part in text.split(",") if part.strip())
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ValueError(
                "must be comma-separated origins like https://chat.example.com",
                f"{origin!r} is not one",
            )
    return origins


def _bus_url(text: str) -> str | None:
    if not text:
        return None
    if not text.startswith(("redis://", "rediss://")):
        raise ValueError("must start with redis:// or rediss:// (e.g. redis://127.0.0.1:6379/0)")
    return text


def _public_url(text: str) -> str | None:
    if not text:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be the URL people open, like https://chat.example.com")
    return text.rstrip("/")


def _push_hosts(text: str) -> tuple[str, ...]:
    entries = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    for entry in entries:
        try:
            parse_entry(entry)
        except ValueError as error:
            raise ValueError(
                "must be comma-separated hosts or host:port entries like fcm.googleapis.com",
                str(error),
            ) from None
    return entries


def _vapid_private_key(text: str) -> str | None:
    if not text.strip():
        return None
    from .push.vapid import load_private_key  # py-vapid, only when a key is given

    load_private_key(text)
    return text.strip()


def _vapid_subject(text: str) -> str | None:
    if not text:
        return None
    parts = urlsplit(text)
    if text.startswith("mailto:") and "@" in text:
        return text
    if parts.scheme == "https" and parts.hostname:
        return text
    raise ValueError("must be a mailto: address or an https:// URL (mailto:admin@example.com)")


def _host_names(text: str) -> tuple[str, ...]:
    names = tuple(part.strip().lower().rstrip(".") for part in text.split(",") if part.strip())
    for name in names:
        if any(ch in name for ch in "/@ \t") or name.count(":") == 1:
            raise ValueError(
                "must be comma-separated host names like chat.example.com (no port)",
                f"{name!r} is not one",
            )
    return names


def _networks(text: str) -> tuple[str, ...]:
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


def _ipv6_prefix(text: str) -> int:
    return _integer(text, 1, 128)


def _switch(text: str) -> bool:
    value = text.strip().lower()
    if value in {"on", "true", "1", "yes"}:
        return True
    if value in {"off", "false", "0", "no"}:
        return False
    raise ValueError("must be on or off")


def _rate(text: str) -> str:
    """Rate limits in the notation of the `limits` library: "10/second;120/minute"."""
    from .sliding_window import parse_limits

    try:
        parse_limits(text)
    except ValueError:
        raise ValueError(
            'must be limits like "10/second;120/minute" or "5 per 15 minutes"'
        ) from None
    return text


def _frame_rate(text: str) -> str:
    """One per-connection allowance (`chat.ws.frame_limits`): "60/minute"."""
    from .ws.frame_limits import parse_rate

    try:
        parse_rate(text)
    except ValueError:
        raise ValueError('must be one limit like "60/minute" or "5 per 10 seconds"') from None
    return text


def _secret(text: str) -> str | None:
    if not text:
        return None
    if len(text.encode()) < 32:
        raise ValueError("must be at least 32 bytes long")
    return text


def _metrics_token(text: str) -> str | None:
    if not text:
        return None
    if not text.isascii() or not text.isprintable() or " " in text:
        raise ValueError("must be printable ASCII without spaces (it is sent in a header)")
    return text


SETTINGS: tuple[Setting, ...] = (
    Setting("host", "CHAT_HOST", "--host", str, "Address to listen on."),
    Setting(
        "port",
        "CHAT_PORT",
        "--port",
        _port,
        "TCP port for HTTP and WebSocket together (0 picks a free one).",
    ),
    Setting(
        "database_url",
        "CHAT_DATABASE_URL",
        "--database-url",
        _database_url,
        "`postgresql://user@host/db` for PostgreSQL, `sqlite:///path` for a SQLite "
        "file elsewhere; unset: SQLite in the data directory.",
    ),
    Setting(
        "data_dir",
        "CHAT_DATA_DIR",
        "--data-dir",
        Path,
        "Holds `chat.sqlite3` and the generated `jwt-secret`; created if missing.",
    ),
    Setting(
        "jwt_secret",
        "CHAT_JWT_SECRET",
        None,
        _secret,
        "HS256 signing key (32+ bytes). Unset: generated once, into the data directory "
        "(SQLite) or into the database, shared by every instance (PostgreSQL).",
    ),
    Setting("token_ttl", "CHAT_TOKEN_TTL", None, _positive_int, "Token lifetime in seconds."),
    Setting(
        "session_token_ttl",
        "CHAT_SESSION_TOKEN_TTL",
        None,
        _positive_int,
        "Lifetime in seconds of the token a browser session's refresh hands out (kept in the "
        "page's memory only; the page refreshes before it expires).",
    ),
    Setting(
        "session_idle",
        "CHAT_SESSION_IDLE",
        None,
        _positive_int,
        'Seconds a browser session without "keep me signed in" lasts unused (its cookie '
        "also ends with the browser).",
    ),
    Setting(
        "session_remember",
        "CHAT_SESSION_REMEMBER",
        None,
        _positive_int,
        'Seconds a "keep me signed in" browser session lasts unused (every refresh '
        "starts it again); its cookie survives browser restarts.",
    ),
    Setting(
        "revocation_sweep",
        "CHAT_REVOCATION_SWEEP",
        None,
        _positive_float,
        "Seconds between checks that every open WebSocket session's token is still valid: "
        "the longest a session outlives a password change or logout-everywhere made on "
        "another instance if the bus loses the news.",
    ),
    Setting(
        "presence_timeout",
        "CHAT_PRESENCE_TIMEOUT",
        None,
        _positive_float,
        "Seconds without word from another instance after which its users are taken "
        "offline (and out of their rooms) on this one: how long a dead instance's users "
        "still look online. Instances send their state every third of it (at most 10 s).",
    ),
    Setting(
        "bcrypt_cost",
        "CHAT_BCRYPT_COST",
        None,
        _bcrypt_cost,
        "bcrypt work factor for new password hashes (4-31).",
    ),
    Setting(
        "max_text_chars",
        "CHAT_MAX_TEXT",
        None,
        _positive_int,
        "Longest chat message text, in characters.",
    ),
    Setting(
        "edit_window",
        "CHAT_EDIT_WINDOW",
        None,
        _seconds_or_unlimited,
        "Seconds after sending that a message may still be edited by its author. Unset: any time.",
    ),
    Setting(
        "retention_days",
        "CHAT_RETENTION_DAYS",
        None,
        _retention_days,
        "Days messages are kept, from 1 to 36500; older ones are deleted (as rows, with their "
        "reactions, edits and files), in every room. Unset: kept forever. A room's owners may "
        "set a shorter retention for their room (RetentionDays), never a longer one.",
    ),
    Setting(
        "retention_period",
        "CHAT_RETENTION_PERIOD",
        None,
        _positive_float,
        "Seconds between two passes of the task that deletes expired messages (one instance "
        "of a cluster at a time does it).",
    ),
    Setting(
        "max_frame_bytes",
        "CHAT_MAX_FRAME",
        None,
        _positive_int,
        "Largest WebSocket message accepted; bigger ones close the connection with 1009.",
    ),
    Setting(
        "max_body_bytes",
        "CHAT_MAX_BODY",
        None,
        _positive_int,
        "Largest HTTP request body accepted (413 above it).",
    ),
    Setting(
        "client_queue",
        "CHAT_CLIENT_QUEUE",
        None,
        _positive_int,
        "Frames queued for one WebSocket client before it is disconnected as a slow "
        "consumer (close code 1008).",
    ),
    Setting(
        "write_timeout",
        "CHAT_WRITE_TIMEOUT",
        None,
        _positive_float,
        "Seconds one frame write may take before the client is dropped.",
    ),
    Setting(
        "close_timeout",
        "CHAT_CLOSE_TIMEOUT",
        None,
        _positive_float,
        "Seconds to wait for a WebSocket close handshake.",
    ),
    Setting(
        "shutdown_timeout",
        "CHAT_SHUTDOWN_TIMEOUT",
        None,
        _positive_float,
        "Seconds in-flight HTTP requests get to finish on shutdown.",
    ),
    Setting(
        "drain_seconds",
        "CHAT_DRAIN_SECONDS",
        None,
        _non_negative_float,
        "Seconds to keep serving after SIGTERM, with /readyz answering 503, new WebSockets"
        " refused (503) and open ones closed with 1012, before shutting down (0: none; behind"
        " a load balancer, at least its health-check interval).",
    ),
    Setting(
        "db_pool_size",
        "CHAT_DB_POOL_SIZE",
        None,
        _positive_int,
        "Database connections (PostgreSQL pool size; SQLite worker connections).",
    ),
    Setting(
        "allowed_origins",
        "CHAT_ALLOWED_ORIGINS",
        None,
        _origins,
        "Comma-separated origins (`https://chat.example.com`) whose pages may open "
        "WebSockets besides the server's own; `*` allows any. Clients that send no "
        "Origin header (not browsers) are always allowed.",
    ),
    Setting(
        "log_level",
        "CHAT_LOG_LEVEL",
        "--log-level",
        _log_level,
        "DEBUG, INFO, WARNING, ERROR or CRITICAL.",
    ),
    Setting(
        "log_format",
        "CHAT_LOG_FORMAT",
        "--log-format",
        _log_format,
        "`text` (readable lines) or `json` (one JSON object per line, for log collectors).",
    ),
    Setting(
        "bus_url",
        "CHAT_BUS_URL",
        "--bus-url",
        _bus_url,
        "How instances on one PostgreSQL database tell each other about new messages: "
        "unset, PostgreSQL's own LISTEN/NOTIFY; `redis://host:port/db`, Redis pub/sub "
        "(`pip install '.[redis]'`). SQLite serves one instance and takes none.",
    ),
    Setting(
        "bus_carry",
        "CHAT_BUS_CARRY",
        None,
        _switch,
        "`on` (the default): each instance sends the messages and changes it commits to "
        "the others on the bus, and reads the table only for a gap the bus did not fill; "
        "`off`: the bus only wakes the others, which read every message from the table "
        "(each wake-up then costs every instance a query; for diagnosis and tests).",
    ),
    Setting(
        "shared_reads",
        "CHAT_SHARED_READS",
        None,
        _switch,
        "`on` (the default): identical resumes and `history` requests in flight at once "
        "are read once and shared (after a reconnection "
        "storm, a room's clients all resume from the same message); `off`: each is a "
        "query of its own (to measure what sharing saves: bench/reconnect_storm.py).",
    ),
    Setting(
        "history_cache_mb",
        "CHAT_HISTORY_CACHE_MB",
        None,
        _history_cache_mb,
        "MiB each instance may spend keeping the newest messages (up to 200) of the rooms "
        "asked about lately, to answer `history`, `/ws` resumes and the first page of "
        "`GET /messages` without the database (the least recently asked-about rooms "
        "are dropped first); `0`: every answer is read from the database.",
    ),
    Setting(
        "workers",
        "CHAT_WORKERS",
        "--workers",
        _positive_int,
        "Server processes sharing the port (SO_REUSEPORT), each a member of the cluster; "
        "more than 1 needs PostgreSQL.",
    ),
    Setting(
        "public_url",
        "CHAT_PUBLIC_URL",
        None,
        _public_url,
        "The URL people open (`https://chat.example.com`): its host is one of the server's "
        "names, and pages from it may open WebSockets.",
    ),
    Setting(
        "allowed_hosts",
        "CHAT_ALLOWED_HOSTS",
        None,
        _host_names,
        "Comma-separated host names the server answers to besides the loopback names, its "
        "bound address and `CHAT_PUBLIC_URL`'s host (`.example.com` also matches its "
        "subdomains; `*` any). Other Host headers get 400 (DNS rebinding).",
    ),
    Setting(
        "trusted_proxies",
        "CHAT_TRUSTED_PROXIES",
        None,
        _networks,
        "Comma-separated addresses or networks of proxies whose `X-Forwarded-For` names the "
        "client (for rate limits and connection caps); from anyone else it is ignored.",
    ),
    Setting(
        "ipv6_prefix",
        "CHAT_IPV6_PREFIX",
        None,
        _ipv6_prefix,
        "Prefix length by which IPv6 clients are counted for rate limits and connection caps "
        "(64: one LAN, whose hosts may take any of its addresses; 128: each address alone). "
        "IPv4 clients are counted by address.",
    ),
    Setting(
        "body_timeout",
        "CHAT_BODY_TIMEOUT",
        None,
        _positive_float,
        "Seconds a request body may take to arrive (408 after that).",
    ),
    Setting(
        "max_connections_per_address",
        "CHAT_MAX_CONNECTIONS_PER_ADDRESS",
        None,
        _positive_int,
        "Open connections (HTTP and WebSocket) one client address may hold; more get 429.",
    ),
    Setting(
        "max_handshakes",
        "CHAT_MAX_HANDSHAKES",
        None,
        _non_negative_int,
        "WebSocket handshakes one instance works on at once; more get 503 with Retry-After "
        "at once, so that a crowd reconnecting together is let in at full speed instead "
        "of timing out (0: no bound).",
    ),
    Setting(
        "bcrypt_queue",
        "CHAT_BCRYPT_QUEUE",
        None,
        _positive_int,
        "Password checks that may wait for a bcrypt thread (at cost 12, about 2 s of work); "
        "one client address may hold a quarter of them, unknown names half; more get 503 "
        "with Retry-After.",
    ),
    Setting(
        "rate_limits",
        "CHAT_RATE_LIMITS",
        None,
        _switch,
        "`off` turns every rate limit (per address, account and user, and each connection's "
        "frame limits and history budget) and the per-address connection cap off "
        "(benchmarks, load tests).",
    ),
    Setting(
        "rate_login",
        "CHAT_RATE_LOGIN",
        None,
        _rate,
        "Login attempts (every route that issues a token) per client address.",
    ),
    Setting(
        "rate_login_failures",
        "CHAT_RATE_LOGIN_FAILURES",
        None,
        _rate,
        "Failed logins per account and client address; past it that address gets 429 for "
        "that account only.",
    ),
    Setting(
        "rate_account_failures",
        "CHAT_RATE_ACCOUNT_FAILURES",
        None,
        _rate,
        "Failed logins per account from all addresses; past it, addresses that never logged "
        "in to it get one attempt every 5 seconds (the owner's known addresses are not slowed).",
    ),
    Setting(
        "rate_register",
        "CHAT_RATE_REGISTER",
        None,
        _rate,
        "Registrations per client address.",
    ),
    Setting(
        "rate_messages",
        "CHAT_RATE_MESSAGES",
        None,
        _rate,
        "Chat messages per user, over all their connections and every instance.",
    ),
    Setting(
        "rate_connections",
        "CHAT_RATE_CONNECTIONS",
        None,
        _rate,
        "WebSocket connections opened per client address.",
    ),
    Setting(
        "rate_rooms",
        "CHAT_RATE_ROOMS",
        None,
        _rate,
        "Group rooms a user creates (`POST /create-room`), over every instance.",
    ),
    Setting(
        "rate_invites",
        "CHAT_RATE_INVITES",
        None,
        _rate,
        "Invitations a user makes (`PUT /invite`) and direct conversations they open with "
        "someone new (a first direct message, `GET /dm/{UID}`), over every instance.",
    ),
    Setting(
        "rate_room_changes",
        "CHAT_RATE_ROOM_CHANGES",
        None,
        _frame_rate,
        "Rooms entered or left (`enter` frames, resumes included) per WebSocket connection.",
    ),
    Setting(
        "rate_read_markers",
        "CHAT_RATE_READ_MARKERS",
        None,
        _frame_rate,
        "`read` frames per WebSocket connection.",
    ),
    Setting(
        "rate_history",
        "CHAT_RATE_HISTORY",
        None,
        _frame_rate,
        "History requests (`history N`, resumes) per WebSocket connection.",
    ),
    Setting(
        "rate_history_bytes",
        "CHAT_RATE_HISTORY_BYTES",
        None,
        _positive_int,
        "Bytes of history (`history N`, resumes, support threads) one WebSocket connection "
        "is sent per minute; past it, history requests are refused until it has paid back.",
    ),
    Setting(
        "rate_pings",
        "CHAT_RATE_PINGS",
        None,
        _frame_rate,
        "Pings (the `ping` text frame and WebSocket ping frames) per WebSocket connection.",
    ),
    Setting(
        "metrics_token",
        "CHAT_METRICS_TOKEN",
        None,
        _metrics_token,
        "Bearer token `GET /metrics` requires. Unset: the metrics are open; set it, or "
        "block `/metrics` at the proxy, when the port is public.",
    ),
    Setting(
        "push_hosts",
        "CHAT_PUSH_HOSTS",
        None,
        _push_hosts,
        "Comma-separated push services (host, `host:port`, or `.example.com` for its "
        "subdomains) whose endpoints browsers may register for Web Push; https only, plain "
        "http only to a loopback `host:port` named here. Default: the browsers' push "
        "services.",
    ),
    Setting(
        "vapid_private_key",
        "CHAT_VAPID_PRIVATE_KEY",
        None,
        _vapid_private_key,
        "The P-256 private key Web Push is signed with (VAPID): base64url of its 32 bytes, "
        "base64url DER, or PEM. Unset: made once and kept in the database.",
    ),
    Setting(
        "vapid_subject",
        "CHAT_VAPID_SUBJECT",
        None,
        _vapid_subject,
        "How push services reach the operator (VAPID `sub`): `mailto:` or `https://`. "
        "Unset: `CHAT_PUBLIC_URL` if https, else `mailto:postmaster@localhost`.",
    ),
    Setting(
        "files_url",
        "CHAT_FILES_URL",
        None,
        _files_url,
        "Where uploaded files' bytes are kept: a directory (`/srv/chat-files` or "
        "`file:///srv/chat-files`, shared by instances that share it) or S3-compatible "
        "storage (`s3://bucket/prefix?endpoint=https://...`). Unset: `files` under the "
        "data directory.",
    ),
    Setting(
        "max_file_bytes",
        "CHAT_MAX_FILE_SIZE",
        None,
        _byte_size,
        "Largest file one upload may be (413 above it), in bytes or with a unit (25MiB).",
    ),
    Setting(
        "user_quota_bytes",
        "CHAT_USER_QUOTA",
        None,
        _byte_size,
        "How many bytes of files one user may keep (413 past it), in bytes or with a unit.",
    ),
    Setting(
        "rate_uploads",
        "CHAT_RATE_UPLOADS",
        None,
        _rate,
        "File uploads per user (POST /files).",
    ),
    Setting(
        "rate_searches",
        "CHAT_RATE_SEARCHES",
        None,
        _rate,
        "Searches per user (GET /search), over every instance.",
    ),
    Setting(
        "rate_reports",
        "CHAT_RATE_REPORTS",
        None,
        _rate,
        "Reports of messages per user (POST /reports), over every instance.",
    ),
    Setting(
        "rate_exports",
        "CHAT_RATE_EXPORTS",
        None,
        _rate,
        "Exports of a user's data per user (GET /me/export), over every instance.",
    ),
    Setting(
        "exports_at_once",
        "CHAT_EXPORTS_AT_ONCE",
        None,
        _positive_int,
        "How many exports of users' data (GET /me/export) one instance streams at once"
        " (503 past it).",
    ),
    Setting(
        "tracemalloc_dir",
        "CHAT_TRACEMALLOC",
        None,
        _optional_path,
        "A directory: `chat serve` traces its allocations (Python's tracemalloc, which"
        " slows it and costs memory) and writes a snapshot there on each SIGUSR2, for"
        " finding what holds memory (bench/soak.py). Unset: no tracing.",
    ),
)

#: Why several instances need PostgreSQL, in the words every refusal uses.
ONE_INSTANCE_ON_SQLITE = (
    "SQLite serves one instance; PostgreSQL serves several (set CHAT_DATABASE_URL=postgresql://...)"
)


#: Settings whose values an error message never repeats: they may hold a password.
_NOT_ECHOED = frozenset({"jwt_secret", "database_url", "bus_url", "vapid_private_key", "files_url"})

#: What an error message calls a setting, where its field name would read badly.
_NOUNS = {
    "workers": "number of workers",
    "max_text_chars": "longest message text",
    "edit_window": "edit window",
    "retention_days": "retention",
    "retention_period": "retention period",
    "max_frame_bytes": "largest WebSocket message",
    "max_body_bytes": "largest request body",
    "max_connections_per_address": "connections per address",
    "max_handshakes": "handshakes in progress",
    "ipv6_prefix": "IPv6 prefix length",
    "rate_limits": "rate limits switch",
    "bus_carry": "bus carry switch",
    "shared_reads": "shared reads switch",
    "history_cache_mb": "history cache size",
    "jwt_secret": "JWT secret",
    "token_ttl": "token lifetime",
    "session_token_ttl": "session token lifetime",
    "session_idle": "session idle lifetime",
    "session_remember": "remembered session lifetime",
    "rate_login": "login rate limit",
    "rate_login_failures": "failed-login rate limit",
    "rate_account_failures": "per-account failed-login rate limit",
    "rate_register": "registration rate limit",
    "rate_messages": "message rate limit",
    "rate_connections": "connection rate limit",
    "rate_rooms": "room creation rate limit",
    "rate_invites": "invitation rate limit",
    "rate_room_changes": "room change limit",
    "rate_read_markers": "read marker limit",
    "rate_history": "history request limit",
    "rate_history_bytes": "history bytes per minute",
    "rate_pings": "ping limit",
    "push_hosts": "list of push services",
    "vapid_private_key": "VAPID private key",
    "vapid_subject": "VAPID subject",
    "files_url": "files URL",
    "max_file_bytes": "largest file",
    "user_quota_bytes": "user quota",
}


def _parse(setting: Setting, text: str, source: str) -> Any:
    """`text` parsed for `setting`, or a `ConfigError` that says which setting (the flag
    or variable it came from, `source`), what it expects, and what it got."""
    try:
        return setting.parse(text)
    except ValueError as error:
        expected, *details = (str(arg) for arg in error.args)
        noun = _NOUNS.get(setting.field, setting.field.replace("_", " ").replace("url", "URL"))
        got = "" if setting.field in _NOT_ECHOED else f", not {text!r}"
        why = "".join(f" ({detail})" for detail in details)
        raise ConfigError(f"{source}: the {noun} {expected}{got}{why}") from None


def _validated(config: Config) -> Config:
    if config.max_text_chars > config.max_frame_bytes:
        raise ConfigError(
            f"CHAT_MAX_TEXT ({config.max_text_chars}) must not exceed "
            f"CHAT_MAX_FRAME ({config.max_frame_bytes})"
        )
    if config.retention_days is not None and not 1 <= config.retention_days <= MAX_RETENTION_DAYS:
        raise ConfigError(f"CHAT_RETENTION_DAYS must be from 1 to {MAX_RETENTION_DAYS}")
    if config.workers > 1 and not config.is_postgres:
        raise ConfigError(f"--workers {config.workers}: {ONE_INSTANCE_ON_SQLITE}")
    if config.bus_url is not None and not config.is_postgres:
        raise ConfigError(f"CHAT_BUS_URL connects several instances: {ONE_INSTANCE_ON_SQLITE}")
    return config


def to_environ(config: Config) -> dict[str, str]:
    """Every setting of `config` as ``CHAT_*`` variables: what `load` would read back
    into an equal configuration (how `chat serve --workers` configures its workers)."""
    environ = {}
    for setting in SETTINGS:
        value = getattr(config, setting.field)
        if value is None:
            text = ""
        elif isinstance(value, tuple):
            text = ",".join(value)
        else:
            text = str(value)
        environ[setting.env] = text
    return environ


#: The settings a command that only opens the database uses (`chat migrate`, `chat user`).
DATABASE_SETTINGS = frozenset({"database_url", "data_dir", "log_level"})
#: ...and one that also hashes passwords (`chat user add`, `chat user passwd`).
PASSWORD_SETTINGS = DATABASE_SETTINGS | {"bcrypt_cost"}


class _SettingsHelpFormatter(argparse.HelpFormatter):
    """Fills each line of a description or epilog as a paragraph of its own, so the list
    of environment-only settings keeps one setting per paragraph."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(
            textwrap.fill(
                " ".join(line.split()),
                width,
                initial_indent=indent,
                subsequent_indent=indent + "    ",
            )
            for line in text.splitlines()
        )


def add_flags(parser: argparse.ArgumentParser, only: Collection[str] | None = None) -> None:
    """Add a flag for every setting that has one, or for those of them whose fields are
    in `only`, and list the settings without a flag after the options. Values stay
    strings until `load`, which reads every setting it has no flag for from the
    environment, as usual."""
    chosen = [setting for setting in SETTINGS if only is None or setting.field in only]
    for setting in chosen:
        if setting.flag is not None:
            parser.add_argument(
                setting.flag,
                dest=setting.field,
                default=None,
                metavar=setting.env,
                help=f"{setting.help} (env {setting.env}, default {setting.default})",
            )
    unflagged = [setting for setting in chosen if setting.flag is None]
    if unflagged:
        parser.formatter_class = _SettingsHelpFormatter
        parser.epilog = "\n".join(
            ["settings read from the environment only:"]
            + [f"{s.env}: {s.help} (default {s.default})" for s in unflagged]
        )


def load(
    environ: Mapping[str, str] | None = None, flags: argparse.Namespace | None = None
) -> Config:
    """Build the configuration: flags over environment over defaults."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        flag_value = getattr(flags, setting.field, None) if flags is not None else None
        if flag_value is not None:
            values[setting.field] = _parse(setting, flag_value, setting.flag or setting.env)
        elif setting.env in environ:
            values[setting.field] = _parse(setting, environ[setting.env], setting.env)
    return _validated(Config(**values))
