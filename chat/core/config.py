"""Configuration: one frozen `Config`, built from command-line flags and ``CHAT_*`` variables.

This is the only module that reads the environment. Every setting is declared once, in
`chat.core.settings.SETTINGS` (its parser in `chat.core.setting_values`); the command-line
flags, the environment variable names and the README's table all come from that list, so
they cannot drift apart. Flags win over the environment, which wins over the defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import textwrap
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chat.core.oidc import OidcProvider, parse_providers
from chat.core.push_hosts import BROWSER_PUSH_SERVICES
from chat.core.setting_values import MAX_RETENTION_DAYS
from chat.core.settings import SETTINGS, Setting
from chat.core.trusted_networks import TrustedNetworks

__all__ = [
    "DATABASE_SETTINGS",
    "MAX_RETENTION_DAYS",
    "ONE_INSTANCE_ON_SQLITE",
    "PASSWORD_SETTINGS",
    "SETTINGS",
    "Config",
    "ConfigError",
    "Setting",
    "add_flags",
    "default",
    "load",
    "to_environ",
]


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
    #: Browser sessions (`chat.app.accounts.sessions`): the access token a refresh hands out, and
    # how : long a session lasts unused, without and with "keep me signed in" (seconds).
    session_token_ttl: int = 15 * 60
    session_idle: int = 24 * 3600
    session_remember: int = 30 * 24 * 3600
    #: Whether every person must have a second factor (`chat.app.accounts.two_factor`).
    require_2fa: bool = False
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
    #: (`chat.server.drain`); 0: none, the shutdown begins at once.
    drain_seconds: float = 0.0
    db_pool_size: int = 10
    allowed_origins: tuple[str, ...] = ()
    log_level: str = "INFO"
    log_format: str = "text"
    bus_url: str | None = None
    #: Whether committed messages and changes travel on the bus; off, every
    #: instance reads every other's from the table (`chat.bus.carrier`).
    bus_carry: bool = True
    #: Whether identical resumes and history reads in flight at once are read once
    #: (`chat.app.reads.single_flight`); off, each is a query of its own (to measure what it saves).
    shared_reads: bool = True
    #: MiB the newest messages of active rooms may take in memory (`chat.app.history.from_memory`);
    #: 0: history, resumes and first pages are all read from the table.
    history_cache_mb: int = 64
    #: The gathering window (`chat.app.messages.gathering`); None: the default for the CPU
    #: this process may use (`chat.server.cpu_quota`).
    gather_ms: int | None = None
    workers: int = 1
    public_url: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    ipv6_prefix: int = 64
    body_timeout: float = 10.0
    max_connections_per_address: int = 256
    #: WebSocket handshakes in progress at once (`chat.net.admission`); 0: no bound.
    max_handshakes: int = 2048
    bcrypt_queue: int = 16
    #: Who may register (`chat.core.invites.RegistrationPolicy`): open, invite or closed;
    #: the e-mail domains a registration without an invite needs; whether members make invites.
    registration: str = "open"
    registration_email_domains: tuple[str, ...] = ()
    member_invites: bool = False
    rate_limits: bool = True
    rate_login: str = "20/minute;200/hour"
    rate_login_failures: str = "5 per 15 minutes"
    rate_account_failures: str = "50/hour"
    rate_register: str = "5/minute;20/hour"
    rate_messages: str = "10/second;120/minute"
    rate_connections: str = "60/minute"
    #: Client networks sharing a larger budget (`chat.core.trusted_networks`), and how
    #: many addresses' worth of connections and logins each may use in all.
    trusted_networks: tuple[str, ...] = ()
    trusted_network_multiplier: int = 20
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
    #: A user's data (`chat.app.accounts.data`): exports per user, and how many run at once
    #: on one instance.
    rate_exports: str = "3/hour;10/day"
    exports_at_once: int = 2
    #: Bot accounts (`chat.app.accounts.bots`): the most one user may have.
    max_bots_per_user: int = 10
    #: Requests to users' addresses (`chat.net.outbound`): the ``host:port`` entries
    #: webhooks and link previews may reach although their address is private.
    webhook_hosts: tuple[str, ...] = ()
    #: Seconds one attempt of an outgoing webhook or slash command may take.
    webhook_timeout: float = 5.0
    link_previews: bool = True
    link_preview_hosts: tuple[str, ...] = ()
    #: Incoming webhooks (`chat.app.rooms.webhooks`): posts to one webhook's address.
    rate_incoming_webhooks: str = "5/second;60/minute"
    #: Retention (`chat.app.messages.retention`): days messages are kept (None: forever; a room's
    #: owners may set fewer), and seconds between two passes of the task that deletes
    #: the expired ones.
    retention_days: int | None = None
    retention_period: float = 600.0
    #: Where `chat serve` writes tracemalloc snapshots when sent SIGUSR2
    #: (`chat.server.memory_snapshots`); None: allocations are not traced (the default).
    tracemalloc_dir: Path | None = None
    #: Single sign-on (`chat.app.accounts.oidc`): the providers' JSON as set (checked;
    #: `oidc` reads it), and whether passwords are off.
    oidc_providers: str = dataclasses.field(default="", repr=False)
    sso_only: bool = False
    #: E-mail (`chat.app.email`): the SMTP server (None: no e-mail), the From address,
    #: how long a mention or direct message stays unread before a digest mails it (0: no
    #: digests), and mails asked for per address and per client address.
    smtp_url: str | None = dataclasses.field(default=None, repr=False)
    smtp_from: str | None = None
    email_digest_seconds: int = 3600
    rate_emails: str = "5/hour;20/day"

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
    def oidc(self) -> tuple[OidcProvider, ...]:
        """The OpenID Providers people may sign in with (`CHAT_OIDC_PROVIDERS`)."""
        return parse_providers(self.oidc_providers)

    @property
    def sqlite_path(self) -> Path:
        """Where the embedded database lives when no database URL is configured."""
        return self.data_dir / "chat.sqlite3"

    def replace(self, **changes: Any) -> Config:
        """A copy with some settings changed (tests use this; values are re-validated)."""
        return _validated(dataclasses.replace(self, **changes))


def default(setting: Setting) -> Any:
    """The value `setting` has when neither a flag nor the environment sets it."""
    return Config.__dataclass_fields__[setting.field].default


#: Why several instances need PostgreSQL, in the words every refusal uses.
ONE_INSTANCE_ON_SQLITE = (
    "SQLite serves one instance; PostgreSQL serves several (set CHAT_DATABASE_URL=postgresql://...)"
)


#: Settings whose values an error message never repeats: they may hold a password.
_NOT_ECHOED = frozenset(
    {
        "jwt_secret",
        "database_url",
        "bus_url",
        "vapid_private_key",
        "files_url",
        "oidc_providers",
        "smtp_url",
    }
)

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
    "gather_ms": "gathering window",
    "jwt_secret": "JWT secret",
    "token_ttl": "token lifetime",
    "session_token_ttl": "session token lifetime",
    "session_idle": "session idle lifetime",
    "session_remember": "remembered session lifetime",
    "require_2fa": "two-factor requirement switch",
    "rate_login": "login rate limit",
    "rate_login_failures": "failed-login rate limit",
    "rate_account_failures": "per-account failed-login rate limit",
    "rate_register": "registration rate limit",
    "rate_messages": "message rate limit",
    "rate_connections": "connection rate limit",
    "trusted_network_multiplier": "trusted network multiplier",
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
    "smtp_url": "SMTP URL",
    "smtp_from": "From address",
    "email_digest_seconds": "digest delay",
    "rate_emails": "e-mail rate limit",
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
    narrower = TrustedNetworks(config.trusted_networks).narrower_than(config.ipv6_prefix)
    if narrower:
        raise ConfigError(
            f"CHAT_TRUSTED_NETWORKS: {', '.join(narrower)} is narrower than the /"
            f"{config.ipv6_prefix} IPv6 clients are counted by (CHAT_IPV6_PREFIX): widen it"
            " or lengthen the prefix"
        )
    if config.bus_url is not None and not config.is_postgres:
        raise ConfigError(f"CHAT_BUS_URL connects several instances: {ONE_INSTANCE_ON_SQLITE}")
    try:
        parse_providers(config.oidc_providers)
    except ValueError as error:
        raise ConfigError(f"CHAT_OIDC_PROVIDERS {error}") from None
    if config.sso_only and not config.oidc_providers:
        raise ConfigError("CHAT_SSO_ONLY=on needs CHAT_OIDC_PROVIDERS: nobody could sign in")
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
                help=f"{setting.help} (env {setting.env}, default {default(setting)})",
            )
    unflagged = [setting for setting in chosen if setting.flag is None]
    if unflagged:
        parser.formatter_class = _SettingsHelpFormatter
        parser.epilog = "\n".join(
            ["settings read from the environment only:"]
            + [f"{s.env}: {s.help} (default {default(s)})" for s in unflagged]
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
