"""Every setting, declared once: its `chat.core.config.Config` field, environment variable,
flag (if it has one), parser and help. The flags, the variables and the README's table all
come from `SETTINGS`, so they cannot drift apart; `chat.core.config` reads them."""

from __future__ import annotations

from pathlib import Path

from chat.core import setting_values as value
from chat.core.setting_values import (
    Setting as Setting,  # re-exported: chat.core.config reads it here
)
from chat.core.settings_accounts import REGISTRATION
from chat.core.settings_email import EMAIL
from chat.core.settings_features import LIMITS_AND_FEATURES

#: Serving, accounts, storage, the cluster and the server's own limits.
_SERVING: tuple[Setting, ...] = (
    Setting("host", "CHAT_HOST", "--host", str, "Address to listen on."),
    Setting(
        "port",
        "CHAT_PORT",
        "--port",
        value.port,
        "TCP port for HTTP and WebSocket together (0 picks a free one).",
    ),
    Setting(
        "database_url",
        "CHAT_DATABASE_URL",
        "--database-url",
        value.database_url,
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
        value.secret,
        "HS256 signing key (32+ bytes). Unset: generated once, into the data directory "
        "(SQLite) or into the database, shared by every instance (PostgreSQL).",
    ),
    Setting("token_ttl", "CHAT_TOKEN_TTL", None, value.positive_int, "Token lifetime in seconds."),
    Setting(
        "session_token_ttl",
        "CHAT_SESSION_TOKEN_TTL",
        None,
        value.positive_int,
        "Lifetime in seconds of the token a browser session's refresh hands out (kept in the "
        "page's memory only; the page refreshes before it expires).",
    ),
    Setting(
        "session_idle",
        "CHAT_SESSION_IDLE",
        None,
        value.positive_int,
        'Seconds a browser session without "keep me signed in" lasts unused (its cookie '
        "also ends with the browser).",
    ),
    Setting(
        "session_remember",
        "CHAT_SESSION_REMEMBER",
        None,
        value.positive_int,
        'Seconds a "keep me signed in" browser session lasts unused (every refresh '
        "starts it again); its cookie survives browser restarts.",
    ),
    Setting(
        "require_2fa",
        "CHAT_REQUIRE_2FA",
        None,
        value.switch,
        "`on`: every person must have two-factor authentication (TOTP) on; one who has not "
        "may still log in, but their token or session serves only turning it on "
        "(`/me/2fa`) and logging out until they do (403 otherwise).",
    ),
    Setting(
        "revocation_sweep",
        "CHAT_REVOCATION_SWEEP",
        None,
        value.positive_float,
        "Seconds between checks that every open WebSocket session's token is still valid: "
        "the longest a session outlives a password change or logout-everywhere made on "
        "another instance if the bus loses the news.",
    ),
    Setting(
        "presence_timeout",
        "CHAT_PRESENCE_TIMEOUT",
        None,
        value.positive_float,
        "Seconds without word from another instance after which its users are taken "
        "offline (and out of their rooms) on this one: how long a dead instance's users "
        "still look online. Instances send their state every third of it (at most 10 s).",
    ),
    Setting(
        "bcrypt_cost",
        "CHAT_BCRYPT_COST",
        None,
        value.bcrypt_cost,
        "bcrypt work factor for new password hashes (4-31).",
    ),
    Setting(
        "max_text_chars",
        "CHAT_MAX_TEXT",
        None,
        value.positive_int,
        "Longest chat message text, in characters.",
    ),
    Setting(
        "edit_window",
        "CHAT_EDIT_WINDOW",
        None,
        value.seconds_or_unlimited,
        "Seconds after sending that a message may still be edited by its author. Unset: any time.",
    ),
    Setting(
        "retention_days",
        "CHAT_RETENTION_DAYS",
        None,
        value.retention_days,
        "Days messages are kept, from 1 to 36500; older ones are deleted (as rows, with their "
        "reactions, edits and files), in every room. Unset: kept forever. A room's owners may "
        "set a shorter retention for their room (RetentionDays), never a longer one.",
    ),
    Setting(
        "retention_period",
        "CHAT_RETENTION_PERIOD",
        None,
        value.positive_float,
        "Seconds between two passes of the task that deletes expired messages (one instance "
        "of a cluster at a time does it).",
    ),
    Setting(
        "max_frame_bytes",
        "CHAT_MAX_FRAME",
        None,
        value.positive_int,
        "Largest WebSocket message accepted; bigger ones close the connection with 1009.",
    ),
    Setting(
        "max_body_bytes",
        "CHAT_MAX_BODY",
        None,
        value.positive_int,
        "Largest HTTP request body accepted (413 above it).",
    ),
    Setting(
        "client_queue",
        "CHAT_CLIENT_QUEUE",
        None,
        value.positive_int,
        "Frames queued for one WebSocket client before it is disconnected as a slow "
        "consumer (close code 1008).",
    ),
    Setting(
        "write_timeout",
        "CHAT_WRITE_TIMEOUT",
        None,
        value.positive_float,
        "Seconds one write to a client may take before the client is dropped: a "
        "WebSocket frame, or each 16 KiB of an HTTP response (a download, an export).",
    ),
    Setting(
        "close_timeout",
        "CHAT_CLOSE_TIMEOUT",
        None,
        value.positive_float,
        "Seconds to wait for a WebSocket close handshake.",
    ),
    Setting(
        "shutdown_timeout",
        "CHAT_SHUTDOWN_TIMEOUT",
        None,
        value.positive_float,
        "Seconds in-flight HTTP requests get to finish on shutdown.",
    ),
    Setting(
        "drain_seconds",
        "CHAT_DRAIN_SECONDS",
        None,
        value.non_negative_float,
        "Seconds to keep serving after SIGTERM, with /readyz answering 503, new WebSockets"
        " refused (503) and open ones closed with 1012, before shutting down (0: none; behind"
        " a load balancer, at least its health-check interval).",
    ),
    Setting(
        "db_pool_size",
        "CHAT_DB_POOL_SIZE",
        None,
        value.positive_int,
        "Database connections (PostgreSQL pool size; SQLite worker connections).",
    ),
    Setting(
        "allowed_origins",
        "CHAT_ALLOWED_ORIGINS",
        None,
        value.origins,
        "Comma-separated origins (`https://chat.example.com`) whose pages may open "
        "WebSockets besides the server's own; `*` allows any. Clients that send no "
        "Origin header (not browsers) are always allowed.",
    ),
    Setting(
        "log_level",
        "CHAT_LOG_LEVEL",
        "--log-level",
        value.log_level,
        "DEBUG, INFO, WARNING, ERROR or CRITICAL.",
    ),
    Setting(
        "log_format",
        "CHAT_LOG_FORMAT",
        "--log-format",
        value.log_format,
        "`text` (readable lines) or `json` (one JSON object per line, for log collectors).",
    ),
    Setting(
        "bus_url",
        "CHAT_BUS_URL",
        "--bus-url",
        value.bus_url,
        "How instances on one PostgreSQL database tell each other about new messages: "
        "unset, PostgreSQL's own LISTEN/NOTIFY; `redis://host:port/db`, Redis pub/sub "
        "(`pip install '.[redis]'`). SQLite serves one instance and takes none.",
    ),
    Setting(
        "bus_carry",
        "CHAT_BUS_CARRY",
        None,
        value.switch,
        "`on` (the default): each instance sends the messages and changes it commits to "
        "the others it hears (none: nothing is sent), and reads the table only for a gap "
        "the bus did not fill; "
        "`off`: the bus only wakes the others, which read every message from the table "
        "(each wake-up then costs every instance a query; for diagnosis and tests).",
    ),
    Setting(
        "shared_reads",
        "CHAT_SHARED_READS",
        None,
        value.switch,
        "`on` (the default): identical resumes and `history` requests in flight at once "
        "are read once and shared (after a reconnection "
        "storm, a room's clients all resume from the same message); `off`: each is a "
        "query of its own (to measure what sharing saves: bench/reconnect_storm.py).",
    ),
    Setting(
        "history_cache_mb",
        "CHAT_HISTORY_CACHE_MB",
        None,
        value.history_cache_mb,
        "MiB each instance may spend keeping the newest messages (up to 200) of the rooms "
        "asked about lately, to answer `history`, `/ws` resumes and the first page of "
        "`GET /messages` without the database (the least recently asked-about rooms "
        "are dropped first); `0`: every answer is read from the database.",
    ),
    Setting(
        "gather_ms",
        "CHAT_GATHER_MS",
        None,
        value.gather_ms,
        "Milliseconds (0-100) a message may wait for others to join it, at two places: "
        "an idle instance holds a message for the window before committing it while "
        "messages arrive fast enough that one more is expected within it, and fan-out "
        "steps (a write to each receiving connection) start at least this far apart. "
        "At a few hundred messages a second and up: fewer commits and fewer, larger "
        "writes, for at most about this much latency; a quiet room's message waits for "
        "neither. `0`: no waiting. Unset: 5, or, under a CPU quota of less than one CPU "
        "(a container's limit, read from the cgroup), 5 divided by the quota, at most 25 "
        "(0.3 CPU: 16.7).",
    ),
    Setting(
        "workers",
        "CHAT_WORKERS",
        "--workers",
        value.positive_int,
        "Server processes sharing the port (SO_REUSEPORT), each a member of the cluster; "
        "more than 1 needs PostgreSQL.",
    ),
    Setting(
        "public_url",
        "CHAT_PUBLIC_URL",
        None,
        value.public_url,
        "The URL people open (`https://chat.example.com`): its host is one of the server's "
        "names, and pages from it may open WebSockets.",
    ),
    Setting(
        "allowed_hosts",
        "CHAT_ALLOWED_HOSTS",
        None,
        value.host_names,
        "Comma-separated host names the server answers to besides the loopback names, its "
        "bound address and `CHAT_PUBLIC_URL`'s host (`.example.com` also matches its "
        "subdomains; `*` any). Other Host headers get 400 (DNS rebinding).",
    ),
    Setting(
        "trusted_proxies",
        "CHAT_TRUSTED_PROXIES",
        None,
        value.networks,
        "Comma-separated addresses or networks of proxies whose `X-Forwarded-For` names the "
        "client (for rate limits and connection caps); from anyone else it is ignored.",
    ),
    Setting(
        "ipv6_prefix",
        "CHAT_IPV6_PREFIX",
        None,
        value.ipv6_prefix,
        "Prefix length by which IPv6 clients are counted for rate limits and connection caps "
        "(64: one LAN, whose hosts may take any of its addresses; 128: each address alone). "
        "IPv4 clients are counted by address.",
    ),
    Setting(
        "body_timeout",
        "CHAT_BODY_TIMEOUT",
        None,
        value.positive_float,
        "Seconds a request body may take to arrive (408 after that).",
    ),
    Setting(
        "max_connections_per_address",
        "CHAT_MAX_CONNECTIONS_PER_ADDRESS",
        None,
        value.positive_int,
        "Open connections (HTTP and WebSocket) one client address may hold; more get 429.",
    ),
    Setting(
        "max_handshakes",
        "CHAT_MAX_HANDSHAKES",
        None,
        value.non_negative_int,
        "WebSocket handshakes one instance works on at once (fewer while they take over "
        "2 s on average: a CPU not keeping up); more get 503 with Retry-After at once, so "
        "that a crowd reconnecting together is let in at full speed instead of timing "
        "out (0: no bound).",
    ),
    Setting(
        "bcrypt_queue",
        "CHAT_BCRYPT_QUEUE",
        None,
        value.positive_int,
        "Password checks that may wait for a bcrypt thread (at cost 12, about 2 s of work); "
        "one client address may hold a quarter of them, unknown names half; more get 503 "
        "with Retry-After.",
    ),
)

#: Every setting, in the order the flags' help and the README's table show them.
SETTINGS: tuple[Setting, ...] = _SERVING + REGISTRATION + LIMITS_AND_FEATURES + EMAIL
