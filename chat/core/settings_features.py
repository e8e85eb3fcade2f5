"""The settings of rate limits and of the optional features (metrics, Web Push, files,
exports, allocation tracing): the second half of `chat.core.settings.SETTINGS`, in the
order the README's table shows them."""

from __future__ import annotations

from chat.core import setting_values as value
from chat.core.setting_values import Setting

LIMITS_AND_FEATURES: tuple[Setting, ...] = (
    Setting(
        "rate_limits",
        "CHAT_RATE_LIMITS",
        None,
        value.switch,
        "`off` turns every rate limit (per address, account and user, and each connection's "
        "frame limits and history budget) and the per-address connection cap off "
        "(benchmarks, load tests).",
    ),
    Setting(
        "rate_login",
        "CHAT_RATE_LOGIN",
        None,
        value.rate,
        "Login attempts (every route that issues a token) per client address.",
    ),
    Setting(
        "rate_login_failures",
        "CHAT_RATE_LOGIN_FAILURES",
        None,
        value.rate,
        "Failed logins per account and client address; past it that address gets 429 for "
        "that account only.",
    ),
    Setting(
        "rate_account_failures",
        "CHAT_RATE_ACCOUNT_FAILURES",
        None,
        value.rate,
        "Failed logins per account from all addresses; past it, addresses that never logged "
        "in to it get one attempt every 5 seconds (the owner's known addresses are not slowed).",
    ),
    Setting(
        "rate_register",
        "CHAT_RATE_REGISTER",
        None,
        value.rate,
        "Registrations per client address.",
    ),
    Setting(
        "rate_messages",
        "CHAT_RATE_MESSAGES",
        None,
        value.rate,
        "Chat messages per user, over all their connections and every instance.",
    ),
    Setting(
        "rate_connections",
        "CHAT_RATE_CONNECTIONS",
        None,
        value.rate,
        "WebSocket connections opened per client address.",
    ),
    Setting(
        "trusted_networks",
        "CHAT_TRUSTED_NETWORKS",
        None,
        value.trusted_networks,
        "Comma-separated client networks in CIDR notation (an office behind NAT: "
        "`203.0.113.7/32`) whose people share a larger budget: there, "
        "`CHAT_RATE_CONNECTIONS` counts each user and `CHAT_RATE_LOGIN` each address and "
        "account, and each network as a whole is held to `CHAT_TRUSTED_NETWORK_MULTIPLIER` "
        "times those limits.",
    ),
    Setting(
        "trusted_network_multiplier",
        "CHAT_TRUSTED_NETWORK_MULTIPLIER",
        None,
        value.trusted_network_multiplier,
        "How many addresses' worth of connections and logins one trusted network may use "
        "in all (1 to 1000): its ceiling is this times `CHAT_RATE_CONNECTIONS` and "
        "`CHAT_RATE_LOGIN`; an address in it may hold this times "
        "`CHAT_MAX_CONNECTIONS_PER_ADDRESS` open.",
    ),
    Setting(
        "rate_rooms",
        "CHAT_RATE_ROOMS",
        None,
        value.rate,
        "Group rooms a user creates (`POST /create-room`), over every instance.",
    ),
    Setting(
        "rate_invites",
        "CHAT_RATE_INVITES",
        None,
        value.rate,
        "Invitations a user makes (`PUT /invite`) and direct conversations they open with "
        "someone new (a first direct message, `GET /dm/{UID}`), over every instance.",
    ),
    Setting(
        "rate_room_changes",
        "CHAT_RATE_ROOM_CHANGES",
        None,
        value.frame_rate,
        "Rooms entered or left (`enter` frames, resumes included) per WebSocket connection.",
    ),
    Setting(
        "rate_read_markers",
        "CHAT_RATE_READ_MARKERS",
        None,
        value.frame_rate,
        "`read` frames per WebSocket connection.",
    ),
    Setting(
        "rate_history",
        "CHAT_RATE_HISTORY",
        None,
        value.frame_rate,
        "History requests (`history N`, resumes, pages entered with) per WebSocket connection.",
    ),
    Setting(
        "rate_history_bytes",
        "CHAT_RATE_HISTORY_BYTES",
        None,
        value.positive_int,
        "Bytes of history (`history N`, resumes, pages, support threads) one WebSocket "
        "connection is sent per minute; past it, history requests are refused until it has "
        "paid back.",
    ),
    Setting(
        "rate_pings",
        "CHAT_RATE_PINGS",
        None,
        value.frame_rate,
        "Pings (the `ping` text frame and WebSocket ping frames) per WebSocket connection.",
    ),
    Setting(
        "metrics_token",
        "CHAT_METRICS_TOKEN",
        None,
        value.metrics_token,
        "Bearer token `GET /metrics` requires. Unset: the metrics are open; set it, or "
        "block `/metrics` at the proxy, when the port is public.",
    ),
    Setting(
        "push_hosts",
        "CHAT_PUSH_HOSTS",
        None,
        value.push_hosts,
        "Comma-separated push services (host, `host:port`, or `.example.com` for its "
        "subdomains) whose endpoints browsers may register for Web Push; https only, plain "
        "http only to a loopback `host:port` named here. Default: the browsers' push "
        "services.",
    ),
    Setting(
        "vapid_private_key",
        "CHAT_VAPID_PRIVATE_KEY",
        None,
        value.vapid_private_key,
        "The P-256 private key Web Push is signed with (VAPID): base64url of its 32 bytes, "
        "base64url DER, or PEM. Unset: made once and kept in the database.",
    ),
    Setting(
        "vapid_subject",
        "CHAT_VAPID_SUBJECT",
        None,
        value.vapid_subject,
        "How push services reach the operator (VAPID `sub`): `mailto:` or `https://`. "
        "Unset: `CHAT_PUBLIC_URL` if https, else `mailto:postmaster@localhost`.",
    ),
    Setting(
        "files_url",
        "CHAT_FILES_URL",
        None,
        value.files_url,
        "Where uploaded files' bytes are kept: a directory (`/srv/chat-files` or "
        "`file:///srv/chat-files`, shared by instances that share it) or S3-compatible "
        "storage (`s3://bucket/prefix?endpoint=https://...`). Unset: `files` under the "
        "data directory.",
    ),
    Setting(
        "max_file_bytes",
        "CHAT_MAX_FILE_SIZE",
        None,
        value.byte_size,
        "Largest file one upload may be (413 above it), in bytes or with a unit (25MiB).",
    ),
    Setting(
        "user_quota_bytes",
        "CHAT_USER_QUOTA",
        None,
        value.byte_size,
        "How many bytes of files one user may keep (413 past it), in bytes or with a unit.",
    ),
    Setting(
        "rate_uploads",
        "CHAT_RATE_UPLOADS",
        None,
        value.rate,
        "File uploads per user (POST /files).",
    ),
    Setting(
        "rate_searches",
        "CHAT_RATE_SEARCHES",
        None,
        value.rate,
        "Searches per user (GET /search), over every instance.",
    ),
    Setting(
        "rate_reports",
        "CHAT_RATE_REPORTS",
        None,
        value.rate,
        "Reports of messages per user (POST /reports), over every instance.",
    ),
    Setting(
        "rate_exports",
        "CHAT_RATE_EXPORTS",
        None,
        value.rate,
        "Exports of a user's data per user (GET /me/export), over every instance.",
    ),
    Setting(
        "exports_at_once",
        "CHAT_EXPORTS_AT_ONCE",
        None,
        value.positive_int,
        "How many exports of users' data (GET /me/export) one instance streams at once"
        " (503 past it).",
    ),
    Setting(
        "max_bots_per_user",
        "CHAT_MAX_BOTS_PER_USER",
        None,
        value.non_negative_int,
        "The most bot accounts one user may have (POST /bots; 0: none). Operators see and"
        " may delete everyone's.",
    ),
    Setting(
        "webhook_hosts",
        "CHAT_WEBHOOK_HOSTS",
        None,
        value.private_hosts,
        "Comma-separated `host:port` entries that outgoing webhooks and slash commands may"
        " be sent to although their address is private (loopback, 10/8, 192.168/16,"
        " link-local...). Public addresses need no entry; an unlisted private one is"
        " refused, checked on the address the name resolves to when connecting.",
    ),
    Setting(
        "webhook_timeout",
        "CHAT_WEBHOOK_TIMEOUT",
        None,
        value.positive_float,
        "Seconds one attempt of an outgoing webhook or slash command may take (connecting,"
        " sending, the answer); a command that times out is not tried again and its caller"
        " is told.",
    ),
    Setting(
        "link_previews",
        "CHAT_LINK_PREVIEWS",
        None,
        value.switch,
        "`off`: links in messages are not fetched for previews (each room may also turn them off).",
    ),
    Setting(
        "link_preview_hosts",
        "CHAT_LINK_PREVIEW_HOSTS",
        None,
        value.private_hosts,
        "Comma-separated `host:port` entries whose pages may be fetched for link previews"
        " although their address is private (an intranet). An unlisted private address is"
        " never fetched.",
    ),
    Setting(
        "rate_incoming_webhooks",
        "CHAT_RATE_INCOMING_WEBHOOKS",
        None,
        value.rate,
        "Posts to one incoming webhook's address (POST /hooks/...), over every instance.",
    ),
    Setting(
        "oidc_providers",
        "CHAT_OIDC_PROVIDERS",
        None,
        value.oidc_providers,
        "Single sign-on with OpenID Connect: a JSON list of"
        ' `{"Name", "Issuer", "ClientID", "ClientSecret", "UsernameClaim"?}` objects, one per'
        " provider (`UsernameClaim`: the claim a new account's name is made from,"
        " `preferred_username` unless said). Register `<public URL>/oidc/<Name>/callback` as"
        " the redirect URI at each provider (docs/DEPLOYMENT.md, Single sign-on).",
    ),
    Setting(
        "sso_only",
        "CHAT_SSO_ONLY",
        None,
        value.switch,
        "`on`: people sign in through `CHAT_OIDC_PROVIDERS` only; password logins and"
        " registrations answer 403 (`chat user` commands still work).",
    ),
    Setting(
        "tracemalloc_dir",
        "CHAT_TRACEMALLOC",
        None,
        value.optional_path,
        "A directory: `chat serve` traces its allocations (Python's tracemalloc, which"
        " slows it and costs memory) and writes a snapshot there on each SIGUSR2, for"
        " finding what holds memory (bench/soak.py). Unset: no tracing.",
    ),
)
