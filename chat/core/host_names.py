"""The server's own names: which Host headers it answers, and which pages are its own.

A DNS-rebinding attack points a name the attacker owns (``evil.example``) at the
server's address; the victim's browser then sends the server requests with
``Host: evil.example`` from the attacker's page, as if they were same-origin. Like
Django's ALLOWED_HOSTS, every request (HTTP and WebSocket) whose Host is not one of the
server's names is refused with 400, and a WebSocket's Origin is compared with those names,
never with whatever Host the request claims.

The names: the loopback names (``localhost`` and its subdomains, ``127.0.0.1``, ``::1``),
the address the server is bound to (every IP address, when it is bound to all of them:
an IP literal cannot be rebound), ``CHAT_PUBLIC_URL``'s host and ``CHAT_ALLOWED_HOSTS``.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from chat.core.config import Config

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_WILDCARD_ADDRESSES = frozenset({"", "0.0.0.0", "::"})


def host_name(host: str) -> str:
    """The name in a Host header value, without the port, lower-cased, without the one
    final dot a fully qualified name may have."""
    host = host.strip().lower()
    if host.startswith("["):  # [v6]:port
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        host = host.partition(":")[0]
    return host.removesuffix(".")


_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")


def _is_dns_name(name: str) -> bool:
    """True for a syntactically valid DNS name (ASCII labels of 1-63 characters): the
    only kind a browser sends, and the only kind the HTTP libraries can encode."""
    return len(name) <= 253 and all(_LABEL.fullmatch(label) for label in name.split("."))


def host_refusal(host: str | None) -> str:
    """The error for a request whose Host is not one of the server's names."""
    if not host:
        return "the request has no Host header (or more than one)"
    return (
        f"host {host[:100]!r} is not one of this server's names "
        "(the operator can add it to CHAT_ALLOWED_HOSTS)"
    )


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostPolicy:
    """Decides whether a Host header names this server, and whether an Origin is its own."""

    def __init__(self, config: Config) -> None:
        names = set(LOOPBACK_NAMES)
        suffixes = {".localhost"}
        bound = config.host.strip("[]").lower()
        self._any_ip = bound in _WILDCARD_ADDRESSES
        if not self._any_ip:
            names.add(bound)
        self._public_origin: str | None = None
        if config.public_url is not None:
            public = urlsplit(config.public_url)
            names.add(host_name(public.netloc))
            self._public_origin = f"{public.scheme}://{public.netloc}".lower()
        for name in config.allowed_hosts:
            (suffixes if name.startswith(".") else names).add(name.strip("[]"))
        self._any_name = "*" in names
        self._names = frozenset(names)
        self._suffixes = tuple(suffixes)
        self._allowed_origins = frozenset(config.allowed_origins)

    def allows(self, host: str | None) -> bool:
        """True if `host` (a Host header value) is one of the server's names."""
        if not host:
            return False
        if self._any_name:
            return True
        name = host_name(host)
        if not (_is_dns_name(name) or _is_ip(name)):
            return False
        if name in self._names:
            return True
        if any(name.endswith(suffix) or name == suffix[1:] for suffix in self._suffixes):
            return True
        return self._any_ip and _is_ip(name)

    def origin_allowed(self, origin: str | None, host: str | None) -> bool:
        """Cross-site WebSocket hijacking guard: may a page from `origin` open a WebSocket
        to this server, in a request whose Host header is `host`?

        A browser attaches the page's origin to every WebSocket it opens. Clients that send
        none are not browsers and have no page to be tricked by. Otherwise the page must
        come from an origin the operator allowed, the public URL, or the very host the
        socket goes to, provided that host is one of the server's own names. (Schemes are
        not compared in that last case: behind a TLS-terminating proxy the page is https
        and the hop to us is plain.)
        """
        if origin is None:
            return True
        origin = origin.strip().rstrip("/").lower()
        if "*" in self._allowed_origins or origin in self._allowed_origins:
            return True
        if origin == self._public_origin:
            return True
        return (
            host is not None
            and self.allows(host)
            and urlsplit(origin).netloc == host.strip().lower()
        )

    def same_origin(self, origin: str | None, host: str | None) -> bool:
        """Is `origin` (an Origin header value) this very site, as a request authenticated
        by the session cookie must come from (`chat.http.sessions`, `chat.ws.server`)?
        Stricter than `origin_allowed`: the public URL's origin, or the origin of the host
        the request went to (one of the server's names); never CHAT_ALLOWED_ORIGINS, which
        lets other sites' pages open WebSockets with tokens of their own, not cookies."""
        if origin is None:
            return False
        origin = origin.strip().rstrip("/").lower()
        if origin == self._public_origin:
            return True
        parts = urlsplit(origin)
        return (
            parts.scheme in ("http", "https")
            and host is not None
            and self.allows(host)
            and parts.netloc == host.strip().lower()
        )
